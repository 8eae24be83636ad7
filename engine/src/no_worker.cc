// no_worker.cc — make_worker() (worker_handle.h) in the control library: no
// worker, so no libcurl. The `xferq` command's front links this library to
// start in a few milliseconds; it runs only calls that need neither a worker
// nor a URL parser and hands every other command to the full one
// (bindings/cli/front.cc).
#include "worker_handle.h"

namespace xferq::detail {

std::unique_ptr<WorkerHandle> make_worker(WorkerContext) { return nullptr; }

}  // namespace xferq::detail
