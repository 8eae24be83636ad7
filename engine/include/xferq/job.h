// xferq/job.h — a handle on one transfer job, mirroring IBackgroundCopyJob.
//
// A Job is a cheap, copyable handle (the queue plus the job's id); all state
// lives in the database, so two handles on the same job — or another process —
// always see the same job. Every call is one short transaction and is safe to
// make from any thread without outside locking.
//
// Calls that change a job are valid only in the states the BITS reference
// allows; otherwise they return DO_E_INVALID_STATE and change nothing. Every
// call on a job that no longer exists returns BG_E_NOT_FOUND.
#ifndef XFERQ_JOB_H_
#define XFERQ_JOB_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "xferq/error.h"
#include "xferq/result.h"
#include "xferq/types.h"

namespace xferq {

namespace detail {
class QueueCore;
}

class Job {
 public:
  Job() = default;  // an empty handle; every call returns BG_E_NOT_FOUND

  // The job's GUID, "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}".
  const std::string& id() const noexcept { return id_; }

  // Adds a file: an http(s) URL and an absolute local path whose directory
  // exists and is writable. For UPLOAD / UPLOAD_REPLY jobs local_path is the
  // file to send: it must be an existing readable regular file
  // (ERROR_FILE_NOT_FOUND, E_INVALIDARG), and the job holds one file only
  // (BG_E_TOO_MANY_FILES for a second one). The file is fetched to a temp file in that
  // directory and appears at local_path only when complete() succeeds.
  // Errors: E_INVALIDARG (malformed URL or path, a path twice in one call),
  // XFERQ_E_UNSUPPORTED_SCHEME (not http/https), ERROR_PATH_NOT_FOUND (no
  // such directory), ERROR_FILE_EXISTS (path used by another active job or
  // this one), E_ACCESSDENIED (directory not writable),
  // BG_E_TOO_MANY_FILES_IN_JOB (more than 200), BG_E_STRING_TOO_LONG (URL over
  // 2,200 characters), DO_E_INVALID_STATE (final job). On TRANSFERRED the job
  // goes back to SUSPENDED, since it no longer has all its files.
  std::error_code add_file(std::string_view remote_url, std::string_view local_path);

  // Adds several files atomically: all of them or, on any error, none.
  std::error_code add_files(const std::vector<FileSpec>& files);

  // The files, in the order they were added, with their progress.
  Result<std::vector<FileInfo>> files() const;

  // Pauses the job (SUSPENDED); a running transfer stops, its bytes are kept
  // for resume. No-op on SUSPENDED, ERROR and TRANSFERRED.
  std::error_code suspend();

  // Makes the job runnable (QUEUED) from SUSPENDED, ERROR or TRANSIENT_ERROR
  // (retrying at once). BG_E_EMPTY if it has no files. No-op while it runs.
  std::error_code resume();

  // Throws the job away, irreversibly: in one transaction the job becomes
  // CANCELLED and the deletion of its temp files is recorded; the files are
  // deleted before cancel() returns and any transfer of the job stops.
  // DO_E_INVALID_STATE if the job is already CANCELLED or ACKNOWLEDGED.
  // An upload with an open session also gets, in the same transaction, a
  // Cancel-Session for the server (so it deletes the partial upload), sent
  // by the worker and retried until confirmed or 24 hours have passed.
  std::error_code cancel();

  // Accepts what arrived: the job becomes ACKNOWLEDGED and every finished file
  // is renamed (atomically) to its final path before complete() returns;
  // unfinished temp files are deleted. *status says whether every file was
  // finished (S_OK) or only some (BG_S_PARTIAL_COMPLETE). If a rename fails,
  // returns its error and the job stays in its state with the renamed files
  // in place, so complete() can be retried. DO_E_INVALID_STATE on final jobs.
  // UPLOAD / UPLOAD_REPLY jobs: valid in TRANSFERRED only (DO_E_INVALID_STATE
  // otherwise); an upload-reply job's reply is renamed to its reply file name.
  std::error_code complete(CompleteStatus* status = nullptr);

  // Snapshot getters.
  Result<JobInfo> info() const;
  Result<JobState> state() const;
  Result<JobProgress> progress() const;
  Result<JobTimes> times() const;
  // The last error; BG_E_ERROR_INFORMATION_UNAVAILABLE unless the job is in
  // ERROR or TRANSIENT_ERROR.
  Result<JobErrorInfo> error() const;
  Result<uint32_t> error_count() const;

  // Properties. Setters are valid in every non-final state and return
  // DO_E_INVALID_STATE on final jobs.
  Result<JobPriority> priority() const;
  std::error_code set_priority(JobPriority priority);  // E_NOTIMPL if out of range
  Result<std::string> display_name() const;
  std::error_code set_display_name(std::string_view name);  // ≤256 chars
  Result<std::string> description() const;
  std::error_code set_description(std::string_view text);  // ≤1,024 chars
  // Seconds to wait in TRANSIENT_ERROR before retrying. Default 600; values
  // under the queue's floor (BITS: 5 s) are raised to it.
  Result<std::chrono::seconds> minimum_retry_delay() const;
  std::error_code set_minimum_retry_delay(std::chrono::seconds delay);
  // Seconds without progress after a transient error before the job goes to
  // ERROR. Default 1,209,600 (14 days); 0 makes every error fatal.
  Result<std::chrono::seconds> no_progress_timeout() const;
  std::error_code set_no_progress_timeout(std::chrono::seconds timeout);

  // Upload-reply jobs only: where complete() puts the server's reply (an
  // absolute path whose directory exists and is writable). The reply is
  // downloaded to a temp file beside it and renamed there by complete().
  // Default: the upload file's path + ".reply". Set it before resume().
  // E_NOTIMPL on other job types, E_INVALIDARG / ERROR_PATH_NOT_FOUND /
  // E_ACCESSDENIED for a bad path, DO_E_INVALID_STATE on final jobs.
  std::error_code set_reply_file_name(std::string_view path);
  // The reply file name in effect ("" until the job has its file and no name
  // was set). E_NOTIMPL on other job types.
  Result<std::string> reply_file_name() const;

  friend bool operator==(const Job& a, const Job& b) { return a.id_ == b.id_; }

 private:
  friend class detail::QueueCore;
  Job(std::shared_ptr<detail::QueueCore> core, std::string id)
      : core_(std::move(core)), id_(std::move(id)) {}
  std::shared_ptr<detail::QueueCore> core_;
  std::string id_;
};

}  // namespace xferq

#endif  // XFERQ_JOB_H_
