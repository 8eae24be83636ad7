// xferq/job.h — a handle on one transfer job, mirroring IBackgroundCopyJob.
//
// A Job is a cheap, copyable handle: a shared pointer to its queue's core plus
// the job's id. All state lives in the database, so two handles on the same
// job — or another process — always see the same job. A live handle keeps the
// queue's core (database connection, options, callbacks) alive, also after the
// Queue is destroyed; its calls then still work, but nothing transfers in this
// process (see queue.h).
//
// Calls that change a job are valid only in the states docs/bits-behaviour.md
// lists; otherwise they return DO_E_INVALID_STATE and change nothing. Argument
// errors (E_INVALIDARG, BG_E_STRING_TOO_LONG, E_NOTIMPL, ...) are reported
// before the job's state is looked at, except for the checks add_files() makes
// in its transaction. Every call on a job that does not exist (never did, or
// was purged) or on an empty handle returns BG_E_NOT_FOUND. Any call may also
// fail with XFERQ_E_BUSY (another process held the write lock past
// QueueOptions::busy_timeout) or XFERQ_E_DATABASE.
//
// Blocking: each call is one short SQLite transaction or read (the calls of
// one process take turns on one connection); cancel() and complete() also do
// their file work before they return. A call that changes the job wakes the
// worker if needed, then runs the modified callback on the calling thread
// before it returns. No call waits for the worker.
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
// The state a Queue and its Job handles share (engine/src/queue_core.h).
// Thread safety: internally synchronized; not part of the API.
class QueueCore;
}

// Thread safety: safe to call from any thread concurrently, on one handle or on
// copies, without outside locking (no method modifies the handle). Assigning to
// or destroying a handle while another thread uses that same object is a data
// race, as for any C++ object.
class Job {
 public:
  // An empty handle (no queue, id ""): every call returns BG_E_NOT_FOUND.
  Job() = default;

  // The job's GUID, "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}" in upper case; ""
  // for an empty handle. No database access; never fails.
  const std::string& id() const noexcept { return id_; }

  // ---- Files ----------------------------------------------------------------
  // add_file() and add_files() check, in this order:
  // - the arguments: E_INVALIDARG for an empty list, a malformed or non-UTF-8
  //   URL, or a local path that is not absolute, contains "." / "..", or names a
  //   directory; XFERQ_E_UNSUPPORTED_SCHEME for a scheme other than http/https
  //   (unless QueueOptions::allow_other_schemes); BG_E_STRING_TOO_LONG for a URL
  //   over 2,200 bytes; ERROR_PATH_NOT_FOUND if the path's directory is missing,
  //   E_ACCESSDENIED if it is not writable. UPLOAD / UPLOAD_REPLY jobs instead
  //   need local_path to be the file to send: ERROR_FILE_NOT_FOUND if nothing is
  //   there, E_INVALIDARG if it is not a regular file or is empty (the BITS
  //   upload protocol cannot send an empty file: a Fragment's Content-Range
  //   covers at least one byte, and a session closed without one leaves the
  //   server no file), E_ACCESSDENIED if it is unreadable; BG_E_TOO_MANY_FILES
  //   for more than one file. A file emptied after add_file() fails the job
  //   when it starts (ERROR, E_INVALIDARG, LOCAL_FILE context);
  // - in the transaction: DO_E_INVALID_STATE on final jobs; BG_E_TOO_MANY_FILES
  //   if an upload job has its file already; BG_E_TOO_MANY_FILES_IN_JOB past 200
  //   files; for downloads, E_INVALIDARG for a path twice in the call and
  //   ERROR_FILE_EXISTS for a path that this job or another job not yet final
  //   already targets (a file's path, or an upload-reply job's reply file
  //   name); for an upload-reply job without a reply file name,
  //   ERROR_FILE_EXISTS if its default (the path + ".reply") is so targeted.
  // Valid in every non-final state. A TRANSFERRED job goes back to SUSPENDED (it
  // no longer has all its files); in any other state the job stays where it is.
  // Paths are stored with their directory resolved (symlinks, as realpath()
  // does; the file name itself is kept), so two spellings of one file compare
  // equal; files() shows them so.

