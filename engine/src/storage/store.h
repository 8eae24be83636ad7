// store.h — the storage seam: everything the engine asks of its queue.
//
// The engine (the API's calls in queue_core.cc, the outbox, the worker) talks
// to the queue only through this interface, by meaning — create a job, cancel
// it, claim the next runnable one, commit progress, read the outbox — never by
// SQL. A backend implements it in its own files under storage/: today SQLite
// (sqlite_store.h); Store::open() picks the backend from the path. SQL lives
// only in a backend's files and in schema/.
//
// The contract every backend keeps (docs/architecture.md, "Invariants"):
// - each call that writes is one transaction, and a refused call changes
//   nothing;
// - state changes follow the state-machine table (state_machine.h) and bump
//   the job's generation;
// - every worker write is conditional on the claim's generation: a write from
//   a stale view changes nothing and answers WriteOutcome::stale, so a
//   decision made by an API call is never overwritten;
// - Cancel and Complete enqueue their filesystem effects (FileOp rows, the
//   outbox) in the same transaction as the state change.
//
// Thread safety: a Store is safe to call from any thread; calls are serialized
// by the backend. Other processes may use the same queue at the same time.
#ifndef XFERQ_STORAGE_STORE_H_
#define XFERQ_STORAGE_STORE_H_

#include <array>
#include <cstdint>
#include <map>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state_machine.h"
#include "xferq/bandwidth.h"
#include "xferq/options.h"
#include "xferq/result.h"
#include "xferq/types.h"

