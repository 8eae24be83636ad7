// queue_core.h — what a Queue and its Job handles share: the store, the
// outbox, the callbacks and the worker; and the API's calls, each one
// validated here, decided in one store transaction, then followed by its
// effects (the outbox, waking the worker, the modified callback).
//
// Thread safety: every method may be called from any thread. A QueueCore
// lives as long as its Queue or any Job handle (shared_ptr).
#ifndef XFERQ_QUEUE_CORE_H_
#define XFERQ_QUEUE_CORE_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "job_events.h"
#include "outbox.h"
#include "storage/store.h"
#include "xferq/callbacks.h"
#include "xferq/job.h"
#include "xferq/options.h"
#include "xferq/queue.h"

namespace xferq::detail {

class WorkerHandle;

class QueueCore : public std::enable_shared_from_this<QueueCore> {
 public:
  // Opens the store and applies what a crashed process left in the outbox.
  static Result<std::shared_ptr<QueueCore>> open(const std::string& path, const QueueOptions& options);
  // Stops the worker, then the outbox's janitor.
  ~QueueCore();
  QueueCore(const QueueCore&) = delete;
  QueueCore& operator=(const QueueCore&) = delete;

  const std::string& path() const { return path_; }
  const QueueOptions& options() const { return options_; }
  Store& store() { return *store_; }

  Result<Job> create_job(std::string_view display_name, JobType type);
  Result<Job> get_job(std::string_view id);
  Result<std::vector<Job>> jobs(bool include_final);
  Job handle(const std::string& id) { return Job(shared_from_this(), id); }

  // The calls behind Job's methods.
  std::error_code add_files(const std::string& id, const std::vector<FileSpec>& files);
  std::error_code change_state(const std::string& id, Call call);
  std::error_code cancel(const std::string& id);
  std::error_code complete(const std::string& id, CompleteStatus* status);
  std::error_code set_property(const std::string& id, Property property, int64_t value,
                               std::string_view text);
  // set_validation_state(false): the store's decision, the worker woken,
  // the file's bytes deleted, modified and error fired.
  std::error_code invalidate_file(const std::string& id, int64_t idx);
  // For the calls of one job type only: {} if the job is of `type`,
  // E_NOTIMPL if of another (BITS's answer), the store's error otherwise.
  std::error_code require_type(const std::string& id, JobType type) {
    auto t = store_->job_type(id);
    if (!t) return t.error();
    return *t == type ? std::error_code() : make_error_code(Errc::not_implemented);
  }
  // After a setter's own store call: `ec` passed through; on success the
  // modified callback fires.
  std::error_code changed(const std::string& id, std::error_code ec) {
    if (!ec) events_.modified(id);
    return ec;
  }

  // Bandwidth: a queue-wide setting changed; this process's worker re-reads
  // it at once (another process's sees the commit at its next
  // change-counter poll, within its poll_interval).
  void bandwidth_settings_changed();
  // A job's own limit changed: its worker (here or in another process) is
  // told, as for any property.
  void job_bandwidth_changed(const std::string& id);

  // Expires inactive jobs (as by cancel()) and purges old final ones.
  Result<Queue::HousekeepingReport> housekeep();

  void set_callbacks(JobCallbacks callbacks) { events_.set_callbacks(std::move(callbacks)); }

  // Starts the worker thread (no-op if running); stop_worker() joins it.
  std::error_code start_worker();
  void stop_worker();
  // Why the running worker stopped by itself ({} if it did not).
  std::error_code worker_error();
  // Queue::set_time_slice / time_slice: the worker reads it every time it
  // schedules.
  std::error_code set_time_slice(std::chrono::milliseconds slice);
  std::chrono::milliseconds time_slice() const {
    return std::chrono::milliseconds(time_slice_ms_.load(std::memory_order_relaxed));
  }

 private:
  QueueCore(std::string path, const QueueOptions& options, std::unique_ptr<Store> store);
  void wake_worker(const std::string& id, int64_t generation, bool may_run);

  std::string path_;
  // Where the worker's lock and wake-up socket live (local_files_base(),
  // fixed at open: the host identity it depends on is read once).
  std::string local_base_;
  QueueOptions options_;
  std::unique_ptr<Store> store_;
  JobEvents events_;
  Outbox outbox_;
  std::atomic<int64_t> time_slice_ms_;  // starts as options_.time_slice
  std::mutex worker_mu_;
  std::unique_ptr<WorkerHandle> worker_;
  std::error_code no_worker_;  // start_worker() found no worker linked in
};

}  // namespace xferq::detail

#endif  // XFERQ_QUEUE_CORE_H_