  // Adds one file: add_files() with a single FileSpec. Downloads fetch
  // remote_url to a temp file beside local_path, which appears only when
  // complete() succeeds; uploads send the file at local_path to remote_url.
  std::error_code add_file(std::string_view remote_url, std::string_view local_path);

  // Adds the files atomically (all of them or, on any error, none), wakes the
  // worker and fires modified. One transaction, after argument checks that
  // stat() the paths. Errors and state rules: above.
  std::error_code add_files(const std::vector<FileSpec>& files);

  // BITS's AddFileWithRanges: a download of only these ranges of remote_url,
  // written back-to-back in the given order into local_path (its size is the
  // sum of the lengths, a kLengthToEof range's once the server says it). One
  // request per range (Range: bytes=a-b, never multipart); add_file()'s checks
  // and state rules, and first: E_INVALIDARG for no ranges, E_NOTIMPL on upload
  // jobs, BG_E_TOO_MANY_RANGES_IN_FILE past 500, BG_E_INVALID_RANGE for an
  // offset of kLengthToEof or a length of 0, BG_E_OVERLAPPING_RANGES for ranges
  // that overlap or repeat. While it runs: ERROR with BG_E_INVALID_RANGE for a
  // range outside the remote file, BG_E_INSUFFICIENT_RANGE_SUPPORT if the server
  // sends the whole file instead (validators unchanged; changed ones restart the
  // file from zero), BG_E_INVALID_SERVER_RESPONSE for a Content-Range other than
  // the one asked for. Resume continues inside the range the bytes on disk end in.
  std::error_code add_file_with_ranges(std::string_view remote_url, std::string_view local_path,
                                       std::vector<FileRange> ranges);

  // The files in the order they were added, with their committed progress
  // (see FileInfo). One read.
  Result<std::vector<FileInfo>> files() const;

  // ---- Integrity (DO's IntegrityCheckInfo, BITS's SetValidationState) -------
  // A download's file is hashed as its bytes arrive (a resumed file's bytes
  // on disk first) and checked against FileSpec::integrity before it counts
  // as transferred: a size or digest that differs puts the job in ERROR with
  // BG_E_VALIDATION_FAILED (LOCAL_FILE context, the file's index), deletes
  // the bytes and never lets complete() produce the file; resume() fetches
  // it again from zero. add_files() gives E_INVALIDARG for a digest that is
  // not hex of its length (64 / 128) or a size under -1, and for integrity
  // on an upload job.

  // Sets file `file_index`'s expected size and digests (empty ones clear
  // them), while it is not transferred: DO_E_INVALID_STATE once it is (its
  // bytes were not hashed) or on final jobs; E_INVALIDARG for a bad digest or
  // an index past the last file. From the job's next start.
  std::error_code set_file_integrity(uint32_t file_index, const FileIntegrity& integrity);
  // BITS's IBackgroundCopyFile3::SetValidationState: `valid` false says the
  // application found a transferred file invalid. The job goes to ERROR
  // with BG_E_VALIDATION_FAILED, the file back to zero bytes, its temp file
  // deleted; resume() downloads it again. `valid` true changes nothing.
  // DO_E_INVALID_STATE if the file is not transferred or the job is final;
  // E_INVALIDARG past the last file.
  std::error_code set_validation_state(uint32_t file_index, bool valid);

  // ---- State ----------------------------------------------------------------

  // Pauses the job: QUEUED, CONNECTING, TRANSFERRING and TRANSIENT_ERROR become
  // SUSPENDED; a no-op (S_OK) on SUSPENDED, ERROR and TRANSFERRED. The worker
  // then stops a running transfer; the bytes it committed are kept for resume().
  // DO_E_INVALID_STATE on final jobs.
  std::error_code suspend();

  // Makes the job runnable: SUSPENDED, ERROR and TRANSIENT_ERROR become QUEUED
  // (no waiting for the retry delay) and the worker is woken; a no-op on QUEUED,
  // CONNECTING, TRANSFERRING and TRANSFERRED. BG_E_EMPTY (nothing changes) if
  // the job has no files; DO_E_INVALID_STATE on final jobs.
  std::error_code resume();

