// xferq/queue.h — a persistent queue of transfer jobs in one SQLite file.
//
// A Queue opens (or creates) the database, applies pending migrations and
// finishes the file operations a crashed process had recorded (the deletions
// of cancel(), the renames of complete()). Its worker thread carries out the
// transfers. When the worker starts it takes the queue file's worker lock
// ("<path>-worker.lock"; while another process's worker, or another Queue on
// the same file, holds it, it waits) and then puts the jobs a dead worker left
// CONNECTING / TRANSFERRING back to QUEUED. Several processes may open the same
// file; every process sees every change (docs/architecture.md).
//
// Lifetime: a Queue and every Job handle it hands out share one internal core
// (the database connection, the options, the callbacks): each Job holds a
// shared pointer to it. A live Job keeps the core alive after the Queue is
// destroyed, and its calls keep working against the database, but the worker
// stopped with the Queue: nothing transfers in this process until a Queue is
// opened again. The last owner to go closes the database (and, with
// QueueOptions::defer_cancel_deletes, first waits for the pending deletions).
//
// Stopping: stop_worker() and ~Queue() block until the worker thread has
// exited. The thread finishes what it is doing (a callback, a housekeeping
// pass, a database call waiting up to busy_timeout), waits for its in-flight
// fdatasyncs, fdatasyncs and commits the byte count of every running transfer
// and releases those jobs back to QUEUED (their bytes resume next time, with
// Range); Cancel-Session requests in flight are abandoned and stay in the
// outbox for the next worker. Neither may be called from a callback: on the
// worker thread it would join itself, std::thread::join throws
// std::system_error there, and the process ends in std::terminate.
#ifndef XFERQ_QUEUE_H_
#define XFERQ_QUEUE_H_

#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "xferq/bandwidth.h"
#include "xferq/callbacks.h"
#include "xferq/error.h"
#include "xferq/job.h"
#include "xferq/options.h"
#include "xferq/result.h"
#include "xferq/types.h"

namespace xferq {

// Thread safety: safe to call from any thread concurrently, without outside
// locking; only the destructor must not race with other calls on the same
// object. Calls in one process take turns on one SQLite connection.
class Queue {
 public:
  // Opens or creates the queue at `path` (its directory must exist), finishes
  // the file operations a crash left, and starts the worker unless
  // options.start_worker is false. Blocks on that work and on other processes'
  // locks (up to options.busy_timeout), never on the worker lock. Errors:
  // E_INVALIDARG (empty path, not a regular file), ERROR_PATH_NOT_FOUND,
  // E_ACCESSDENIED, XFERQ_E_DATABASE_CORRUPT (not an xferq queue, or damaged;
  // the file is left untouched), XFERQ_E_SCHEMA_TOO_NEW, XFERQ_E_BUSY,
  // XFERQ_E_DATABASE.
  static Result<std::unique_ptr<Queue>> open(const std::string& path,
                                             const QueueOptions& options = {});

  // Stops the worker as stop_worker() does (see "Stopping" above) and lets go
  // of the core; live Job handles keep it. Must not run in a callback.
  ~Queue();
  // Not copyable: own it through the unique_ptr that open() returns.
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Creates a job, SUSPENDED, with a new random GUID: a download (the default),
  // an UPLOAD or an UPLOAD_REPLY job (BITS upload protocol; one file each). One
  // transaction; no callback. E_INVALIDARG for an empty or non-UTF-8 name,
  // BG_E_STRING_TOO_LONG over 256 characters, E_NOTIMPL for an unknown type.
  Result<Job> create_job(std::string_view display_name, JobType type = JobType::download);

  // A handle on the job whose GUID is `id` (braces and case optional). Final
  // jobs are found until housekeeping purges them. BG_E_NOT_FOUND if `id` is
  // not a GUID or names no job. One read.
  Result<Job> get_job(std::string_view id);

  // Handles on the jobs in creation order: the active ones (not CANCELLED /
  // ACKNOWLEDGED), or all of them with include_final. One read.
  Result<std::vector<Job>> jobs(bool include_final = false);
  // Snapshots of the same jobs as jobs() returns, taken in one read.
  Result<std::vector<JobInfo>> job_infos(bool include_final = false);

