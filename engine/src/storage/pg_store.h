// pg_store.h — the PostgreSQL backend of the storage seam (store.h), opened
// by Store::open() for "postgresql://" and "postgres://" URLs (issue 15).
//
// One libpqxx connection per store for every call, serialized by a mutex as
// the SQLite backend's is, plus a second connection that only LISTENs for
// the queue's change notifications, made at the first change_counter()
// (the worker's; a store only called never listens). Every write is one
// transaction at READ COMMITTED; a call that decides from a job's state
// first locks the job's row (SELECT ... FOR UPDATE), and every worker write
// locks the row at the claim's generation, so that what SQLite gets from its
// single writer holds here with many: a refused call changes nothing and a
// stale worker write changes nothing. Claims take QUEUED rows with
// FOR UPDATE SKIP LOCKED, so workers on many hosts never claim one job twice.
// Parameters are always bound; state numbers come from the state-machine
// table (pg_sql.h builds the SQL fragments from it).
//
// The fleet (docs/fleet.md): each store has a host identity
// (QueueOptions::host_id, XFERQ_HOST_ID, else the hostname and the machine
// id), registered in `hosts`; a claim records it in jobs.owner_host with a
// lease (QueueOptions::host_lease, by the server's clock) that the worker
// renews (renew_leases()); outbox rows carry the owning host,
// pending_ops() returns the rows of this host (or of none), and
// recover_interrupted() takes back only this host's jobs and those whose
// lease expired. Commits of other hosts reach the worker through LISTEN on
// a second connection (change_fd(), change_counter()).
//
// Its statements are spread over files by concept, as the SQLite backend's:
// pg_store.cc (opening, migrations, plumbing, row readers), pg_jobs.cc (the
// API's job calls), pg_worker.cc (the worker and the outbox),
// pg_options.cc (HTTP options, notify, bandwidth), pg_uploads.cc (upload
// sessions).
//
// Thread safety: as Store — any thread; calls are serialized by mu_, the
// listening connection by listen_mu_.
#ifndef XFERQ_STORAGE_PG_STORE_H_
#define XFERQ_STORAGE_PG_STORE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/store.h"
#include "xferq/error.h"

namespace pqxx {
class connection_base;
class dbtransaction;
}  // namespace pqxx

namespace xferq::detail {

class PgStore final : public Store {
 public:
  // "postgresql://..." or "postgres://...".
  static bool is_url(const std::string& path);
  // Connects to `url` and brings its schema up to date
  // (schema/postgresql/NNN_*.sql, by the xferq_schema table).
  static Result<std::unique_ptr<Store>> open(const std::string& url, const QueueOptions& options);
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  // Jobs, for API calls (pg_jobs.cc).
  std::error_code create_job(const std::string& id, std::string_view display_name, JobType type,
                             int64_t now_us) override;
  Result<JobInfo> job_info(const std::string& id) override;
  Result<JobState> job_state(const std::string& id) override;
  Result<JobType> job_type(const std::string& id) override;
  Result<std::vector<FileInfo>> files(const std::string& id) override;
  Result<std::vector<JobInfo>> job_infos(bool include_final) override;
  Result<std::vector<std::string>> job_ids(bool include_final) override;
  Result<std::optional<std::string>> reply_target(const std::string& id) override;
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
  std::error_code set_file_integrity(const std::string& id, int64_t idx, const FileIntegrity& expected,
                                     int64_t now_us) override;
  Result<std::string> invalidate_file(const std::string& id, int64_t idx, int64_t now_us,
                                      Decision* decision) override;

  // HTTP options, notify, bandwidth (pg_options.cc).
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
  Result<BandwidthSettings> bandwidth_settings() override;
  std::error_code set_queue_bandwidth_limit(std::optional<int64_t> bytes_per_sec) override;
  std::error_code set_priority_bandwidth_limit(JobPriority priority, int64_t bytes_per_sec) override;
  std::error_code set_bandwidth_schedule(const std::vector<BandwidthWindow>& schedule) override;
  std::error_code set_job_bandwidth_limit(const std::string& id, int64_t bytes_per_sec, int64_t now_us) override;
  Result<int64_t> job_bandwidth_limit(const std::string& id) override;
  Result<std::pair<BandwidthSettings, std::map<std::string, JobBandwidth>>> bandwidth_state(
      const std::vector<std::string>& job_ids) override;

  // The outbox (pg_worker.cc).
  Result<std::vector<FileOp>> pending_ops() override;
  Result<std::vector<FileRow>> job_files(const std::string& job_id) override;
  Result<JobState> op_previous_state(const FileOp& op) override;
  void retire_op(int64_t op_id) override;
  void retire_ops(const std::vector<int64_t>& op_ids) override;
  std::error_code flush_retired() override;
  Result<std::vector<std::vector<std::string>>> temp_paths(const std::vector<std::string>& job_ids) override;
  std::error_code note_op_failure(int64_t op_id, const std::string& why) override;
  Result<bool> take_op_for_recovery(int64_t op_id) override;