  // ---- Ending a job ---------------------------------------------------------
  // cancel(): one transaction makes the job CANCELLED and records the deletion
  // of its temp files in the outbox. By default the temp files' names are
  // gone before cancel() returns: each is moved aside to a hidden twin
  // beside it (".gone" for ".part", a rename: it frees no blocks, so it never
  // waits for the disk's discard), and a queue thread deletes the twins
  // within milliseconds. With QueueOptions::defer_cancel_deletes a queue
  // thread deletes the files themselves, and cancel() returns at its commit.
  // A queue thread then makes the removals durable (one directory sync for
  // the cancels that came meanwhile) before the outbox row goes, so a power
  // cut cannot bring a deleted file back for good; a twin left by a crash is
  // deleted when the queue is next opened. A deletion that fails does not
  // fail cancel(): it stays in the outbox and is retried when the queue file
  // is next opened or a worker starts on it. The worker stops the job's
  // transfer by itself: this process's at once, another process's when the
  // datagram cancel() sends to its wake-up socket arrives (within its
  // poll_interval if none could be sent); cancel() does not wait for it. For
  // an upload with an open session the same transaction records a
  // Cancel-Session, which the worker sends (so the server deletes the partial
  // upload) and retries every cancel_session_retry_interval until the server
  // confirms or refuses it, or cancel_session_retry_budget (24 h) is spent.
  // After TRANSFERRED an upload owes the server nothing; an upload-reply
  // job's reply temp file is deleted.
  //
  // complete(): downloads may be completed in any non-final state, even
  // mid-transfer (the transfer is stopped): finished files are kept, the others
  // dropped. UPLOAD / UPLOAD_REPLY jobs only in TRANSFERRED (DO_E_INVALID_STATE
  // otherwise); the upload's own file is never touched, an upload-reply job's
  // reply is renamed to its reply file name. If a rename or a deletion fails,
  // complete() returns that error (E_ACCESSDENIED, ERROR_PATH_NOT_FOUND,
  // ERROR_DISK_FULL, ...), leaves *status unset, and the job returns to the state
  // it was in, with the files renamed so far at their final paths; a retry skips
  // them. A job that was CONNECTING / TRANSFERRING then stays in that state with
  // its transfer stopped until the worker restarts, or suspend() and resume().

  // Throws the job away, irreversibly, in any non-final state: CANCELLED, temp
  // files deleted (see above), its transfer stopped. Fires modified.
  // DO_E_INVALID_STATE if the job is already CANCELLED or ACKNOWLEDGED.
  // On a PostgreSQL queue worked by several hosts, a job another host ran has
  // its temp files on that host: cancel() returns once CANCELLED is committed,
  // and that host's worker stops the transfer and deletes the files when the
  // commit's notification reaches it (milliseconds), or when it next starts.
  std::error_code cancel();

  // Accepts what arrived: the job becomes ACKNOWLEDGED, each finished file is
  // renamed atomically (mode 0644) to its final path and the other temp files
  // are deleted before it returns. *status: all_files (S_OK) or partial
  // (BG_S_PARTIAL_COMPLETE). DO_E_INVALID_STATE on final jobs; see above.
  // On a PostgreSQL queue worked by several hosts, only the host that ran the
  // job (jobs.owner_host) holds its files. Called on that host, complete()
  // is as above. Called on any other host, it returns once ACKNOWLEDGED and
  // the renames are committed (same *status, same refusals); the holding
  // host's worker renames the files when the notification reaches it
  // (milliseconds), or when that host next opens the queue. Until then the
  // final files do not exist; the job's row in file_ops shows it is pending.
  // A rename that then fails cannot take the decision back: the row keeps
  // its error (file_ops.last_error) and is retried on the holder's next open.
  std::error_code complete(CompleteStatus* status = nullptr);

  // ---- Snapshot getters: one read each; they work on final jobs too ---------