namespace xferq::detail {

// delete_temps (cancel), finalize (complete): filesystem effects, applied by
// the Outbox. cancel_session: a network effect (Cancel-Session for a cancelled
// upload), carried out by the worker only — see pending_cancel_sessions().
enum class OpKind : int { delete_temps = 1, finalize = 2, cancel_session = 3 };

// One row of the outbox.
struct FileOp {
  FileOp() = default;
  FileOp(int64_t id_, std::string job, OpKind k, std::optional<std::vector<std::string>> paths)
      : id(id_), job_id(std::move(job)), kind(k), temp_paths(std::move(paths)) {}
  int64_t id = 0;
  std::string job_id;
  OpKind kind = OpKind::delete_temps;
  // Filled by cancel(): the temp files to delete, read in its transaction
  // (saves a second trip to the database on the hot path).
  std::optional<std::vector<std::string>> temp_paths;
  // Filled by cancel() and complete(): the job's generation after the call.
  int64_t job_generation = 0;
  // The host whose files the operation touches ("": this process's, as with
  // a SQLite queue). On a shared queue only that host carries it out.
  std::string host;
  // cancel_session only: where to send it, which session, and its history.
  std::string url;
  std::string session_id;
  int64_t created_us = 0;
  int64_t attempts = 0;
};

// What the worker needs to run an upload job besides its file row.
struct UploadJob {
  std::string session_id;   // "" : no session yet (Create-Session first)
  std::string reply_url;    // upload-reply: BITS-Reply-URL once the last fragment was acknowledged
  std::string reply_target; // upload-reply: where complete() puts the reply
};

// A file row as the worker and the outbox need it.
struct FileRow {
  int64_t idx = 0;
  std::string remote_url;
  std::string local_path;
  std::string temp_path;  // "" if none recorded
  int64_t bytes_total = kSizeUnknown;
  int64_t bytes_transferred = 0;
  std::string etag;
  std::string last_modified;
  bool completed = false;
  std::string final_url;
  int http_status = 0;  // the last response's (0: none yet)
  FileIntegrity expected;  // what the file must be (empty: unchecked)
  std::string content_type;
  std::string content_disposition;
  std::vector<FileRange> ranges;  // Job::add_file_with_ranges; empty: the whole file
};

// What a response said about its file (FileInfo's response metadata), as
// the worker records it once per response.
struct ResponseMeta {
  int http_status = 0;
  std::string final_url;  // "" unless the redirect policy reports it; redacted
  std::string content_type;
  std::string content_disposition;
};

// One credential of a job (Job::set_credentials).
struct Credential {
  AuthTarget target = AuthTarget::server;
  AuthScheme scheme = AuthScheme::basic;
  std::string user;
  std::string password;
};

// A job the worker has taken from the queue, at the generation it saw.
struct Claim {
  std::string job_id;
  int64_t generation = 0;
  JobType type = JobType::download;
  std::vector<std::string> custom_headers;  // sent with every request of this run
  uint32_t security_flags = 0;               // the redirect policy (types.h)
  ProxySettings proxy;                       // how its requests reach the network
  TlsOptions tls;                            // its CAs and client identity (passphrase included)
  uint64_t max_download_size = 0;            // bytes for the whole job; 0: no limit
  int64_t download_time_left_us = 0;         // of its maximum download time, at the claim
};

// Bandwidth (sqlite_bandwidth.cc): what the queue file holds for every
// process (schema 012).
struct BandwidthSettings {
  std::optional<int64_t> queue_limit;        // nullopt: never set (QueueOptions::bandwidth_limit applies)
  std::array<int64_t, 4> priority_limits{};  // by JobPriority; 0: none
  std::vector<BandwidthWindow> schedule;     // in order (the first matching window wins)
};
// A running job's inputs to the allocator.
struct JobBandwidth {
  JobPriority priority = JobPriority::normal;
  int64_t limit = 0;  // Job::set_bandwidth_limit; 0: none
};

// What a worker write did.
enum class WriteOutcome { applied, stale };

// The queue as the scheduler sees it (Store::scheduling_view).
struct SchedulingView {
  // QUEUED jobs by priority, indexed by JobPriority's value (0 FOREGROUND ..
  // 3 LOW).
  int64_t queued[4] = {0, 0, 0, 0};
  // The held jobs that still exist, with their priority now.
  std::vector<std::pair<std::string, JobPriority>> running;
};

// What finishing a file led to.
enum class FileFinish { more_files, job_transferred, stale };

// An error the worker reports.
struct TransferFailure {
  uint32_t hresult = 0;
  ErrorContext context = ErrorContext::unknown;
  std::string description;
  std::optional<int64_t> file_index;
  bool transient = true;
  // The server's Retry-After (503, 429), in seconds from the failure: the
  // retry waits for it when it is longer than the job's minimum retry delay.
  std::optional<int64_t> retry_after_s;
};

// Properties settable in any non-final state.
enum class Property {
  priority,
  display_name,
  description,
  retry_delay_s,
  no_progress_timeout_s,
  reply_file_name,
  custom_headers,  // "Name: value" lines, '\n'-separated; "" clears
  security_flags,  // BITS's redirect flags (types.h)
  max_download_size,    // bytes; 0: no limit
  max_download_time_s,  // seconds CONNECTING + TRANSFERRING
};

// Where this process keeps the files that sit beside a queue — the worker's
// lock "<base>-worker.lock" and wake-up socket "<base>-worker.sock": the
// queue file's own path for SQLite; for a server's URL a name under the temp
// directory made from a hash of the URL and the host identity (one serving
// worker per queue and host).
std::string local_files_base(const std::string& path, const std::string& host);

// The identity this process works a shared (server) queue as: `configured`
// (QueueOptions::host_id) if set, else XFERQ_HOST_ID, else
// "<hostname>-<first 12 hex digits of /etc/machine-id>". Several identities
// on one machine act as several hosts (tests, and workers that must not
// share temp files).
std::string host_identity(const std::string& configured);

// Opens a server queue (a postgresql:// URL): PgStore::open in a library
// built with the PostgreSQL backend; otherwise, and in the control library,
// E_NOTIMPL (storage/no_server_store.cc) — never a SQLite file named like a URL.
class Store;
Result<std::unique_ptr<Store>> open_server_store(const std::string& url, const QueueOptions& options);

class Store {
 public:
  // Opens (creating and migrating if needed) the queue at `path` with the
  // backend the path names. XFERQ_E_DATABASE_CORRUPT for a damaged file or
  // another application's database, XFERQ_E_SCHEMA_TOO_NEW for a newer one.
  static Result<std::unique_ptr<Store>> open(const std::string& path, const QueueOptions& options);
  virtual ~Store() = default;

