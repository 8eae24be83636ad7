// no_server_store.cc — open_server_store() (store.h) where there is no
// PostgreSQL backend: a library built with XFERQ_WITH_POSTGRESQL=OFF, and the
// control library the `xferq` command's front links (which hands server
// queues to the full command instead; bindings/cli/front.cc).
#include "storage/store.h"
#include "xferq/error.h"

namespace xferq::detail {

Result<std::unique_ptr<Store>> open_server_store(const std::string&, const QueueOptions&) {
  return make_error_code(Errc::not_implemented);
}

}  // namespace xferq::detail