  // Everything below at once, consistent: state, progress, times, properties
  // and, in ERROR / TRANSIENT_ERROR, the last error.
  Result<JobInfo> info() const;
  // The job's state. The worker, another thread or another process may change
  // it right after the read.
  Result<JobState> state() const;
  // Bytes and files done as last committed: a running download commits every
  // QueueOptions::progress_interval, an upload after each server Ack.
  // bytes_total is kSizeUnknown until every file's size is known.
  Result<JobProgress> progress() const;
  // Creation, last modification (any call, state change or progress commit),
  // and when the job last reached TRANSFERRED.
  Result<JobTimes> times() const;
  // The last error while the job is in ERROR or TRANSIENT_ERROR;
  // BG_E_ERROR_INFORMATION_UNAVAILABLE in every other state.
  Result<JobErrorInfo> error() const;
  // Failed transfer attempts so far (each one that sent the job to
  // TRANSIENT_ERROR or ERROR; not the no-progress expiry). Never reset.
  Result<uint32_t> error_count() const;

  // ---- Properties -----------------------------------------------------------
  // Getters read the job's snapshot. Setters check their argument first, are
  // valid in every non-final state (DO_E_INVALID_STATE on final jobs), change no
  // state, and fire modified; one transaction each.

  // Default NORMAL. The worker starts QUEUED jobs by priority (FOREGROUND
  // first), then in the order they were queued.
  Result<JobPriority> priority() const;
  // E_NOTIMPL for a value outside JobPriority. Wakes the worker; a running
  // transfer is not preempted.
  std::error_code set_priority(JobPriority priority);
  // The name given at creation or by set_display_name(); not unique.
  Result<std::string> display_name() const;
  // 1 to 256 characters of UTF-8: E_INVALIDARG if empty or not UTF-8,
  // BG_E_STRING_TOO_LONG if longer.
  std::error_code set_display_name(std::string_view name);
  // Free text; "" by default.
  Result<std::string> description() const;
  // Up to 1,024 characters of UTF-8 ("" allowed): E_INVALIDARG if not UTF-8,
  // BG_E_STRING_TOO_LONG if longer.
  std::error_code set_description(std::string_view text);
  // Extra HTTP request headers, "Name: value" each, sent with every request
  // of the job: downloads and their resumes, every BITS upload packet, the
  // reply's GET (BITS's SetCustomHeaders). A running job uses them from its
  // next start (suspend/resume applies them at once). Empty clears them.
  // E_INVALIDARG for a malformed line, CR/LF/NUL anywhere, or a header xferq
  // owns (Range, If-Range, Accept-Encoding, Content-Range, Content-Length,
  // Transfer-Encoding, Host, Expect, Connection, BITS-*); BG_E_STRING_TOO_LONG
  // past 64 headers, 8 KiB a header or 16 KiB in all. One transaction.
  std::error_code set_custom_headers(const std::vector<std::string>& headers);
  // The headers as set (values included: the application set them). The CLI
  // hides the values of Authorization, Proxy-Authorization and Cookie.
  Result<std::vector<std::string>> custom_headers() const;
  // BITS's security flags, the redirect ones (types.h): the redirect policy
  // (kRedirectPolicyAllowSilent, the default; kRedirectPolicyAllowReport;
  // kRedirectPolicyDisallow, under which a redirect ends the attempt with
  // BG_E_HTTP_ERROR_3xx, fatal) and kRedirectAllowHttpsToHttp (https is
  // otherwise never redirected to http). From the job's next start.
  // E_INVALIDARG for another bit or policy value (certificate flags are not
  // supported). One transaction.
  std::error_code set_security_flags(uint32_t flags);
  // Credentials for the server or the proxy, by scheme (BITS's
  // SetCredentials): Basic and Digest take a user name and a password, Bearer
  // a token as `password` (user ignored). Sent to the origin of the job's
  // URLs only, never to a redirect target on another host or port; stored in
  // the 0600 queue file and never shown. Replaces earlier ones of the same
  // target and scheme; from the job's next start. E_INVALIDARG for a NUL,
  // CR or LF, a ':' in a Basic user name, or an empty password;
  // BG_E_STRING_TOO_LONG past 1,024 bytes.
  std::error_code set_credentials(AuthTarget target, AuthScheme scheme, std::string_view user,
                                  std::string_view password);
  // Removes them; success if there were none.
  std::error_code remove_credentials(AuthTarget target, AuthScheme scheme);
  // Proxy settings (BITS's SetProxySettings), from the job's next start.
  // OVERRIDE needs a non-empty list; libcurl uses its first proxy. E_INVALIDARG
  // for an empty OVERRIDE list, a list given with PRECONFIG / NO_PROXY,
  // control characters, or an unknown usage; BG_E_STRING_TOO_LONG past 4 KiB.
  std::error_code set_proxy_settings(const ProxySettings& settings);
  Result<ProxySettings> proxy_settings() const;
  Result<uint32_t> security_flags() const;
  // TLS trust and identity for every request of the job, from its next start
  // (BITS's SetClientCertificate, as PEM files). Each path must be absolute
  // and name a readable regular file (ca_directory: a directory) whose content
  // is PEM of the right kind (a certificate; a private key); a passphrase
  // needs a key. Checked when set, and the files are read again by each
  // attempt (a file gone by then fails the attempt with XFERQ_E_TLS, fatal).
  // E_INVALIDARG for a relative path, a NUL / CR / LF, a file that is not
  // PEM, a key without a certificate; ERROR_FILE_NOT_FOUND (a file),
  // ERROR_PATH_NOT_FOUND (ca_directory) or E_ACCESSDENIED for one missing or
  // unreadable; BG_E_STRING_TOO_LONG past 4 KiB. The
  // passphrase is stored in the 0600 queue file and never read back (options
  // read back and written again keep it: TlsOptions::has_client_key_password).
  // Empty options clear them.
  std::error_code set_tls_options(const TlsOptions& options);
  // As set, with client_key_password empty (has_client_key_password says
  // whether one is stored).
  Result<TlsOptions> tls_options() const;

