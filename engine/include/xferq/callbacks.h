// xferq/callbacks.h — notifications of job events, like IBackgroundCopyCallback.
#ifndef XFERQ_CALLBACKS_H_
#define XFERQ_CALLBACKS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>

#include "xferq/types.h"

namespace xferq {

// The functions a queue calls when one of its jobs changes; each receives the
// job's id. Register them with Queue::set_callbacks(); empty members are
// skipped. They live in this process only and are not persisted: register them
// again after reopening a queue. An event that happens while none is registered
// is not delivered later, and calls made by other processes fire nothing here
// (the transfers this process's worker runs do, whoever created the job).
//
// Threads: transferred, error, file_transferred and progress run on the
// worker thread; modified runs on the worker thread for the worker's events
// and on the calling thread, before the call returns, for API calls. No queue lock is held while they run, so they
// may call into the Queue and its Jobs (complete() from transferred is the
// usual pattern), except that they must not call Queue::stop_worker() or
// destroy the Queue (see queue.h). The worker waits for them: every transfer
// pauses while one runs, so keep them short. They must not throw: an exception
// leaving one on the worker thread ends the process (std::terminate).
//
// Thread safety: a plain value type, not synchronized; set_callbacks() copies
// it. The functions it holds may run concurrently on the worker thread and on
// calling threads, so they must be thread-safe themselves. A function that
// captures a Job keeps the queue's core alive until the callbacks are replaced.
struct JobCallbacks {
  // The job reached TRANSFERRED: every file is in its temp file (uploads: the
  // server has every byte, and the reply is here): call complete() to get the
  // files. Worker thread, right after modified (and the final progress) for
  // the same change.
  std::function<void(const std::string& job_id)> transferred;
  // The job entered ERROR, after a failed attempt (right after modified) or when
  // the no-progress timeout ran out (alone), with the error Job::error() now
  // reports. Never for TRANSIENT_ERROR, as in BITS. Worker thread.
  std::function<void(const std::string& job_id, const JobErrorInfo& error)> error;
  // Something about the job changed. Calling thread: add_file(s), suspend() /
  // resume() that changed the state, cancel(), complete() (a failed one too),
  // the setters, and the cancels of housekeeping (on the thread that runs it).
  // Worker thread: the job was claimed (CONNECTING), an upload connected,
  // progress was committed, a file finished, the job reached TRANSFERRED or an
  // attempt failed. Not reported: a download's CONNECTING -> TRANSFERRING, a
  // retry's TRANSIENT_ERROR -> QUEUED, the no-progress expiry (error only), the
  // worker handing running jobs back to QUEUED.
  std::function<void(const std::string& job_id)> modified;
  // The worker stopped because the queue failed under it (the error that
  // Queue::worker_error() then reports); nothing transfers in this process
  // until start_worker() is called again. Worker thread, once, as it exits.
  std::function<void(std::error_code error)> worker_stopped;

  // A file of the job is finished: every byte is in its temp file (a
  // download) or acknowledged by the server (an upload). `file_index` is its
  // place in Job::files(); once per file, in order, before the modified of
  // the same change (and before transferred for the last one). Worker thread.
  std::function<void(const std::string& job_id, uint32_t file_index)> file_transferred;
  // The job's progress, as Job::progress() would read it: after a committed
  // byte count (a download every QueueOptions::progress_interval, an upload
  // after each Ack) or a finished file, throttled per job by the two members
  // below, and once more, unthrottled, when the job reaches TRANSFERRED (so the
  // last call shows every byte). Worker thread, after the modified of the
  // same change.
  std::function<void(const std::string& job_id, const JobProgress& progress)> progress;
  // Throttles (both apply): at least progress_interval between two calls for
  // a job (BITS's MINIMUM_NOTIFICATION_INTERVAL_MS, 500 ms; DO's
  // CallbackFreqSeconds; 0: no minimum), and, when progress_percent is 1 to
  // 100, a call only when the job's bytes crossed another multiple of that
  // many percent of bytes_total since the last call (DO's
  // CallbackFreqPercent; 0: any change; with bytes_total unknown only the
  // interval applies).
  std::chrono::milliseconds progress_interval{500};
  uint32_t progress_percent = 0;
};

}  // namespace xferq

#endif  // XFERQ_CALLBACKS_H_
