// worker_handle.h — what a queue needs of its worker, and the one function
// that makes one.
//
// QueueCore holds its worker through WorkerHandle and gets it from
// make_worker(), so that a program can be linked without the worker and so
// without libcurl: the `xferq` command's control front (bindings/cli), which
// must start in a few milliseconds, links the control library, whose
// make_worker() (no_worker.cc) returns null. The full library's
// make_worker() is in worker/worker.cc.
//
// Thread safety: start(), stop(), job_changed(), time_slice_changed() and
// failure() may be called from any thread but the worker's own (stop() joins
// it); serving() from any thread.
#ifndef XFERQ_WORKER_HANDLE_H_
#define XFERQ_WORKER_HANDLE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "xferq/options.h"

namespace xferq::detail {

class JobEvents;
class Outbox;
class Store;

// What the worker needs from the queue that runs it.
struct WorkerContext {
  Store& store;
  const QueueOptions& options;
  std::string lock_path;           // "<queue>-worker.lock"
  std::string wake_path;           // "<queue>-worker.sock" (fs/wake_socket.h)
  JobEvents& events;
  Outbox& outbox;                  // recovery at start
  std::function<void()> housekeep; // expiry and purge, every housekeeping_interval
  // The time slice in ms, which Queue::set_time_slice may change while the
  // worker runs; null: options.time_slice.
  const std::atomic<int64_t>* time_slice_ms = nullptr;
};

class WorkerHandle {
 public:
  // What a call's change did to the job's generation, for job_changed().
  static constexpr int64_t kGenerationUnknown = 0;    // look it up
  static constexpr int64_t kGenerationKept = -1;      // the call changed no state

  WorkerHandle() = default;
  virtual ~WorkerHandle() = default;
  WorkerHandle(const WorkerHandle&) = delete;
  WorkerHandle& operator=(const WorkerHandle&) = delete;

  // Starts the worker's thread.
  virtual void start() = 0;
  // Stops the loop and joins the thread: running transfers commit what is
  // durable and go back to QUEUED. Must not be called from the worker thread.
  virtual void stop() = 0;
  // True while this worker holds the queue's lock (and so serves it).
  virtual bool serving() const = 0;
  // A call changed this job and committed `generation` (or a kGeneration*
  // value). `may_run`: the change may make a job runnable (resume, add_file,
  // priority), so look for work too; a cancel, suspend or complete only has
  // to stop the job if it is running. Wakes the loop at once.
  virtual void job_changed(const std::string& job_id, int64_t generation, bool may_run) = 0;
  // The time slice changed (WorkerContext::time_slice_ms): plan again.
  virtual void time_slice_changed() = 0;
  // The error that stopped the worker by itself, or {}.
  virtual std::error_code failure() = 0;
};

// A worker for this context, not started; null where the program was linked
// without one (the control library), and Queue::start_worker() then fails.
std::unique_ptr<WorkerHandle> make_worker(WorkerContext context);

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_HANDLE_H_