  // ---- Remote names (BITS's IBackgroundCopyFile2::SetRemoteName and
  // IBackgroundCopyJob3::ReplaceRemotePrefix) ---------------------------------
  // Downloads only (E_NOTIMPL for uploads); any non-final state
  // (DO_E_INVALID_STATE otherwise); the new URLs pass add_file()'s URL
  // checks. The bytes fetched are kept: the next request resumes with Range
  // and If-Range carrying the validators they were fetched under, so a server
  // with different bytes answers the whole file and the download starts over
  // from zero rather than splicing two files. Files already transferred are
  // not fetched again. A running job uses the new names from its next start
  // (suspend() and resume() to apply them at once). One transaction; fires
  // modified.

  // The URL of file `file_index` (0-based): E_INVALIDARG past the last file.
  std::error_code set_remote_name(uint32_t file_index, std::string_view url);
  // Every file whose URL starts with `old_prefix` gets `new_prefix` instead
  // (case-sensitive; all or none, each new URL checked). S_OK if none
  // matches. E_INVALIDARG for an empty old prefix.
  std::error_code replace_remote_prefix(std::string_view old_prefix, std::string_view new_prefix);

  // ---- Limits -----------------------------------------------------------------
  // The most bytes the job may download in all (BITS's MAX_DOWNLOAD_SIZE);
  // 0, the default, is no limit. A server that announces (Content-Length) or
  // delivers more puts the job in ERROR with
  // BG_E_MAX_DOWNLOAD_SIZE_LIMIT_REACHED (0x80200064), the bytes over the
  // limit never written. From the job's next start.
  Result<uint64_t> max_download_size() const;
  std::error_code set_max_download_size(uint64_t bytes);
  // The most time the job may spend CONNECTING and TRANSFERRING (BITS's
  // SetMaximumDownloadTime); default 7,776,000 s (90 days); 0 means the
  // default. Time in other states does not count; resume() starts the count
  // again. Exceeded: ERROR with BG_E_MAXDOWNLOAD_TIMEOUT (0x80200054), what
  // arrived kept. From the job's next start. E_INVALIDARG if negative.
  Result<std::chrono::seconds> maximum_download_time() const;
  std::error_code set_maximum_download_time(std::chrono::seconds limit);
  // The job's own bandwidth limit in bytes per second (xferq/bandwidth.h);
  // 0, the default, is none. A cap on top of its share of the queue-wide
  // limit and its priority's limit; a running transfer follows a change
  // within a second. E_INVALIDARG if negative or above kMaxBandwidthLimit.
  Result<int64_t> bandwidth_limit() const;
  std::error_code set_bandwidth_limit(int64_t bytes_per_sec);
  // Seconds to wait in TRANSIENT_ERROR before retrying. Default 600; values
  // under the queue's floor (BITS: 5 s) are raised to it.
  Result<std::chrono::seconds> minimum_retry_delay() const;
  // E_INVALIDARG if negative; raised to QueueOptions::minimum_retry_delay_floor.
  // Counts from the next failed attempt (a job already waiting keeps its time).
  std::error_code set_minimum_retry_delay(std::chrono::seconds delay);
  // Seconds without progress after a transient error before the job goes to
  // ERROR. Default 1,209,600 (14 days); 0 makes every error fatal.
  Result<std::chrono::seconds> no_progress_timeout() const;
  // E_INVALIDARG if negative. Progress restarts the clock; a transient error
  // whose retry would come after the timeout runs out is fatal at once.
  std::error_code set_no_progress_timeout(std::chrono::seconds timeout);

