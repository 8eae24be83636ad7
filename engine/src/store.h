// store.h — the only place that speaks SQL.
//
// One SQLite connection per Store, serialized by a mutex: every in-process
// caller (API threads and the worker) takes turns in FIFO-ish order instead of
// meeting SQLite's sleeping busy handler, which starves writers under
// contention. Other processes are met by the busy timeout. Every write is one
// short BEGIN IMMEDIATE transaction; statements are prepared once and cached.
//
// Every worker write is conditional on the job's generation (bumped on each
// state change): a write from a stale view changes nothing and reports it, so
// a decision made by an API call is never overwritten.
#ifndef XFERQ_STORE_H_
#define XFERQ_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "state_machine.h"
#include "xferq/options.h"
#include "xferq/result.h"
#include "xferq/types.h"

namespace SQLite {
class Database;
class Statement;
class Exception;
}  // namespace SQLite

namespace xferq::detail {

// delete_temps (cancel), finalize (complete): filesystem effects, applied by
// QueueCore::apply_op. cancel_session: a network effect (Cancel-Session for a
// cancelled upload), carried out by the worker only — see pending_cancel_sessions().
enum class OpKind : int { delete_temps = 1, finalize = 2, cancel_session = 3 };

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
};

// A job the worker has taken from the queue.
struct Claim {
  std::string job_id;
  int64_t generation = 0;
  JobType type = JobType::download;
};

// What a worker write did.
enum class WriteOutcome { applied, stale };

// What finishing a file led to.
enum class FileFinish { more_files, job_transferred, stale };

// An error the worker reports.
struct TransferFailure {
  uint32_t hresult = 0;
  ErrorContext context = ErrorContext::unknown;
  std::string description;
  std::optional<int64_t> file_index;
  bool transient = true;
};

// Properties settable in any non-final state.
enum class Property { priority, display_name, description, retry_delay_s, no_progress_timeout_s, reply_file_name };