  // The host identity this store works a shared queue as (pg_store.h); ""
  // for a queue only this machine uses (SQLite). An outbox operation whose
  // host is set and differs is another host's to carry out (Outbox).
  virtual const std::string& host() const {
    static const std::string none;
    return none;
  }

  // ---- Jobs, for API calls -------------------------------------------------
  // A new job in the table's initial state.
  virtual std::error_code create_job(const std::string& id, std::string_view display_name, JobType type,
                                     int64_t now_us) = 0;
  // Snapshots; BG_E_NOT_FOUND if the job does not exist.
  virtual Result<JobInfo> job_info(const std::string& id) = 0;
  virtual Result<JobState> job_state(const std::string& id) = 0;
  virtual Result<JobType> job_type(const std::string& id) = 0;
  virtual Result<std::vector<FileInfo>> files(const std::string& id) = 0;
  // Every job (final ones if asked), in creation order.
  virtual Result<std::vector<JobInfo>> job_infos(bool include_final) = 0;
  virtual Result<std::vector<std::string>> job_ids(bool include_final) = 0;
  virtual Result<uint32_t> security_flags(const std::string& id) = 0;
  // Credentials: replaced by (job, target, scheme); removed; all of a job's
  // (for the worker, at each start). BG_E_NOT_FOUND / DO_E_INVALID_STATE as
  // for a property.
  virtual std::error_code set_credentials(const std::string& id, AuthTarget target, AuthScheme scheme,
                                          std::string_view user, std::string_view password, int64_t now_us) = 0;
  virtual std::error_code remove_credentials(const std::string& id, AuthTarget target, AuthScheme scheme,
                                             int64_t now_us) = 0;
  virtual Result<std::vector<Credential>> credentials(const std::string& id) = 0;
  virtual std::error_code set_proxy_settings(const std::string& id, const ProxySettings& settings, int64_t now_us) = 0;
  virtual Result<ProxySettings> proxy_settings(const std::string& id) = 0;
  // TLS options, the passphrase included (for the worker; Job::tls_options
  // blanks it).
  virtual std::error_code set_tls_options(const std::string& id, const TlsOptions& tls, int64_t now_us) = 0;
  virtual Result<TlsOptions> tls_options(const std::string& id) = 0;
  // The notify command line (program "" and no args: none). BG_E_NOT_FOUND /
  // DO_E_INVALID_STATE as for a property.
  virtual std::error_code set_notify_command_line(const std::string& id, const NotifyCommandLine& command,
                                                  int64_t now_us) = 0;
  virtual Result<NotifyCommandLine> notify_command_line(const std::string& id) = 0;
  // New remote names (downloads): file `idx`'s URL, or every URL starting
  // with `old_prefix` rewritten — each new URL passing `check_url` inside the
  // transaction, all or none. E_INVALIDARG for an idx past the last file;
  // BG_E_NOT_FOUND / DO_E_INVALID_STATE as for a property.
  using UrlCheck = std::function<std::error_code(const std::string&)>;
  virtual std::error_code set_remote_name(const std::string& id, int64_t idx, const std::string& url,
                                          int64_t now_us) = 0;
  virtual std::error_code replace_remote_prefix(const std::string& id, const std::string& old_prefix,
                                                const std::string& new_prefix, const UrlCheck& check_url,
                                                int64_t now_us) = 0;
  // A file's expected size and digests (canonical): only while the file is
  // not transferred (DO_E_INVALID_STATE otherwise, and on final jobs);
  // E_INVALIDARG for an idx past the last file.
  virtual std::error_code set_file_integrity(const std::string& id, int64_t idx, const FileIntegrity& expected,
                                             int64_t now_us) = 0;
  // set_validation_state(false): decide(invalidate_file); the transferred
  // file back to zero bytes, the job in ERROR (BG_E_VALIDATION_FAILED,
  // LOCAL_FILE, the file's index). Returns the file's temp path (for the
  // caller to delete). DO_E_INVALID_STATE if the file is not transferred.
  virtual Result<std::string> invalidate_file(const std::string& id, int64_t idx, int64_t now_us,
                                              Decision* decision) = 0;
  // Records what a file's last response said (status, headers, the final
  // URL if reported). Conditional on the claim's generation.
  virtual Result<WriteOutcome> record_response(const Claim& claim, int64_t idx, const ResponseMeta& meta) = 0;
  // The job's custom headers, '\n'-separated ("" if none).
  virtual Result<std::string> custom_headers(const std::string& id) = 0;
  // Upload-reply jobs: where complete() puts the reply (the reply file name,
  // or the upload file's path + ".reply"); nullopt for other jobs.
  virtual Result<std::optional<std::string>> reply_target(const std::string& id) = 0;