  // ---- Notification --------------------------------------------------------
  // The notify command line (BITS's SetNotifyCmdLine): when the job reaches
  // TRANSFERRED or ERROR (only those; also ERROR by the no-progress timeout),
  // the process whose worker runs the job starts `program` with `args` as
  // argv[1..] — no shell: each argument reaches the program as one argument,
  // whatever it holds (";", spaces, quotes). Every "{job}" in an argument
  // becomes the job's id ("{XXXXXXXX-...}"); nothing else is substituted or
  // added (BITS passes whatever the application wrote, so its callers put the
  // id there themselves). The program gets stdin, stdout and stderr on
  // /dev/null and the worker process's environment and working directory; the
  // worker does not wait for it (it collects its exit status, so no zombie is
  // left). Exited non-zero (or killed, or not started at all: the program
  // was removed since) while the job is still in the state
  // that started it, it is run again after the job's minimum retry delay (at
  // least 1 s), as BITS does, until it succeeds or the job moves on; these
  // reruns are remembered by the running worker only (a worker restart drops
  // them). Unlike BITS, it runs whether or not callbacks are registered (they
  // live in one process; the command line is stored in the queue).
  //
  // set: `program` an absolute path to an existing executable regular file,
  // checked now (ERROR_FILE_NOT_FOUND if nothing is there, E_INVALIDARG if it
  // is not absolute or not a regular file, E_ACCESSDENIED if not executable);
  // E_INVALIDARG for a NUL in any string or arguments without a program;
  // BG_E_STRING_TOO_LONG for a program over 4,096 bytes or arguments over
  // 4,000 bytes in all (each counted with one separator, as if joined by
  // spaces). An empty program with no arguments removes it. State rules as
  // for the other setters; fires modified; one transaction.
  std::error_code set_notify_command_line(std::string_view program, const std::vector<std::string>& args);
  // As set ({} if none; "{job}" not substituted). One read.
  Result<NotifyCommandLine> notify_command_line() const;

  // Upload-reply jobs: where complete() puts the reply (absolute path, writable
  // directory; default: the upload file's path + ".reply"). Set it before
  // resume(): the reply's temp file goes beside the name in effect when it is
  // fetched. E_NOTIMPL on other types; E_INVALIDARG / ERROR_PATH_NOT_FOUND /
  // E_ACCESSDENIED for a bad path; ERROR_FILE_EXISTS if another job not yet
  // final targets it (a file's path or a reply). Stored canonical (symlinked
  // directories resolved), as add_file's paths are.
  std::error_code set_reply_file_name(std::string_view path);
  // The reply file name in effect ("" until the job has its file and no name
  // was set). E_NOTIMPL on other job types. Two reads.
  Result<std::string> reply_file_name() const;

  // Same job id; no database access. Two empty handles are equal, and so are
  // handles on different queues that hold the same id.
  friend bool operator==(const Job& a, const Job& b) { return a.id_ == b.id_; }

 private:
  friend class detail::QueueCore;
  Job(std::shared_ptr<detail::QueueCore> core, std::string id)
      : core_(std::move(core)), id_(std::move(id)) {}
  // Keeps the queue's core alive for as long as the handle lives.
  std::shared_ptr<detail::QueueCore> core_;
  std::string id_;
};

}  // namespace xferq

#endif  // XFERQ_JOB_H_