  // The worker (pg_worker.cc).
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
  Result<WriteOutcome> record_response(const Claim& claim, int64_t idx, const ResponseMeta& meta) override;
  Result<std::vector<FileOp>> pending_cancel_sessions() override;
  Result<int64_t> change_counter() override;
  int change_fd() override;
  std::error_code renew_leases(const std::vector<std::string>& held) override;

  // Uploads (pg_uploads.cc).
  Result<UploadJob> upload_job(const std::string& job_id) override;
  Result<WriteOutcome> set_upload_session(const Claim& claim, int64_t idx, const std::string& session_id,
                                          int64_t size, int64_t now_us) override;
  Result<WriteOutcome> set_reply_url(const Claim& claim, const std::string& url, int64_t now_us) override;

  // The host identity this store claims jobs as.
  const std::string& host() const override { return host_id_; }

 private:
  struct Connections;
  PgStore(std::string url, std::unique_ptr<Connections> connections, const QueueOptions& options,
          std::string host_id);

  using Txn = pqxx::dbtransaction;
  // One transaction around `body`; its error (or an exception) rolls back
  // and is the answer. Retired outbox rows are deleted in it.
  std::error_code write_txn(const std::function<std::error_code(Txn&)>& body);
  // A read-only transaction around `body`, under the mutex; database errors
  // become error codes.
  template <typename T>
  Result<T> read(const std::function<T(Txn&)>& body) {
    T value{};
    if (std::error_code ec = read_txn([&](Txn& tx) { value = body(tx); })) return ec;
    return value;
  }
  std::error_code read_txn(const std::function<void(Txn&)>& body);
  // A read of one job's row: nullopt from `body` (no such row) is BG_E_NOT_FOUND.
  template <typename T>
  Result<T> read_found(const std::function<std::optional<T>(Txn&)>& body) {
    auto r = read<std::optional<T>>(body);
    if (!r) return r.error();
    if (!*r) return make_error_code(Errc::not_found);
    return std::move(**r);
  }
  // A write transaction that answers a value: `body` updates it from
  // `initial` (afresh if the transaction is run again after a reconnect).
  template <typename T>
  Result<T> write_value(const T& initial, const std::function<std::error_code(Txn&, T&)>& body) {
    T value = initial;
    if (std::error_code ec = write_txn([&](Txn& tx) {
          value = initial;
          return body(tx, value);
        }))
      return ec;
    return value;
  }

  // The job's state; `lock`: the row is locked for the rest of the
  // transaction (a call that decides from it).
  static std::optional<JobState> state_of(Txn& tx, const std::string& id, bool lock);
  static std::error_code state_error(Txn& tx, const std::string& id);  // not_found or invalid_state
  static FileFacts facts_of(Txn& tx, const std::string& id);
  // Locks the job's row if it is still at the claim's generation; false if
  // the job moved on (the write must change nothing).
  static bool lock_current(Txn& tx, const Claim& claim);
  // A settable job (not final) gets its modified time; else not_found / invalid_state.
  static std::error_code touch_settable(Txn& tx, const std::string& id, int64_t now_us);
  bool set_temp_path(Txn& tx, const Claim& claim, int64_t idx, const std::string& path);
  void flush_retired_locked(Txn& tx);
  bool is_retired_locked(int64_t op_id) const;
  static BandwidthSettings bandwidth_settings_of(Txn& tx);
  int64_t lease_us() const;
  // Running jobs of other hosts whose lease ended by `now_us` go back to the
  // queue (worker_transition(interrupted)), each with a deletion of its temp
  // files left for the host that held it. Returns how many.
  int64_t take_over_expired(Txn& tx, int64_t now_us);
  // The server or the network dropped the connection (not a statement's
  // error): the transaction did not commit and may run again on a new one.
  static bool connection_lost(const std::exception& e);
  // A new main connection in place of a lost one; false if it cannot be made.
  bool reconnect_locked();
  // A new listening connection (and LISTEN); none if it cannot be made now
  // (change_counter() tries again at its next call).
  void relisten_locked();

  std::mutex mu_;
  const std::string url_;  // kept for reconnecting; never logged (it may hold a password)
  std::unique_ptr<Connections> connections_;
  std::vector<int64_t> retired_ops_;
  QueueOptions options_;
  std::string host_id_;
  std::mutex listen_mu_;
  int64_t notifications_ = 0;  // change notifications received (under listen_mu_)
  bool listening_ = false;     // change_counter() was called: keep a LISTEN (under listen_mu_)
  // The main connection's server process: its own commits' notifications
  // are not another's changes. Changes when the connection is remade.
  std::atomic<int> own_backend_{0};
};

}  // namespace xferq::detail

#endif  // XFERQ_STORAGE_PG_STORE_H_