class Store {
 public:
  static Result<std::unique_ptr<Store>> open(const std::string& path, const QueueOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // ---- Jobs, for API calls -------------------------------------------------
  std::error_code create_job(const std::string& id, std::string_view display_name, JobType type,
                             int64_t now_us);
  Result<JobInfo> job_info(const std::string& id);
  Result<JobState> job_state(const std::string& id);
  Result<std::vector<JobInfo>> job_infos(bool include_final);
  Result<std::vector<std::string>> job_ids(bool include_final);
  Result<std::vector<FileInfo>> files(const std::string& id);
  Result<JobType> job_type(const std::string& id);
  // Upload-reply jobs: where complete() puts the reply (the reply file name,
  // or the upload file's path + ".reply"); nullopt for other jobs.
  Result<std::optional<std::string>> reply_target(const std::string& id);

  // Adds files after checking the state and that no active job targets the
  // same local paths. `temp_dir_ok` was checked by the caller.
  std::error_code add_files(const std::string& id, const std::vector<FileSpec>& files,
                            int64_t max_files, int64_t now_us, Decision* decision);
  // suspend / resume: decide by the table and apply.
  std::error_code apply_call(const std::string& id, Call call, int64_t now_us, Decision* decision);
  // Cancel's transaction: CANCELLED, generation+1, one outbox row (plus a
  // cancel-session row for an upload with an open session). Returns the
  // delete-temps op, with the job's temp paths read in the same transaction
  // if asked.
  Result<FileOp> cancel(const std::string& id, int64_t now_us, bool with_paths);
  // Complete's transaction: ACKNOWLEDGED, generation+1, one outbox row.
  Result<FileOp> complete(const std::string& id, int64_t now_us, Decision* decision,
                          JobState* previous);
  // Complete could not rename every file: the job returns to `previous`; files
  // already renamed are marked so that a retry skips them.
  std::error_code complete_failed(const FileOp& op, JobState previous,
                                  const std::vector<int64_t>& renamed_idx, const std::string& why,
                                  int64_t now_us);
  std::error_code set_property(const std::string& id, Property property, int64_t int_value,
                               std::string_view text_value, int64_t now_us);

  // Jobs not final whose last change is older than `before_us`.
  Result<std::vector<std::string>> inactive_jobs(int64_t before_us);
  // Deletes final jobs (and their file rows) last changed before `before_us`
  // that have no pending file operation. Returns how many.
  Result<int64_t> purge_final(int64_t before_us);

  // ---- The outbox ----------------------------------------------------------
  // Pending filesystem operations (kinds 1 and 2; Cancel-Session rows are
  // the worker's, see pending_cancel_sessions()).
  Result<std::vector<FileOp>> pending_ops();
  Result<std::vector<FileRow>> job_files(const std::string& job_id);
  Result<JobState> op_previous_state(const FileOp& op);
  // The op is done: its row is removed with the next write (or flush_retired()).
  void retire_op(int64_t op_id);
  void retire_ops(const std::vector<int64_t>& op_ids);
  // The recorded temp paths of each job, in one read.
  Result<std::vector<std::vector<std::string>>> temp_paths(const std::vector<std::string>& job_ids);
  std::error_code note_op_failure(int64_t op_id, const std::string& why);
  std::error_code flush_retired();

  // ---- The worker ----------------------------------------------------------
  // QUEUED -> CONNECTING for up to `limit` jobs by priority, then queue order,
  // skipping `skip` (jobs the worker still holds).
  Result<std::vector<Claim>> claim_next(int limit, const std::vector<std::string>& skip,
                                        int64_t now_us);
  // The job's current generation, or nullopt if the job is gone.
  Result<std::optional<int64_t>> generation(const std::string& job_id);
  // The first file not yet completed, or nullopt if all are.
  Result<std::optional<FileRow>> next_file(const std::string& job_id);
  // Records the file's temp path and runs `open_or_create` (which opens or
  // creates that file) inside one write transaction that first checks the
  // claim's generation. A cancel or complete from any process therefore
  // either commits before (stale: nothing is created) or after (its deletion
  // finds the recorded file). If open_or_create fails, nothing is recorded.
  Result<WriteOutcome> guard_temp_file(const Claim& claim, int64_t idx, const std::string& path,
                                       const std::function<std::error_code()>& open_or_create);
  // CONNECTING -> TRANSFERRING; updates claim->generation.
  Result<WriteOutcome> mark_connected(Claim* claim, int64_t now_us);
  // Bytes durable on disk, the size and validators the server gave.
  Result<WriteOutcome> commit_progress(const Claim& claim, const FileRow& file, int64_t now_us);
  // The file's bytes are all on disk (and fsynced). If it was the last, the job
  // becomes TRANSFERRED (claim->generation updated).
  Result<FileFinish> finish_file(Claim* claim, const FileRow& file, int64_t now_us);
  // A failed attempt: TRANSIENT_ERROR (retry later) or ERROR. *state_after says which.
  Result<WriteOutcome> fail(const Claim& claim, const TransferFailure& failure, int64_t now_us,
                            JobState* state_after);
  // The worker let go of a running job: back to QUEUED.
  Result<WriteOutcome> release(const Claim& claim, int64_t now_us);
  // TRANSIENT_ERROR jobs whose delay passed -> QUEUED; those past their
  // no-progress timeout -> ERROR (their ids in *expired).
  // Returns how many went back to QUEUED.
  Result<int64_t> requeue_due(int64_t now_us, std::vector<std::string>* expired);
  // When the next TRANSIENT_ERROR job is due, if any.
  Result<std::optional<int64_t>> next_retry_us();
  // After a crash: CONNECTING / TRANSFERRING -> QUEUED.
  std::error_code recover_interrupted(int64_t now_us);
  // ---- Uploads (the worker) -------------------------------------------------
  Result<UploadJob> upload_job(const std::string& job_id);
  // A new session (Create-Session acknowledged): stores its id and restarts
  // the acknowledged count at 0 of `size` bytes; "" forgets the session
  // (BG_E_SESSION_NOT_FOUND). Conditional on the claim's generation.
  Result<WriteOutcome> set_upload_session(const Claim& claim, int64_t idx, const std::string& session_id,
                                          int64_t size, int64_t now_us);
  // BITS-Reply-URL of an upload-reply job whose last fragment was acknowledged.
  Result<WriteOutcome> set_reply_url(const Claim& claim, const std::string& url, int64_t now_us);
  // Pending Cancel-Session operations (oldest first).
  Result<std::vector<FileOp>> pending_cancel_sessions();

  // Changes when another connection commits (PRAGMA data_version).
  Result<int64_t> data_version();

 private:
  Store(std::unique_ptr<SQLite::Database> db, const QueueOptions& options);
  SQLite::Statement& prepare(const char* sql);
  std::error_code write_txn(const std::function<std::error_code()>& body);
  template <typename T>
  Result<T> read(const std::function<T()>& body);
  // A write transaction that answers a value: `body` updates it from `initial`
  // and returns an error (rolled back, the error is the answer) or {}.
  template <typename T>
  Result<T> write_value(T initial, const std::function<std::error_code(T&)>& body);
  std::error_code flush_retired_locked();
  std::error_code state_error_locked(const std::string& id);  // not_found or invalid_state
  std::optional<JobState> state_locked(const std::string& id);
  FileFacts facts_locked(const std::string& id);

  std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;
  std::unordered_map<const char*, std::unique_ptr<SQLite::Statement>> cache_;
  std::vector<int64_t> retired_ops_;
  QueueOptions options_;
};

std::error_code to_error(const SQLite::Exception& e);

}  // namespace xferq::detail

#endif  // XFERQ_STORE_H_
