// pg_unimplemented.cc — the Store calls the PostgreSQL backend does not do
// yet: upload jobs' session state. Each answers E_NOTIMPL and changes
// nothing, so an upload job on PostgreSQL fails visibly (the worker reports
// it) instead of pretending to run.
#include "storage/pg_store.h"
#include "xferq/error.h"

namespace xferq::detail {

Result<UploadJob> PgStore::upload_job(const std::string&) { return make_error_code(Errc::not_implemented); }

Result<WriteOutcome> PgStore::set_upload_session(const Claim&, int64_t, const std::string&, int64_t, int64_t) {
  return make_error_code(Errc::not_implemented);
}

Result<WriteOutcome> PgStore::set_reply_url(const Claim&, const std::string&, int64_t) {
  return make_error_code(Errc::not_implemented);
}

}  // namespace xferq::detail
