// sqlite_store.h — the SQLite backend of the storage seam (store.h).
//
// One SQLite connection per store, serialized by a mutex: every in-process
// caller (API threads and the worker) takes turns in FIFO-ish order instead of
// meeting SQLite's sleeping busy handler, which starves writers under
// contention. Other processes are met by the busy timeout. Every write is one
// short BEGIN IMMEDIATE transaction; statements are prepared once and cached.
// The application's state calls (cancel, suspend, resume) are group-committed
// (commit_group.h): callers that arrive together share one transaction, each
// in its own savepoint.
//
// Its statements are spread over three files by the side of the engine they
// serve: sqlite_store.cc (opening, migrations, plumbing), sqlite_jobs.cc (the
// API's calls and housekeeping), sqlite_worker.cc (the worker and the outbox).
// State numbers in the SQL come from the state-machine table (sqlite_sql.h).
//
// Thread safety: as Store — any thread; calls are serialized by mu_.
#ifndef XFERQ_STORAGE_SQLITE_STORE_H_
#define XFERQ_STORAGE_SQLITE_STORE_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/commit_group.h"
#include "storage/sqlite_checkpointer.h"
#include "storage/store.h"
#include "xferq/error.h"

#include <SQLiteCpp/Exception.h>  // caught in read(), defined here

namespace SQLite {
class Database;
class Statement;
}  // namespace SQLite

namespace xferq::detail {

class SqliteStore final : public Store {
 public:
  // Opens or creates the queue file at `path` and brings its schema up to
  // date (schema/NNN_*.sql, by PRAGMA user_version).
  static Result<std::unique_ptr<Store>> open(const std::string& path, const QueueOptions& options);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Jobs, for API calls (sqlite_jobs.cc).
  std::error_code create_job(const std::string& id, std::string_view display_name, JobType type,
                             int64_t now_us) override;
  Result<JobInfo> job_info(const std::string& id) override;
  Result<JobState> job_state(const std::string& id) override;
  Result<JobType> job_type(const std::string& id) override;
  Result<std::vector<FileInfo>> files(const std::string& id) override;
  Result<std::vector<JobInfo>> job_infos(bool include_final) override;
  Result<std::vector<std::string>> job_ids(bool include_final) override;
  Result<std::optional<std::string>> reply_target(const std::string& id) override;
  Result<std::string> custom_headers(const std::string& id) override;
  Result<uint32_t> security_flags(const std::string& id) override;
  std::error_code set_credentials(const std::string& id, AuthTarget target, AuthScheme scheme, std::string_view user,
                                  std::string_view password, int64_t now_us) override;
  std::error_code remove_credentials(const std::string& id, AuthTarget target, AuthScheme scheme,
                                     int64_t now_us) override;
  Result<std::vector<Credential>> credentials(const std::string& id) override;
  std::error_code set_proxy_settings(const std::string& id, const ProxySettings& settings, int64_t now_us) override;
  Result<ProxySettings> proxy_settings(const std::string& id) override;
  std::error_code set_tls_options(const std::string& id, const TlsOptions& tls, int64_t now_us) override;
  Result<TlsOptions> tls_options(const std::string& id) override;
  std::error_code set_notify_command_line(const std::string& id, const NotifyCommandLine& command,
                                          int64_t now_us) override;
  Result<NotifyCommandLine> notify_command_line(const std::string& id) override;
  std::error_code set_remote_name(const std::string& id, int64_t idx, const std::string& url,
                                  int64_t now_us) override;
  std::error_code replace_remote_prefix(const std::string& id, const std::string& old_prefix,
                                        const std::string& new_prefix, const UrlCheck& check_url,
                                        int64_t now_us) override;
  Result<WriteOutcome> record_response(const Claim& claim, int64_t idx, const ResponseMeta& meta) override;
  std::error_code set_file_integrity(const std::string& id, int64_t idx, const FileIntegrity& expected,
                                     int64_t now_us) override;
  Result<std::string> invalidate_file(const std::string& id, int64_t idx, int64_t now_us,
                                      Decision* decision) override;
  std::error_code add_files(const std::string& id, const std::vector<FileSpec>& files, int64_t max_files,
                            int64_t now_us, Decision* decision) override;
  std::error_code apply_call(const std::string& id, Call call, int64_t now_us, Decision* decision) override;
  Result<FileOp> cancel(const std::string& id, int64_t now_us, bool with_paths) override;
  Result<FileOp> complete(const std::string& id, int64_t now_us, Decision* decision, JobState* previous) override;
  Result<bool> complete_failed(const FileOp& op, JobState previous, int64_t now_us) override;
  std::error_code set_property(const std::string& id, Property property, int64_t int_value,
                               std::string_view text_value, int64_t now_us) override;
  Result<std::vector<std::string>> inactive_jobs(int64_t before_us) override;
  Result<int64_t> purge_final(int64_t before_us) override;