  // What housekeep() did.
  // Thread safety: a plain value type; not synchronized.
  struct HousekeepingReport {
    size_t jobs_expired = 0;  // inactive jobs cancelled
    size_t jobs_purged = 0;   // final jobs' rows deleted
  };
  // Cancels every job neither final nor modified for job_inactivity_timeout (as
  // Job::cancel() does, modified callbacks on this thread), then purges the final
  // jobs older than final_job_retention whose file operations are done. The
  // worker does this at start and hourly; call it where no worker runs.
  Result<HousekeepingReport> housekeep();

  // ---- Bandwidth (xferq/bandwidth.h) -----------------------------------------
  // Stored in the queue file, so every process sees the same values and the
  // serving worker (in this process or another) applies a change to running
  // transfers within a second. Each setter is one transaction and changes
  // nothing on error; each getter is one read.

  // The queue-wide limit in bytes per second, 0 for none: shared by all
  // running transfers but FOREGROUND ones. E_INVALIDARG if negative or above
  // kMaxBandwidthLimit.
  std::error_code set_bandwidth_limit(int64_t bytes_per_sec);
  // The stored limit, or QueueOptions::bandwidth_limit while none was stored.
  // Outside the schedule's windows; see bandwidth_schedule().
  Result<int64_t> bandwidth_limit();
  // A cap on each transfer of `priority` (0: none), FOREGROUND included (its
  // transfers are otherwise unthrottled). E_NOTIMPL for a value outside
  // JobPriority, E_INVALIDARG for a bad limit.
  std::error_code set_priority_bandwidth_limit(JobPriority priority, int64_t bytes_per_sec);
  Result<int64_t> priority_bandwidth_limit(JobPriority priority);
  // Replaces the schedule (empty: none). In a window's hours its limit is the
  // queue-wide limit; the first window covering the local hour wins.
  // E_INVALIDARG for a window without days, with hours outside 0-24 or not
  // increasing, a bad limit, or more than kMaxBandwidthWindows windows.
  std::error_code set_bandwidth_schedule(const std::vector<BandwidthWindow>& schedule);
  Result<std::vector<BandwidthWindow>> bandwidth_schedule();

  // Registers the callbacks, replacing earlier ones, for the events from now on
  // (an invocation already running finishes with the old set). Safe from any
  // thread, a callback included. Not persisted. See callbacks.h.
  void set_callbacks(JobCallbacks callbacks);

  // Starts the worker thread unless it runs (open() does unless
  // options.start_worker is false) and returns at once. The thread waits for the
  // worker lock while another worker holds it. Failures are not reported: if the
  // lock file cannot be opened, the thread exits without transferring anything.
  void start_worker();
  // Stops the worker thread and blocks until it has exited (see "Stopping"
  // above); a no-op if none runs, or if another thread's stop_worker() took it
  // first (that call does the waiting). Must not be called from a callback.
  // start_worker() may start it again.
  void stop_worker();
  // Why the worker stopped by itself: the queue failed under it (e.g.
  // XFERQ_E_DATABASE_CORRUPT, XFERQ_E_DATABASE, XFERQ_E_DISK_FULL,
  // E_ACCESSDENIED, or the lock file could not be opened). {} while it runs,
  // when none was started, or after a stop_worker(). E_NOTIMPL after
  // start_worker() in a program linked without the worker (the `xferq`
  // command's control front; open() with options.start_worker then fails). A busy database
  // (XFERQ_E_BUSY) never stops it: it retries. No database access.
  std::error_code worker_error() const;

  // The round-robin time slice among jobs of one priority
  // (QueueOptions::time_slice; zero turns time slices off), changed while the
  // queue is open: the running worker uses it from its next turn on (slices
  // already running are measured against the new length). Not persisted.
  // E_INVALIDARG for a negative value. Safe from any thread; no database
  // access.
  std::error_code set_time_slice(std::chrono::milliseconds slice);
  std::chrono::milliseconds time_slice() const;

  // The database file's path, as given to open(). No database access.
  const std::string& path() const noexcept;

 private:
  explicit Queue(std::shared_ptr<detail::QueueCore> core);
  std::shared_ptr<detail::QueueCore> core_;
};

}  // namespace xferq

#endif  // XFERQ_QUEUE_H_
