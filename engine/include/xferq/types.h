// xferq/types.h — the vocabulary of jobs: states, priorities, progress, times.
//
// Numeric values are BITS's (BG_JOB_STATE, BG_JOB_PRIORITY, BG_JOB_TYPE,
// BG_ERROR_CONTEXT) and are what the database stores, so a query in the sqlite3
// shell and a call through the API agree. Every type here is a plain value and
// every function pure: safe to use from any thread, nothing synchronized.
#ifndef XFERQ_TYPES_H_
#define XFERQ_TYPES_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <string_view>
#include <utility>

namespace xferq {

// A job's state; docs/bits-behaviour.md has what moves a job between them.
// Thread safety: a plain value; no synchronization needed.
enum class JobState : int {
  queued = 0,           // runnable, waiting for the worker
  connecting = 1,       // the worker is contacting the server
  transferring = 2,     // bytes are moving
  suspended = 3,        // paused; every new job starts here
  error = 4,            // fatal error; needs resume (after fixing the cause), complete or cancel
  transient_error = 5,  // recoverable error; retried after the minimum retry delay
  transferred = 6,      // every file is on disk in its temp file; waiting for complete()
  acknowledged = 7,     // final: complete() renamed the files
  cancelled = 8,        // final: cancel() deleted the temp files
};

// Scheduling order: the worker starts QUEUED jobs with the lowest value first
// (FOREGROUND), then in queue order. NORMAL is the default.
// Thread safety: a plain value; no synchronization needed.
enum class JobPriority : int { foreground = 0, high = 1, normal = 2, low = 3 };

// What a job does; fixed at creation. Upload jobs hold one file each.
// Thread safety: a plain value; no synchronization needed.
enum class JobType : int { download = 0, upload = 1, upload_reply = 2 };

// Credentials (Job::set_credentials): for whom, and how they are sent.
// Thread safety: plain values; no synchronization needed.
enum class AuthTarget : int { server = 0, proxy = 1 };
enum class AuthScheme : int { basic = 0, digest = 1, bearer = 2 };

// How a job reaches the network (Job::set_proxy_settings), as BITS's
// BG_JOB_PROXY_USAGE: the environment's *_proxy variables (PRECONFIG, the
// default), no proxy, or the job's own list.
// Thread safety: plain values; no synchronization needed.
enum class ProxyUsage : int { preconfig = 0, no_proxy = 1, override_list = 2 };
struct ProxySettings {
  ProxyUsage usage = ProxyUsage::preconfig;
  std::string proxy_list;   // OVERRIDE: "host:port" entries, ';' or ' ' separated; the first is used
  std::string bypass_list;  // OVERRIDE: hosts reached directly, ';', ',' or ' ' separated
};

// A job's TLS identity and trust (Job::set_tls_options), BITS's client
// certificate and DO's certificate options as files: every path absolute,
// "" for none. Verification stays on whatever is set here.
// Thread safety: a plain value type; not synchronized.
struct TlsOptions {
  std::string ca_bundle;            // PEM file of CAs trusted instead of the queue's / system's
  std::string ca_directory;         // directory of hashed CA certificates (c_rehash), searched too
  std::string client_certificate;   // PEM client certificate for mutual TLS
  std::string client_key;           // its PEM private key ("": in client_certificate's file)
  std::string client_key_password;  // passphrase of an encrypted key; write-only: never read back
  // tls_options(): whether a passphrase is stored. Given to set_tls_options()
  // with client_key_password empty, it keeps the stored passphrase, so that
  // options read back, changed and written again lose nothing.
  bool has_client_key_password = false;
};

// A job's notify command line (Job::set_notify_command_line, BITS's
// SetNotifyCmdLine): a program, by absolute path, and its arguments, run
// without a shell when the job reaches TRANSFERRED or ERROR. Both empty: none.
// Thread safety: a plain value type; not synchronized.
struct NotifyCommandLine {
  std::string program;            // absolute path of an executable file
  std::vector<std::string> args;  // argv[1..]; every "{job}" becomes the job's id
};

// Where an error happened. xferq reports LOCAL_FILE (temp, target or upload
// file), REMOTE_FILE (HTTP status, unusable response, most network failures),
// GENERAL_TRANSPORT (DNS, connect, TLS, the no-progress timeout) and
// REMOTE_APPLICATION (an upload server's application, BITS-Error-Context 0x7).
// Thread safety: a plain value; no synchronization needed.
enum class ErrorContext : int {
  none = 0,
  unknown = 1,
  general_queue_manager = 2,
  queue_manager_notification = 3,
  local_file = 4,
  remote_file = 5,
  general_transport = 6,
  remote_application = 7,
};

// BITS's upper-case names ("QUEUED", "TRANSIENT_ERROR", "FOREGROUND",
// "UPLOAD_REPLY", "LOCAL_FILE", ...); "UNKNOWN" for a value outside the
// enumeration. The views point at static strings.
std::string_view to_string(JobState s) noexcept;
std::string_view to_string(JobPriority p) noexcept;
std::string_view to_string(JobType t) noexcept;
std::string_view to_string(ErrorContext c) noexcept;
// Parse those names, case-insensitively (parse_state also takes bitsadmin's
// "CANCELED"). False, *out untouched, if the name is unknown.
bool parse_state(std::string_view name, JobState* out) noexcept;
bool parse_priority(std::string_view name, JobPriority* out) noexcept;

// True for ACKNOWLEDGED and CANCELLED: nothing can change such a job any more.
constexpr bool is_final(JobState s) noexcept {
  return s == JobState::acknowledged || s == JobState::cancelled;
}

// A size not known yet (the server has not said it). BG_SIZE_UNKNOWN.
constexpr int64_t kSizeUnknown = -1;

// Job times are wall-clock times, stored with microsecond precision.
using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

// A job's progress (BG_JOB_PROGRESS), as last committed.
// Thread safety: a plain value type; not synchronized.
struct JobProgress {
  int64_t bytes_total = kSizeUnknown;  // kSizeUnknown until every file's size is known
  int64_t bytes_transferred = 0;
  uint32_t files_total = 0;
  uint32_t files_transferred = 0;
};

// A job's times (BG_JOB_TIMES).
// Thread safety: a plain value type; not synchronized.
struct JobTimes {
  TimePoint creation;
  TimePoint modification;  // bumped by every change: calls, state changes, progress
  std::optional<TimePoint> transfer_completion;  // set when the job reaches TRANSFERRED
};

// What a downloaded file must be (DO's IntegrityCheckInfo, aria2's
// --checksum): its size and / or its SHA-256 / SHA-512 as hex (either case;
// stored in lower case). Empty / kSizeUnknown: not checked.
// Thread safety: a plain value type; not synchronized.
struct FileIntegrity {
  int64_t size = -1;  // kSizeUnknown
  std::string sha256;
  std::string sha512;
  bool empty() const { return size < 0 && sha256.empty() && sha512.empty(); }
};

// One byte range of a remote file (BITS's BG_FILE_RANGE): `length` bytes from
// `offset`, or everything from `offset` on with kLengthToEof. A file added
// with ranges gets them back-to-back, in the order given, as its local file.
// Thread safety: a plain value type; not synchronized.
inline constexpr uint64_t kLengthToEof = UINT64_MAX;  // BG_LENGTH_TO_EOF
inline constexpr size_t kMaxRangesPerFile = 500;     // MaxRangesPerFile
struct FileRange {
  uint64_t offset = 0;
  uint64_t length = kLengthToEof;
  bool operator==(const FileRange& o) const { return offset == o.offset && length == o.length; }
};

// One file to add: where it comes from and the absolute local path it ends at
// (for uploads: the URL it goes to and the local file it comes from), and for
// downloads what it must be (checked before it counts as transferred).
// Thread safety: a plain value type; not synchronized.
struct FileSpec {
  FileSpec() = default;
  // {url, path} and {url, path, integrity} both work (and warn nowhere).
  FileSpec(std::string url, std::string path, FileIntegrity expected = FileIntegrity())
      : remote_url(std::move(url)), local_path(std::move(path)), integrity(std::move(expected)) {}
  std::string remote_url;
  std::string local_path;
  FileIntegrity integrity;
  // Downloads only: the ranges of the remote file that make up the local
  // file (Job::add_file_with_ranges); empty: the whole file.
  std::vector<FileRange> ranges;
};

// One file of a job, as Job::files() reports it.
// Thread safety: a plain value type; not synchronized.
struct FileInfo {
  std::string remote_url;
  std::string local_path;
  std::string temp_path;  // where the bytes are (or were) while the job runs; "" until recorded
  int64_t bytes_total = kSizeUnknown;
  int64_t bytes_transferred = 0;
  bool completed = false;  // every byte is on disk
  // Under kRedirectPolicyAllowReport: the URL the last response came from,
  // after redirects (credentials redacted); "" otherwise or before any.
  std::string final_url;
  // The last response to a download's request for this file (DO's
  // HttpStatusCode / HttpResponseHeaders): 0 and "" before any. Header
  // values are as the server sent them, control characters replaced by '?'
  // and cut at 1,024 bytes. etag / last_modified are the validators the
  // bytes on disk were fetched under (sent back in If-Range on resume).
  int http_status = 0;
  std::string etag;
  std::string last_modified;
  std::string content_type;
  std::string content_disposition;
  // What the file must be (Job::set_file_integrity); empty if unchecked.
  FileIntegrity integrity;
  // The ranges it was added with (Job::add_file_with_ranges); empty: the
  // whole remote file.
  std::vector<FileRange> ranges;
};

// Job::set_security_flags values, as BITS defines them (BG_HTTP_REDIRECT_POLICY_*).
inline constexpr uint32_t kRedirectPolicyAllowSilent = 0x0000;  // follow redirects (default)
inline constexpr uint32_t kRedirectPolicyAllowReport = 0x0100;  // follow, and record FileInfo::final_url
inline constexpr uint32_t kRedirectPolicyDisallow = 0x0200;     // a redirect is a fatal error
inline constexpr uint32_t kRedirectPolicyMask = 0x0700;
inline constexpr uint32_t kRedirectAllowHttpsToHttp = 0x0800;   // https may be redirected to http

// The last error of a job in ERROR or TRANSIENT_ERROR. For uploads the hresult
// may be one the server sent (BITS-Error-Code), e.g. BG_E_TOO_LARGE.
// Thread safety: a plain value type; not synchronized.
struct JobErrorInfo {
  uint32_t hresult = 0;        // e.g. 0x80190194 (BG_E_HTTP_ERROR_404)
  ErrorContext context = ErrorContext::none;
  std::string description;     // human-readable, in English
  std::optional<uint32_t> file_index;  // the file involved, if any
};

// What complete() did.
// Thread safety: a plain value; no synchronization needed.
enum class CompleteStatus {
  all_files = 0,  // S_OK: every file was renamed to its final name
  partial = 1,    // BG_S_PARTIAL_COMPLETE: only the finished files were kept
};

// A consistent snapshot of a job (one read), from Job::info() or
// Queue::job_infos(). The initializers below are a new job's defaults.
// Thread safety: a plain value type; not synchronized.
struct JobInfo {
  std::string id;
  JobType type = JobType::download;
  JobState state = JobState::suspended;
  JobPriority priority = JobPriority::normal;
  std::string display_name;
  std::string description;
  std::string owner;  // always "": xferq has no owners
  JobProgress progress;
  JobTimes times;
  uint32_t error_count = 0;
  std::optional<JobErrorInfo> error;  // present in ERROR / TRANSIENT_ERROR
  std::chrono::seconds minimum_retry_delay{600};
  std::chrono::seconds no_progress_timeout{1209600};
  // Job::set_max_download_size: 0, no limit.
  uint64_t max_download_size = 0;
  // Job::set_maximum_download_time: 90 days by default; and the time the
  // job has spent CONNECTING and TRANSFERRING since it was last resumed, as
  // recorded when the worker ends an attempt (an error, a shutdown, the last
  // file done). An attempt that suspend() stops is not added: resume() starts
  // the count from zero anyway.
  std::chrono::seconds maximum_download_time{7776000};
  std::chrono::seconds download_time_used{0};
};

}  // namespace xferq

#endif  // XFERQ_TYPES_H_