  // Adds files after checking the state (decide(add_file)), the file limits,
  // and that no active job targets the same local paths.
  virtual std::error_code add_files(const std::string& id, const std::vector<FileSpec>& files,
                                    int64_t max_files, int64_t now_us, Decision* decision) = 0;
  // suspend / resume: decide by the table and apply.
  virtual std::error_code apply_call(const std::string& id, Call call, int64_t now_us, Decision* decision) = 0;
  // Cancel's transaction: CANCELLED, generation+1, one outbox row (plus a
  // cancel-session row for an upload with an open session). Returns the
  // delete-temps op, with the job's temp paths read in the same transaction
  // if asked. DO_E_INVALID_STATE / BG_E_NOT_FOUND change nothing.
  virtual Result<FileOp> cancel(const std::string& id, int64_t now_us, bool with_paths) = 0;
  // Complete's transaction: ACKNOWLEDGED, generation+1, one outbox row;
  // durable even under synchronous=NORMAL, as its renames are.
  // *previous receives the state the job was in.
  virtual Result<FileOp> complete(const std::string& id, int64_t now_us, Decision* decision,
                                  JobState* previous) = 0;
  // Complete's checks failed before any rename: withdraws its outbox row and
  // returns the job to `previous` — unless recovery took the row first
  // (take_op_for_recovery), in which case nothing changes and the answer is
  // false: the decision stands and must be carried out.
  virtual Result<bool> complete_failed(const FileOp& op, JobState previous, int64_t now_us) = 0;
  virtual std::error_code set_property(const std::string& id, Property property, int64_t int_value,
                                       std::string_view text_value, int64_t now_us) = 0;

  // Jobs not final whose last change is older than `before_us`.
  virtual Result<std::vector<std::string>> inactive_jobs(int64_t before_us) = 0;
  // Deletes final jobs (and their file rows) last changed before `before_us`
  // that have no pending file operation. Returns how many.
  virtual Result<int64_t> purge_final(int64_t before_us) = 0;

  // ---- The outbox ----------------------------------------------------------
  // Pending filesystem operations (delete_temps, finalize), oldest first.
  virtual Result<std::vector<FileOp>> pending_ops() = 0;
  virtual Result<std::vector<FileRow>> job_files(const std::string& job_id) = 0;
  // The state a finalize op's job was in before Complete.
  virtual Result<JobState> op_previous_state(const FileOp& op) = 0;
  // The op is done: its row is removed with the next write (or flush_retired()).
  virtual void retire_op(int64_t op_id) = 0;
  virtual void retire_ops(const std::vector<int64_t>& op_ids) = 0;
  virtual std::error_code flush_retired() = 0;
  // The recorded temp paths of each job, in one read.
  virtual Result<std::vector<std::vector<std::string>>> temp_paths(const std::vector<std::string>& job_ids) = 0;
  // Recovery is about to carry out this finalize op: marks it taken (so the
  // Complete that made it can no longer withdraw it). False if the row is
  // gone (that Complete withdrew it, or it is done).
  virtual Result<bool> take_op_for_recovery(int64_t op_id) = 0;
  // The op failed this time: counted and explained in its row; it stays.
  virtual std::error_code note_op_failure(int64_t op_id, const std::string& why) = 0;