  // The outbox (sqlite_worker.cc).
  Result<std::vector<FileOp>> pending_ops() override;
  Result<std::vector<FileRow>> job_files(const std::string& job_id) override;
  Result<JobState> op_previous_state(const FileOp& op) override;
  void retire_op(int64_t op_id) override;
  void retire_ops(const std::vector<int64_t>& op_ids) override;
  std::error_code flush_retired() override;
  Result<std::vector<std::vector<std::string>>> temp_paths(const std::vector<std::string>& job_ids) override;
  std::error_code note_op_failure(int64_t op_id, const std::string& why) override;
  Result<bool> take_op_for_recovery(int64_t op_id) override;

  // The worker (sqlite_worker.cc).
  Result<std::vector<Claim>> claim_next(int limit, const std::vector<std::string>& skip, int64_t now_us) override;
  Result<std::optional<int64_t>> generation(const std::string& job_id) override;
  Result<std::optional<FileRow>> next_file(const std::string& job_id) override;
  Result<WriteOutcome> record_temp_paths(const Claim& claim, const std::vector<TempPathRow>& rows) override;
  Result<WriteOutcome> guard_temp_file(const Claim& claim, int64_t idx, const std::string& path,
                                       const std::function<std::error_code()>& open_or_create) override;
  Result<WriteOutcome> mark_connected(Claim* claim, int64_t now_us) override;
  Result<WriteOutcome> commit_progress(const Claim& claim, const FileRow& file, int64_t now_us) override;
  Result<FileFinish> finish_file(Claim* claim, const FileRow& file, int64_t now_us) override;
  Result<WriteOutcome> fail(const Claim& claim, const TransferFailure& failure, int64_t now_us,
                            JobState* state_after) override;
  Result<WriteOutcome> release(const Claim& claim, int64_t now_us) override;
  Result<WriteOutcome> requeue_running(const Claim& claim, WorkerEvent event, int64_t now_us) override;
  Result<SchedulingView> scheduling_view(const std::vector<std::string>& held) override;
  Result<int64_t> requeue_due(int64_t now_us, std::vector<std::string>* expired) override;
  Result<std::optional<int64_t>> next_retry_us() override;
  std::error_code recover_interrupted(int64_t now_us) override;
  Result<std::vector<std::pair<std::string, FileRow>>> finished_files() override;
  std::error_code reopen_lost_file(const std::string& job_id, int64_t idx, const std::string& temp_path,
                                   int64_t now_us) override;
  Result<UploadJob> upload_job(const std::string& job_id) override;
  Result<WriteOutcome> set_upload_session(const Claim& claim, int64_t idx, const std::string& session_id,
                                          int64_t size, int64_t now_us) override;
  Result<WriteOutcome> set_reply_url(const Claim& claim, const std::string& url, int64_t now_us) override;
  Result<std::vector<FileOp>> pending_cancel_sessions() override;
  Result<int64_t> change_counter() override;
  // Bandwidth (sqlite_bandwidth.cc).
  Result<BandwidthSettings> bandwidth_settings() override;
  std::error_code set_queue_bandwidth_limit(std::optional<int64_t> bytes_per_sec) override;
  std::error_code set_priority_bandwidth_limit(JobPriority priority, int64_t bytes_per_sec) override;
  std::error_code set_bandwidth_schedule(const std::vector<BandwidthWindow>& schedule) override;
  std::error_code set_job_bandwidth_limit(const std::string& id, int64_t bytes_per_sec, int64_t now_us) override;
  Result<int64_t> job_bandwidth_limit(const std::string& id) override;
  Result<std::pair<BandwidthSettings, std::map<std::string, JobBandwidth>>> bandwidth_state(
      const std::vector<std::string>& job_ids) override;

  // How the grouped calls have shared commits so far (tests, benchmarks).
  CommitGroup::Stats commit_stats() const { return group_.stats(); }
  // Grouped calls waiting for their commit now, a running leader's included.
  size_t commits_waiting() const { return group_.waiting(); }

 private:
  SqliteStore(std::unique_ptr<SQLite::Database> db, const QueueOptions& options);

