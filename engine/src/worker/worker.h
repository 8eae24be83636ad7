// worker.h — the worker's loop: the thread that schedules transfers and runs
// them on one libcurl multi handle (one event loop, no thread per transfer).
//
// The loop schedules; drivers speak protocols (transfer_driver.h). Each turn
// it takes the changes calls reported (job_changed) and, every poll_interval
// or at once when the store's change_fd() (a PostgreSQL LISTEN socket) is
// readable, looks for commits of other processes (Store::change_counter()); drops the
// transfers those changes made stale; sends the Cancel-Sessions the outbox
// holds; runs housekeeping and requeues jobs whose retry delay passed; claims
// runnable jobs by priority into free slots — when every slot is busy, first
// takes slots back from running jobs for better-priority ones (preemption) or
// for jobs of the same priority whose turn it is (time slices; the policy is
// worker/scheduler.h); lets libcurl move bytes; routes
// finished requests and flush results to their drivers; then sleeps until a
// socket, a call or a timer needs it.
//
// Only one worker per queue file transfers at a time: it holds the worker
// lock (fs/lock_file.h); a second one waits for it. The rules it keeps are in
// docs/architecture.md ("Invariants"): every write is conditional on the
// job's generation; a temp path is recorded before the file is created, and
// created inside a generation-checked transaction; bytes are fdatasync'ed
// before the count that claims them is committed. The worker never deletes
// or renames files: deletions and renames are the outbox's (outbox.h).
//
// Thread safety: start(), stop() and job_changed() may be called from any
// thread but the worker's own (stop() joins it). Everything else runs on the
// worker thread.
#ifndef XFERQ_WORKER_WORKER_H_
#define XFERQ_WORKER_WORKER_H_

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "fs/lock_file.h"
#include "fs/wake_socket.h"
#include "worker/bandwidth_manager.h"
#include "worker/cancel_session_driver.h"
#include "worker/flusher.h"
#include "worker/job_driver.h"
#include "worker/notifier.h"
#include "worker/transfer_driver.h"
#include "worker_handle.h"
#include "xferq/error.h"

namespace xferq::detail {

class Worker final : public TransferLoop, public WorkerHandle {
 public:
  explicit Worker(WorkerContext context);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // WorkerHandle (worker_handle.h states each call's contract).
  void start() override;
  bool serving() const override { return serving_.load(std::memory_order_acquire); }
  void stop() override;
  void job_changed(const std::string& job_id, int64_t generation, bool may_run) override;
  void time_slice_changed() override;
  std::error_code failure() override;

  // TransferLoop, for the drivers (worker thread).
  Store& store() override { return ctx_.store; }
  const QueueOptions& options() const override { return ctx_.options; }
  JobEvents& events() override { return ctx_.events; }
  void add_request(CurlRequest& request) override;
  void remove_request(CurlRequest& request) override;
  bool superseded(const std::string& job_id, int64_t generation, uint64_t* seen) override;
  void flush(Flusher::Request request) override;
  HashPool& hash_pool() override { return *hash_pool_; }
  bool store_failed(std::error_code error) override;
  void job_ended(const std::string& job_id, JobState state) override { notifier_.job_ended(job_id, state); }
  void progressed(const std::string& job_id, bool final) override { notifier_.progressed(job_id, final); }

 private:
  using Steady = std::chrono::steady_clock;

  void run();
  bool acquire_lock();
  void reopen_lost_files();
  void loop();
  bool take_changes(bool* may_run);
  void reconcile(const std::map<std::string, int64_t>& changed, bool everything);
  void run_timers();
  // Shared queues: keeps this host's claims alive (Store::renew_leases()).
  void renew_leases();
  void requeue_due();
  void schedule();
  // Every slot is busy: asks the scheduler (worker/scheduler.h) which running
  // jobs give their slot back, and takes those slots back.
  void rebalance();
  std::chrono::milliseconds time_slice() const;
  bool slots_full() const { return static_cast<int>(jobs_.size()) >= ctx_.options.max_concurrent_transfers; }
  void start_job(Claim claim);
  void perform();
  void dispatch_flush_results(bool shutting_down);
  void reap();
  void sleep();
  void shutdown();
  void wake();
  // Checks a store call's result: false (and the worker stopping) on a
  // failure that is not passing.
  template <typename T>
  bool ok(const Result<T>& r) {
    return r.ok() || store_failed(r.error());
  }
  bool ok(std::error_code ec) { return !ec || store_failed(ec); }

  WorkerContext ctx_;
  LockFile lock_;
  WakeListener wake_;                    // other processes' calls
  std::atomic<bool> serving_{false};
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> change_seq_{0};  // bumped by job_changed
  std::mutex mu_;  // guards changed_, changes_may_run_, multi_ (for wake-ups), the lock wait
  std::condition_variable cv_;
  std::map<std::string, int64_t> changed_;  // job id -> highest generation reported
  bool changes_may_run_ = false;
  CURLM* multi_ = nullptr;
  std::error_code failure_;        // guarded by mu_: why the worker stopped by itself
  bool dirty_ = true;              // worth looking for runnable jobs
  // A job may have become runnable, or a priority changed, since the last
  // rebalance(): with every slot busy, worth asking the scheduler.
  bool contended_ = true;
  std::atomic<bool> replan_{false};  // set by time_slice_changed()
  // When the earliest running job's time slice ends (max(): none will).
  Steady::time_point next_slice_end_ = Steady::time_point::max();
  std::map<std::string, Steady::time_point> slot_since_;  // job id -> when it got its slot
  Steady::time_point claim_not_before_{};  // after a busy claim, wait a poll interval
  int64_t next_retry_us_ = 0;      // when a retry is due; 0: look it up
  int64_t last_counter_ = 0;       // Store::change_counter() when last polled
  Steady::time_point next_counter_check_{};
  Steady::time_point next_housekeeping_{};
  Steady::time_point next_lease_renewal_{};  // shared queues: renew_leases()
  std::map<std::string, std::unique_ptr<JobDriver>> jobs_;
  CancelSessions cancels_{*this};
  BandwidthManager bandwidth_{ctx_.store, ctx_.options};  // shares of the bandwidth limits
  std::unique_ptr<Flusher> flusher_;  // exists while the worker runs
  std::unique_ptr<HashPool> hash_pool_;  // exists while the worker runs; outlives the drivers
  Notifier notifier_{*this};          // notify command lines, the progress throttle
};

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_WORKER_H_
