// pg_uploads.cc — the PostgreSQL backend's statements for upload and
// upload-reply jobs: the BITS session a job holds, its reply URL, and what
// the worker reads to run one (schema/postgresql/001: jobs.upload_session_id,
// reply_url, reply_file_name).
#include <pqxx/pqxx>

#include "storage/pg_sql.h"
#include "storage/pg_store.h"
#include "xferq/error.h"

namespace xferq::detail {

Result<UploadJob> PgStore::upload_job(const std::string& job_id) {
  return read_found<UploadJob>([&](Txn& tx) -> std::optional<UploadJob> {
    const pqxx::result r = tx.exec_params(
        "SELECT j.upload_session_id, j.reply_url, coalesce(j.reply_file_name, f.local_path || '.reply', '') "
        "FROM jobs j LEFT JOIN files f ON f.job_id = j.id AND f.idx = 0 WHERE j.id = $1",
        job_id);
    if (r.empty()) return std::nullopt;
    return UploadJob{pg::text_or_empty(r[0][0]), pg::text_or_empty(r[0][1]), pg::text_or_empty(r[0][2])};
  });
}

Result<WriteOutcome> PgStore::set_upload_session(const Claim& claim, int64_t idx, const std::string& session_id,
                                                 int64_t size, int64_t now_us) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](Txn& tx, WriteOutcome& outcome) -> std::error_code {
    if (!lock_current(tx, claim)) return {};
    tx.exec_params(
        "UPDATE jobs SET upload_session_id = nullif($2, ''), reply_url = NULL, modified_us = $3::bigint, "
        "lease_expires_us = $3::bigint + $4::bigint WHERE id = $1",
        claim.job_id, session_id, now_us, lease_us());
    // A new session starts at byte 0: nothing of it is acknowledged yet.
    tx.exec_params("UPDATE files SET bytes_transferred = 0, bytes_total = $3::bigint WHERE job_id = $1 AND idx = $2::bigint",
                   claim.job_id, idx, size);
    outcome = WriteOutcome::applied;
    return {};
  });
}

Result<WriteOutcome> PgStore::set_reply_url(const Claim& claim, const std::string& url, int64_t now_us) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](Txn& tx, WriteOutcome& outcome) -> std::error_code {
    if (!lock_current(tx, claim)) return {};
    tx.exec_params("UPDATE jobs SET reply_url = nullif($2, ''), modified_us = $3::bigint WHERE id = $1", claim.job_id,
                   url, now_us);
    outcome = WriteOutcome::applied;
    return {};
  });
}

}  // namespace xferq::detail
