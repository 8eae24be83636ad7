// xferq/queue.h — a persistent queue of transfer jobs in one SQLite file.
//
// A Queue opens (or creates) the database, applies pending migrations and
// recovers from a crash (finishes recorded file operations, puts interrupted
// transfers back in the queue), and runs the worker thread that carries out
// transfers. Several processes may open the same file; one worker at a time
// transfers (the others wait their turn), and every process sees every
// change. A Queue is safe to use from several threads without outside locking.
#ifndef XFERQ_QUEUE_H_
#define XFERQ_QUEUE_H_

#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "xferq/callbacks.h"
#include "xferq/error.h"
#include "xferq/job.h"
#include "xferq/options.h"
#include "xferq/result.h"
#include "xferq/types.h"

namespace xferq {

class Queue {
 public:
  // Opens or creates the queue at `path` (its directory must exist).
  // Errors: XFERQ_E_DATABASE_CORRUPT (not a queue file or damaged — the file is
  // left untouched), XFERQ_E_SCHEMA_TOO_NEW, XFERQ_E_BUSY, XFERQ_E_DATABASE.
  static Result<std::unique_ptr<Queue>> open(const std::string& path,
                                             const QueueOptions& options = {});

  // Stops the worker (transfers stop; their bytes are kept for next time).
  ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Creates a job, SUSPENDED, with a new GUID: a download (the default), an
  // UPLOAD or an UPLOAD_REPLY job (BITS upload protocol; one file each).
  // E_NOTIMPL for a type outside the enumeration.
  // E_INVALIDARG for an empty name, BG_E_STRING_TOO_LONG over 256 characters.
  Result<Job> create_job(std::string_view display_name, JobType type = JobType::download);

  // Finds a job by GUID (braces and case optional). Final jobs stay findable
  // until purged. BG_E_NOT_FOUND otherwise.
  Result<Job> get_job(std::string_view id);

  // Jobs in creation order: active ones (not CANCELLED / ACKNOWLEDGED), or
  // all of them with include_final.
  Result<std::vector<Job>> jobs(bool include_final = false);
  // The same as snapshots, in one read.
  Result<std::vector<JobInfo>> job_infos(bool include_final = false);

  // What housekeep() did.
  struct HousekeepingReport {
    size_t jobs_expired = 0;  // inactive jobs cancelled
    size_t jobs_purged = 0;   // final jobs' rows deleted
  };
  // Cancels inactive jobs and purges old final ones (see QueueOptions). The
  // worker does this by itself; call it from processes without a worker.
  Result<HousekeepingReport> housekeep();

  // Registers the callbacks (replacing earlier ones).
  void set_callbacks(JobCallbacks callbacks);

  // Starts / stops the worker thread (open() starts it unless
  // options.start_worker is false). Idempotent.
  void start_worker();
  void stop_worker();

  // The database file's path.
  const std::string& path() const noexcept;

 private:
  explicit Queue(std::shared_ptr<detail::QueueCore> core);
  std::shared_ptr<detail::QueueCore> core_;
};

}  // namespace xferq

#endif  // XFERQ_QUEUE_H_