  // ---- The worker ----------------------------------------------------------
  // worker_transition(start) for up to `limit` jobs by priority, then queue
  // order, skipping `skip` (jobs the worker still holds).
  virtual Result<std::vector<Claim>> claim_next(int limit, const std::vector<std::string>& skip,
                                                int64_t now_us) = 0;
  // The job's current generation, or nullopt if the job is gone.
  virtual Result<std::optional<int64_t>> generation(const std::string& job_id) = 0;
  // The first file not yet completed, or nullopt if all are.
  virtual Result<std::optional<FileRow>> next_file(const std::string& job_id) = 0;
  // A file index and the temp path its bytes go to.
  using TempPathRow = std::pair<int64_t, std::string>;
  // Records temp paths (the first row's file is the one about to start; a
  // download also records its later files', so that a job of many files
  // syncs once, not once per file), durably even under synchronous=NORMAL
  // (the commit is synced), before any of those files can exist: a power
  // cut must never leave a temp file that no row names. One transaction,
  // conditional on the claim's generation (stale: nothing recorded).
  virtual Result<WriteOutcome> record_temp_paths(const Claim& claim, const std::vector<TempPathRow>& rows) = 0;
  // Records the file's temp path and runs `open_or_create` (which opens or
  // creates that file) inside one write transaction that first checks the
  // claim's generation. A cancel or complete from any process therefore
  // either commits before (stale: nothing is created) or after (its deletion
  // finds the recorded file). If open_or_create fails, nothing is recorded.
  virtual Result<WriteOutcome> guard_temp_file(const Claim& claim, int64_t idx, const std::string& path,
                                               const std::function<std::error_code()>& open_or_create) = 0;
  // worker_transition(connected); updates claim->generation.
  virtual Result<WriteOutcome> mark_connected(Claim* claim, int64_t now_us) = 0;
  // Bytes durable on disk, the size and validators the server gave.
  virtual Result<WriteOutcome> commit_progress(const Claim& claim, const FileRow& file, int64_t now_us) = 0;
  // The file's bytes are all on disk (and fsynced); idx -1: no file, only the
  // job. If it was the last, worker_transition(all_files_done)
  // (claim->generation updated).
  virtual Result<FileFinish> finish_file(Claim* claim, const FileRow& file, int64_t now_us) = 0;
  // A failed attempt: transient_error (retry later) or fatal_error, and fatal
  // when the no-progress timeout would pass first. *state_after says which.
  virtual Result<WriteOutcome> fail(const Claim& claim, const TransferFailure& failure, int64_t now_us,
                                    JobState* state_after) = 0;
  // worker_transition(interrupted): the worker let go of a running job.
  virtual Result<WriteOutcome> release(const Claim& claim, int64_t now_us) = 0;
  // worker_transition(event) for a running job whose slot the loop takes back
  // (WorkerEvent::preempted, WorkerEvent::slice_over): back to QUEUED, in its
  // place or behind its priority as the table's to_back says. Conditional on
  // the claim's generation.
  virtual Result<WriteOutcome> requeue_running(const Claim& claim, WorkerEvent event, int64_t now_us) = 0;
  // What the scheduler weighs (worker/scheduler.h), in one read: how many
  // jobs wait in QUEUED at each priority, and the current priority of each
  // of `held` (the jobs the worker runs; a job gone is left out).
  virtual Result<SchedulingView> scheduling_view(const std::vector<std::string>& held) = 0;
  // worker_transition(retry_due) for jobs whose delay passed and
  // worker_transition(no_progress_expired) for those past their no-progress
  // timeout (their ids in *expired). Returns how many went back to the queue.
  virtual Result<int64_t> requeue_due(int64_t now_us, std::vector<std::string>* expired) = 0;
  // When the next retry is due, if any job waits for one.
  virtual Result<std::optional<int64_t>> next_retry_us() = 0;
  // The finished files (completed, with a temp path) of jobs not final, for
  // the worker to check that their bytes are still on disk.
  virtual Result<std::vector<std::pair<std::string, FileRow>>> finished_files() = 0;
  // A finished file whose bytes are gone (a Cancel rolled back by a power
  // cut after its deletions, someone's rm): back to unfinished with no byte,
  // and the job's state as decide(add_file) says (TRANSFERRED -> SUSPENDED:
  // it no longer has all its files). Generation-checked by the row itself.
  // Only while the job is not final and the row still names `temp_path`: a
  // Complete that renamed the file after the worker looked leaves it alone.
  virtual std::error_code reopen_lost_file(const std::string& job_id, int64_t idx, const std::string& temp_path,
                                           int64_t now_us) = 0;
  // After a crash: worker_transition(interrupted) for every job left running.
  virtual std::error_code recover_interrupted(int64_t now_us) = 0;