  // A cached statement, reset and ready to bind. `sql` is the cache key: it
  // must outlive the store (a literal, or a static string).
  SQLite::Statement& prepare(const char* sql);
  // One BEGIN IMMEDIATE transaction around `body`; its error (or an
  // exception) rolls back and is the answer. Retired outbox rows go with it.
  // `durable`: the commit is synced even under synchronous=NORMAL.
  std::error_code write_txn(const std::function<std::error_code()>& body, bool durable = false);
  // As write_txn, but the transaction is shared with the grouped calls of
  // other threads that arrive meanwhile (commit_group.h). `body` runs in a
  // savepoint of its own and may run again (the shared transaction was lost
  // under it): it must set its outputs, never add to them, and have no effect
  // outside the connection. Its commit is never raised to synchronous=FULL
  // (no grouped call asks for that: their members could not share it).
  std::error_code grouped_write(const std::function<std::error_code()>& body);
  // The leader's part: one or more transactions until every member is answered.
  void run_group_locked(CommitGroup::Group& group);
  // One transaction for `members` and the late members it takes; answers
  // them, or returns those to run again (the transaction was lost under them).
  std::vector<CommitGroup::Member*> group_txn_locked(std::vector<CommitGroup::Member*> members,
                                                     CommitGroup::Group& group);
  // A read under the store's mutex; SQLite errors become error codes.
  template <typename T>
  Result<T> read(const std::function<T()>& body) {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      return body();
    } catch (const SQLite::Exception& e) {
      reset_all_locked();  // a statement left mid-step would hold its read snapshot
      return to_error(e);
    }
  }
  // A read of one job's row: nullopt from `body` (no such row) is BG_E_NOT_FOUND.
  template <typename T>
  Result<T> read_found(const std::function<std::optional<T>()>& body) {
    auto r = read<std::optional<T>>(body);
    if (!r) return r.error();
    if (!*r) return make_error_code(Errc::not_found);
    return std::move(**r);
  }
  // A write transaction that answers a value: `body` updates it from `initial`
  // and returns an error (rolled back, the error is the answer) or {}.
  template <typename T>
  Result<T> write_value(T initial, const std::function<std::error_code(T&)>& body, bool durable = false) {
    T value = std::move(initial);
    if (std::error_code ec = write_txn([&] { return body(value); }, durable)) return ec;
    return value;
  }
  // The same, group-committed: each run of `body` starts from `initial`.
  template <typename T>
  Result<T> grouped_value(const T& initial, const std::function<std::error_code(T&)>& body) {
    T value = initial;
    if (std::error_code ec = grouped_write([&] {
          value = initial;
          return body(value);
        }))
      return ec;
    return value;
  }
  static std::error_code to_error(const SQLite::Exception& e);
  // run(), its SQLite and system exceptions turned into error codes.
  static std::error_code guarded(const std::function<std::error_code()>& run);
  // Rolls back an open transaction (if SQLite has not) and restores the
  // outbox rows retired in memory to `retired`, as they were before it.
  void roll_back_locked(const std::vector<int64_t>& retired);
  void reset_all_locked();
  int64_t last_insert_id();
  std::error_code flush_retired_locked();
  // Outbox ids never repeat without AUTOINCREMENT (schema/016): the highest
  // id's row is never deleted but made a tombstone (bury_ops_locked deletes
  // ids first..last, `top` being the table's highest), and each insert
  // deletes the tombstone just below the id it took.
  int64_t top_op_id_locked();
  void bury_ops_locked(int64_t first, int64_t last, int64_t top);
  void clear_tombstone_locked(int64_t new_op_id);
  std::error_code state_error_locked(const std::string& id);  // not_found or invalid_state
  std::optional<JobState> state_locked(const std::string& id);
  FileFacts facts_locked(const std::string& id);
  // Whether a job not yet final (other than `id`'s reply) would write `path`
  // when it completes: see target_taken_sql in sqlite_jobs.cc.
  bool target_taken_locked(const std::string& path, const std::string& id);
  // Whether `id` is an upload-reply job whose reply goes beside its file.
  bool default_reply_locked(const std::string& id);
  bool is_retired_locked(int64_t op_id) const;
  // Records a temp path if the claim is current; false if the job moved on.
  bool set_temp_path_locked(const Claim& claim, int64_t idx, const std::string& path);
  // A settable job (not final) gets its modified time; else not_found / invalid_state.
  std::error_code touch_settable_locked(const std::string& id, int64_t now_us);
  BandwidthSettings bandwidth_settings_locked();

  std::mutex mu_;
  CommitGroup group_{mu_};
  std::unique_ptr<SQLite::Database> db_;
  std::unordered_map<const char*, std::unique_ptr<SQLite::Statement>> cache_;
  std::vector<int64_t> retired_ops_;
  QueueOptions options_;
  // Last: destroyed (its thread stopped) before the connection closes.
  SqliteCheckpointer checkpointer_;
};

}  // namespace xferq::detail

#endif  // XFERQ_STORAGE_SQLITE_STORE_H_
