// job_driver.h — what the drivers of a job's transfer share (downloads and
// uploads): the claim, the current file row, and the job-level outcomes —
// connected, failed, dropped, transferred — each one generation-checked
// write through the store, followed by the application's callbacks.
//
// Thread safety: worker thread only, like every driver.
#ifndef XFERQ_WORKER_JOB_DRIVER_H_
#define XFERQ_WORKER_JOB_DRIVER_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "fs/temp_file.h"
#include "storage/store.h"
#include "worker/curl_request.h"
#include "worker/throttle.h"
#include "worker/transfer_driver.h"
#include "xferq/error.h"

namespace xferq::detail {

class JobDriver : public TransferDriver {
 public:
  // `first`: the job's first file not yet done (nullopt: every file is).
  JobDriver(TransferLoop& loop, Claim claim, std::optional<FileRow> first);

  const std::string& job_id() const { return claim_.job_id; }
  const Claim& claim() const { return claim_; }
  void stop(bool shutting_down) override;
  // The loop takes the job's slot back (`event`: WorkerEvent::preempted or
  // WorkerEvent::slice_over, worker/scheduler.h): commits what is durable,
  // then moves the job back to QUEUED (generation-checked) and lets go.
  // False if the store was busy: the transfer goes on, ask again later.
  bool give_slot_back(WorkerEvent event);

  // Bandwidth (bandwidth_manager.h): the transfer's pacing, kept across its
  // requests; every request of the job reads and writes through it.
  Throttle& throttle() { return throttle_; }
  // Loop context, once per turn: see CurlRequest::begin_turn.
  void begin_turn(Throttle::Clock::time_point now) {
    if (request_) request_->begin_turn(now);
  }
  bool paused() const { return request_ && request_->paused(); }

 protected:
  // Ends the request in flight, if any (no database access).
  void end_request();
  // What every request of the job carries: its custom headers, credentials,
  // proxy settings and TLS options. `server_credentials` false keeps the
  // server's credentials, and custom Authorization and Cookie headers, off a
  // request to another origin (the proxy's credentials stay).
  void prepare_request(CurlRequest& request, bool server_credentials = true) const;
  // The job has spent its maximum download time (counted from the claim, on
  // top of what earlier attempts used): fails it with
  // BG_E_MAXDOWNLOAD_TIMEOUT and answers true. Loop context.
  bool out_of_time();
  // Ends the request and closes the temp file (no database access).
  void release_io();
  // Before a failure or a shutdown is recorded: make durable and commit what
  // arrived since the last commit, so the next attempt resumes from it.
  virtual void keep_progress() {}

  // Has a call made this transfer stale? Callback-safe (no database).
  bool superseded();
  // Did a worker write go through? If not, the job moved on (or the database
  // failed): the driver lets go and answers false.
  bool applied(const Result<WriteOutcome>& outcome);
  // The first response arrived: CONNECTING -> TRANSFERRING, once.
  bool commit_connected(bool notify);
  // Ends the attempt: TRANSIENT_ERROR or ERROR, by the failure and the
  // job's no-progress timeout; the error callback for a fatal one.
  void fail(TransferFailure failure);
  void fail(uint32_t hresult, ErrorContext context, std::string description, bool transient);
  void fail(Errc code, ErrorContext context, std::string description, bool transient) {
    fail(static_cast<uint32_t>(code), context, std::move(description), transient);
  }
  void fail_local(const std::error_code& ec, const std::string& what);
  // The job moved on: whoever moved it owns its files now. Stop and let go.
  void drop();
  // The database failed: give the job back to the queue and let go.
  void give_back();
  // The job's last file is finished: TRANSFERRED and its callbacks.
  void job_transferred();
  // The file is finished (bytes flushed). Moves to the next file (returns
  // it in file_), ends with job_transferred(), or drops a stale job.
  // Returns true if there is a next file to start.
  bool finish_file();
  // Opens, or creates, the temp file at `path` for the current file:
  // 1. the path is recorded (committed) first, so that every file that may
  //    exist has a row that owns it — also after a crash in step 2;
  // 2. the file is opened or created inside a transaction that checks the
  //    job's generation: a cancel commits either before (nothing is created)
  //    or after (its deletion finds the file).
  // Returns a closed TempFile after dropping or failing the transfer.
  TempFile open_temp_guarded(const std::string& path, const char* what);
  // Opens temp_ for the current file, whose final path is `target`, at the
  // recorded temp path or a new one beside `target`. False after dropping or
  // failing the transfer.
  bool open_temp_beside(const std::string& target, const char* what);

  TransferLoop& loop_;
  Claim claim_;
  FileRow file_;
  std::vector<Credential> credentials_;   // read at start(); applied to every request
  std::unique_ptr<CurlRequest> request_;  // the request in flight
  // Bandwidth pacing (its rate set by the loop's BandwidthManager); mutable:
  // prepare_request() lends it to each request.
  mutable Throttle throttle_;
  TempFile temp_;            // the temp file being written (a download's, an upload's reply)
  bool has_file_ = false;
  bool connected_ = false;   // the job is TRANSFERRING
  int64_t committed_ = 0;    // file_.bytes_transferred as last committed
  uint64_t seen_change_ = 0; // the loop's change counter when last looked at
  // When the job's maximum download time runs out, by the monotonic clock.
  std::chrono::steady_clock::time_point deadline_;
};

// A driver for the claimed job, by its type (download, upload, upload-reply),
// starting with `first` (nullopt: every file is done already).
std::unique_ptr<JobDriver> make_job_driver(TransferLoop& loop, Claim claim, std::optional<FileRow> first);

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_JOB_DRIVER_H_