  // ---- Uploads (the worker) -------------------------------------------------
  virtual Result<UploadJob> upload_job(const std::string& job_id) = 0;
  // A new session (Create-Session acknowledged): stores its id and restarts
  // the acknowledged count at 0 of `size` bytes; "" forgets the session
  // (BG_E_SESSION_NOT_FOUND). Conditional on the claim's generation.
  virtual Result<WriteOutcome> set_upload_session(const Claim& claim, int64_t idx, const std::string& session_id,
                                                  int64_t size, int64_t now_us) = 0;
  // BITS-Reply-URL of an upload-reply job whose last fragment was acknowledged.
  virtual Result<WriteOutcome> set_reply_url(const Claim& claim, const std::string& url, int64_t now_us) = 0;
  // Pending Cancel-Session operations (oldest first).
  virtual Result<std::vector<FileOp>> pending_cancel_sessions() = 0;

  // A number that changes whenever another connection (or process) commits;
  // the worker polls it to notice calls made elsewhere.
  virtual Result<int64_t> change_counter() = 0;
  // A descriptor that becomes readable when another connection commits (the
  // worker adds it to its poll and reads change_counter() at once), or -1
  // when the backend has none and the poll of change_counter() is all there is.
  // It may change after change_counter() reconnected: ask again each time.
  virtual int change_fd() { return -1; }
  // Renews this host's lease on the running jobs it holds (`held`: their
  // ids), transferring or not, and records that the host is alive. A no-op
  // for a queue only one machine uses. The worker calls it every third of
  // QueueOptions::host_lease.
  virtual std::error_code renew_leases(const std::vector<std::string>& held) {
    (void)held;
    return {};
  }

  // ---- Bandwidth (sqlite_bandwidth.cc) -------------------------------------
  // The queue-wide settings and schedule, in one read.
  virtual Result<BandwidthSettings> bandwidth_settings() = 0;
  // Stores the queue-wide limit (nullopt forgets it) / one priority's limit /
  // the whole schedule (replacing it). One transaction each.
  virtual std::error_code set_queue_bandwidth_limit(std::optional<int64_t> bytes_per_sec) = 0;
  virtual std::error_code set_priority_bandwidth_limit(JobPriority priority, int64_t bytes_per_sec) = 0;
  virtual std::error_code set_bandwidth_schedule(const std::vector<BandwidthWindow>& schedule) = 0;
  // A job's own limit: settable in any state that is not final (as
  // set_property); not_found / invalid_state otherwise.
  virtual std::error_code set_job_bandwidth_limit(const std::string& id, int64_t bytes_per_sec,
                                                  int64_t now_us) = 0;
  virtual Result<int64_t> job_bandwidth_limit(const std::string& id) = 0;
  // The worker: the settings and, for each of `job_ids` still in the queue,
  // its priority and limit, in one read.
  virtual Result<std::pair<BandwidthSettings, std::map<std::string, JobBandwidth>>> bandwidth_state(
      const std::vector<std::string>& job_ids) = 0;
};

// The upload file whose default reply (its path + ".reply") is `target`; ""
// (which names no file) if `target` does not end so. The backends' target
// checks search files by it.
std::string reply_source(const std::string& target);

// The files as the API shows them (FileInfo): URLs redacted. Shared by the
// backends' Store::files().
std::vector<FileInfo> file_infos(const std::vector<FileRow>& rows);

}  // namespace xferq::detail

#endif  // XFERQ_STORAGE_STORE_H_
