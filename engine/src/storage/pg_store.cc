// pg_store.cc — the PostgreSQL backend: connecting, the migration runner,
// the host identity, the transaction plumbing, the row readers its
// statements share, and change notifications.
#include "storage/pg_store.h"

#include <unistd.h>

#include <pqxx/pqxx>

#include <algorithm>
#include <limits>

#include "storage/pg_sql.h"
#include "validate.h"
#include "xferq/error.h"

namespace xferq::detail {

namespace pg {
struct Migration {
  int version;
  const char* name;
  const char* sql;
};
extern const Migration kMigrations[];
extern const std::size_t kMigrationCount;
}  // namespace pg

namespace {

// 'XFRQ': the advisory lock that serializes migrations of one database among
// processes opening it at once.
constexpr int64_t kMigrationLock = 0x58465251;
// The shortest lease (QueueOptions::host_lease): the worker renews every
// third of it, so a shorter one would mostly measure scheduling noise.
constexpr int64_t kMinLeaseUs = 1000000LL;
constexpr char kChannel[] = "xferq_changes";

TimePoint from_us(int64_t us) {
  constexpr int64_t kLimit = std::numeric_limits<int64_t>::max() / 1000;
  return TimePoint(std::chrono::microseconds(std::clamp(us, -kLimit, kLimit)));
}

// Counts the queue's change notifications sent by other connections.
// Thread safety: called by libpqxx inside get_notifs(), which PgStore calls
// under listen_mu_ only; own_backend is atomic (the main connection's
// process id changes on a reconnect, under mu_).
class ChangeReceiver final : public pqxx::notification_receiver {
 public:
  ChangeReceiver(pqxx::connection_base& c, int64_t* counter, const std::atomic<int>* own_backend)
      : pqxx::notification_receiver(c, kChannel), counter_(counter), own_backend_(own_backend) {}
  void operator()(const std::string&, int backend_pid) override {
    if (backend_pid != own_backend_->load()) ++*counter_;
  }

 private:
  int64_t* counter_;
  const std::atomic<int>* own_backend_;
};

// Brings the database to the latest migration, one transaction each, under
// an advisory lock so that concurrent openers apply each once.
std::error_code migrate(pqxx::connection& c) {
  const int latest = pg::kMigrations[pg::kMigrationCount - 1].version;
  {
    pqxx::work tx(c);
    tx.exec_params("SELECT pg_advisory_xact_lock($1::bigint)", kMigrationLock);
    const pqxx::row r = tx.exec1(
        "SELECT to_regclass('xferq_schema') IS NOT NULL, to_regclass('jobs') IS NOT NULL");
    // Someone else's tables: never adopt (and rewrite) them.
    if (!r[0].as<bool>() && r[1].as<bool>()) return make_error_code(Errc::database_corrupt);
    tx.exec(
        "CREATE TABLE IF NOT EXISTS xferq_schema (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_us BIGINT NOT NULL DEFAULT " XFERQ_PG_DB_NOW_US ")");
    const int current = tx.exec1("SELECT coalesce(max(version), 0) FROM xferq_schema")[0].as<int>();
    if (current > latest) return make_error_code(Errc::schema_too_new);
    tx.commit();
  }
  for (std::size_t i = 0; i < pg::kMigrationCount; ++i) {
    const pg::Migration& m = pg::kMigrations[i];
    pqxx::work tx(c);
    tx.exec_params("SELECT pg_advisory_xact_lock($1::bigint)", kMigrationLock);
    // Another process may have migrated while we waited for the lock.
    if (tx.exec1("SELECT coalesce(max(version), 0) FROM xferq_schema")[0].as<int>() >= m.version) continue;
    tx.exec(m.sql);
    tx.exec_params("INSERT INTO xferq_schema (version, name) VALUES ($1::integer, $2)", m.version,
                   std::string(m.name));
    tx.commit();
  }
  return {};
}

}  // namespace

// ---- What the files share (pg_sql.h) --------------------------------------------

namespace pg {

std::string states_sql(uint32_t mask) {
  std::string out = "(";
  for (int s = 0; s < 32; ++s) {
    if (!(mask & (1u << s))) continue;
    if (out.size() > 1) out += ", ";
    out += std::to_string(s);
  }
  return out + ")";
}

std::string state_in(uint32_t mask) {
  if ((mask & (mask - 1)) == 0) {
    int s = 0;
    while (mask > 1u) mask >>= 1, ++s;
    return "state = " + std::to_string(s);
  }
  return "state IN " + states_sql(mask);
}

std::string state_sql(JobState s) { return std::to_string(static_cast<int>(s)); }
std::string kind_sql(OpKind kind) { return std::to_string(static_cast<int>(kind)); }

std::string state_allowed(int param) {
  return "((1::bigint << state) & $" + std::to_string(param) + "::bigint) <> 0";
}

std::string end_running_time(const std::string& now) {
  return "download_time_us = download_time_us + greatest(0, " + now + " - coalesce(running_since_us, " + now +
         ")), running_since_us = NULL";
}

std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const std::string& v : values) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

JobState column_state(const pqxx::field& f) {
  const int v = f.as<int>();
  if (v < 0 || v > static_cast<int>(JobState::cancelled)) throw BadRow("job state out of range");
  return static_cast<JobState>(v);
}

std::string text_or_empty(const pqxx::field& f) { return f.is_null() ? std::string() : f.as<std::string>(); }

JobInfo read_job_info(const pqxx::row& r) {
  JobInfo j;
  j.id = r[0].as<std::string>();
  j.type = static_cast<JobType>(r[1].as<int>());
  j.state = column_state(r[2]);
  j.priority = static_cast<JobPriority>(r[3].as<int>());
  j.display_name = r[4].as<std::string>();
  j.description = r[5].as<std::string>();
  j.owner = r[6].as<std::string>();
  j.times.creation = from_us(r[7].as<int64_t>());
  j.times.modification = from_us(r[8].as<int64_t>());
  if (!r[9].is_null()) j.times.transfer_completion = from_us(r[9].as<int64_t>());
  if (!r[10].is_null() && (j.state == JobState::error || j.state == JobState::transient_error)) {
    JobErrorInfo e;
    e.hresult = static_cast<uint32_t>(r[10].as<int64_t>());
    e.context = static_cast<ErrorContext>(r[11].as<int>());
    e.description = text_or_empty(r[12]);
    if (!r[13].is_null()) e.file_index = static_cast<uint32_t>(r[13].as<int64_t>());
    j.error = e;
  }
  j.error_count = static_cast<uint32_t>(r[14].as<int64_t>());
  j.minimum_retry_delay = std::chrono::seconds(r[15].as<int64_t>());
  j.no_progress_timeout = std::chrono::seconds(r[16].as<int64_t>());
  j.progress.files_total = static_cast<uint32_t>(r[17].as<int64_t>());
  j.progress.files_transferred = static_cast<uint32_t>(r[18].as<int64_t>());
  j.progress.bytes_transferred = r[19].as<int64_t>();
  const bool size_unknown = r[20].as<int64_t>() < 0;
  j.progress.bytes_total = size_unknown ? kSizeUnknown : r[21].as<int64_t>();
  j.max_download_size = static_cast<uint64_t>(r[22].as<int64_t>());
  j.maximum_download_time = std::chrono::seconds(r[23].as<int64_t>());
  j.download_time_used = std::chrono::seconds(r[24].as<int64_t>() / 1000000);
  return j;
}

TlsOptions read_tls(const pqxx::row& r, int first) {
  TlsOptions t;
  t.ca_bundle = r[first].as<std::string>();
  t.ca_directory = r[first + 1].as<std::string>();
  t.client_certificate = r[first + 2].as<std::string>();
  t.client_key = r[first + 3].as<std::string>();
  t.client_key_password = r[first + 4].as<std::string>();
  t.has_client_key_password = !t.client_key_password.empty();
  return t;
}

FileRow read_file_row(const pqxx::row& r) {
  FileRow f;
  f.idx = r[0].as<int64_t>();
  f.remote_url = r[1].as<std::string>();
  f.local_path = r[2].as<std::string>();
  f.temp_path = text_or_empty(r[3]);
  f.bytes_total = r[4].as<int64_t>();
  f.bytes_transferred = r[5].as<int64_t>();
  f.etag = text_or_empty(r[6]);
  f.last_modified = text_or_empty(r[7]);
  f.completed = r[8].as<bool>();
  f.final_url = text_or_empty(r[9]);
  f.http_status = r[10].is_null() ? 0 : r[10].as<int>();
  f.content_type = text_or_empty(r[11]);
  f.content_disposition = text_or_empty(r[12]);
  f.expected.size = r[13].is_null() ? kSizeUnknown : r[13].as<int64_t>();
  f.expected.sha256 = text_or_empty(r[14]);
  f.expected.sha512 = text_or_empty(r[15]);
  // Written by add_files() from checked ranges: anything else is damage.
  if (!parse_ranges(text_or_empty(r[16]), &f.ranges)) throw BadRow("bad files.ranges");
  return f;
}

std::error_code to_error(const std::exception& e) {
  if (dynamic_cast<const BadRow*>(&e)) return make_error_code(Errc::database_corrupt);
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) return make_error_code(Errc::database);
  if (const auto* s = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string state = s->sqlstate();
    // Serialization failures, deadlocks, lock timeouts: try again later.
    if (state == "40001" || state == "40P01" || state == "55P03") return make_error_code(Errc::busy);
    if (state == "53100") return make_error_code(Errc::disk_full);
    if (state == "42501" || state.rfind("28", 0) == 0) return make_error_code(Errc::access_denied);
    if (state == "3D000") return make_error_code(Errc::path_not_found);  // no such database
    if (state.rfind("XX", 0) == 0) return make_error_code(Errc::database_corrupt);
  }
  return make_error_code(Errc::database);
}

}  // namespace pg

// ---- Opening ----------------------------------------------------------------------

struct PgStore::Connections {
  std::unique_ptr<pqxx::connection> main;
  std::unique_ptr<pqxx::connection> listen;
  std::unique_ptr<ChangeReceiver> receiver;
};

bool PgStore::is_url(const std::string& path) {
  return path.rfind("postgresql://", 0) == 0 || path.rfind("postgres://", 0) == 0;
}

Result<std::unique_ptr<Store>> PgStore::open(const std::string& url, const QueueOptions& options) {
  auto connections = std::make_unique<Connections>();
  std::string host = host_identity(options.host_id);
  try {
    connections->main = std::make_unique<pqxx::connection>(url);
    if (std::error_code ec = migrate(*connections->main)) return ec;
    pqxx::work tx(*connections->main);
    char name[256] = {0};
    ::gethostname(name, sizeof name - 1);
    tx.exec_params(
        "INSERT INTO hosts (host_id, hostname, started_us, last_seen_us) "
        "VALUES ($1, $2, " XFERQ_PG_DB_NOW_US ", " XFERQ_PG_DB_NOW_US ") "
        "ON CONFLICT (host_id) DO UPDATE SET hostname = excluded.hostname, last_seen_us = excluded.last_seen_us",
        host, std::string(name));
    tx.commit();
  } catch (const std::exception& e) {
    return pg::to_error(e);
  }
  const int backend = connections->main->backendpid();
  std::unique_ptr<PgStore> store(new PgStore(url, std::move(connections), options, std::move(host)));
  store->own_backend_ = backend;
  // No LISTEN yet: only a worker reads the change counter, and every
  // listening backend costs each NOTIFY of every host a signal and a read
  // (a fleet has many callers and few workers). change_counter() starts it.
  return std::unique_ptr<Store>(std::move(store));
}

PgStore::PgStore(std::string url, std::unique_ptr<Connections> connections, const QueueOptions& options,
                 std::string host_id)
    : url_(std::move(url)), connections_(std::move(connections)), options_(options), host_id_(std::move(host_id)) {}

PgStore::~PgStore() {
  flush_retired();
  std::lock_guard<std::mutex> lock(listen_mu_);
  connections_->receiver.reset();
}

int64_t PgStore::lease_us() const {
  const int64_t lease = std::chrono::duration_cast<std::chrono::microseconds>(options_.host_lease).count();
  return std::max(kMinLeaseUs, lease);
}

// ---- Plumbing -------------------------------------------------------------------

bool PgStore::connection_lost(const std::exception& e) {
  // A commit whose outcome is unknown is not "lost before commit": never rerun.
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) return false;
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) return true;
  if (const auto* s = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string state = s->sqlstate();
    // 57P01..57P03: the server terminated the session (pg_terminate_backend,
    // a shutdown, a restart); class 08: connection exceptions.
    return state.rfind("57P0", 0) == 0 || state.rfind("08", 0) == 0;
  }
  return false;
}

bool PgStore::reconnect_locked() {
  try {
    auto fresh = std::make_unique<pqxx::connection>(url_);
    own_backend_ = fresh->backendpid();
    connections_->main = std::move(fresh);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::error_code PgStore::write_txn(const std::function<std::error_code(Txn&)>& body) {
  std::lock_guard<std::mutex> lock(mu_);
  // Retired outbox rows are deleted inside this transaction; if it rolls
  // back, they must stay retired (in memory) for the next one.
  const std::vector<int64_t> retired = retired_ops_;
  // A connection lost before the commit: nothing was written, so the whole
  // transaction runs once more on a new connection.
  for (int attempt = 0;; ++attempt) {
    try {
      pqxx::work tx(*connections_->main);
      flush_retired_locked(tx);
      if (std::error_code ec = body(tx)) {
        retired_ops_ = retired;
        return ec;  // the transaction's destructor rolls back
      }
      tx.commit();
      return {};
    } catch (const std::system_error& e) {
      retired_ops_ = retired;
      return e.code();
    } catch (const std::exception& e) {
      retired_ops_ = retired;
      if (attempt == 0 && connection_lost(e) && reconnect_locked()) continue;
      return pg::to_error(e);
    }
  }
}

std::error_code PgStore::read_txn(const std::function<void(Txn&)>& body) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int attempt = 0;; ++attempt) {
    try {
      pqxx::read_transaction tx(*connections_->main);
      body(tx);
      tx.commit();
      return {};
    } catch (const std::exception& e) {
      if (attempt == 0 && connection_lost(e) && reconnect_locked()) continue;
      return pg::to_error(e);
    }
  }
}

std::optional<JobState> PgStore::state_of(Txn& tx, const std::string& id, bool lock) {
  const pqxx::result r = tx.exec_params(lock ? "SELECT state FROM jobs WHERE id = $1 FOR UPDATE"
                                             : "SELECT state FROM jobs WHERE id = $1",
                                        id);
  if (r.empty()) return std::nullopt;
  return pg::column_state(r[0][0]);
}

std::error_code PgStore::state_error(Txn& tx, const std::string& id) {
  return state_of(tx, id, false) ? make_error_code(Errc::invalid_state) : make_error_code(Errc::not_found);
}

FileFacts PgStore::facts_of(Txn& tx, const std::string& id) {
  static const std::string sql =
      "SELECT (SELECT count(*) FROM files WHERE job_id = $1), "
      "(SELECT count(*) FROM files WHERE job_id = $1 AND completed), "
      "coalesce((SELECT type IN (" + std::to_string(static_cast<int>(JobType::upload)) + ", " +
      std::to_string(static_cast<int>(JobType::upload_reply)) + ") FROM jobs WHERE id = $1), false)";
  const pqxx::row r = tx.exec_params1(sql, id);
  return FileFacts{r[0].as<int64_t>(), r[1].as<int64_t>(), r[2].as<bool>()};
}

bool PgStore::lock_current(Txn& tx, const Claim& claim) {
  // The row lock makes the generation check hold until commit: a Cancel or
  // a Complete from any host waits for this transaction, then sees its work.
  return !tx.exec_params("SELECT 1 FROM jobs WHERE id = $1 AND generation = $2::bigint FOR NO KEY UPDATE",
                         claim.job_id, claim.generation)
              .empty();
}

std::error_code PgStore::touch_settable(Txn& tx, const std::string& id, int64_t now_us) {
  static const std::string sql =
      "UPDATE jobs SET modified_us = $3::bigint WHERE id = $1 AND " + pg::state_allowed(2);
  const pqxx::result r =
      tx.exec_params(sql, id, static_cast<int64_t>(allowed_from(Call::set_property)), now_us);
  return r.affected_rows() == 0 ? state_error(tx, id) : std::error_code();
}

void PgStore::relisten_locked() {
  // The receiver refers to the connection: it goes first. Until a new
  // connection LISTENs, there is none (change_fd() is -1).
  connections_->receiver.reset();
  connections_->listen.reset();
  try {
    auto fresh = std::make_unique<pqxx::connection>(url_);
    connections_->receiver = std::make_unique<ChangeReceiver>(*fresh, &notifications_, &own_backend_);
    connections_->listen = std::move(fresh);
  } catch (const std::exception&) {
    connections_->receiver.reset();
  }
}

Result<int64_t> PgStore::change_counter() {
  std::lock_guard<std::mutex> lock(listen_mu_);
  if (!listening_) {
    // The first read: from now on, commits of others are counted.
    listening_ = true;
    relisten_locked();
    return notifications_;
  }
  if (connections_->listen) {
    try {
      // Reads what arrived without waiting; each counts one commit elsewhere.
      connections_->listen->get_notifs();
      return notifications_;
    } catch (const std::exception&) {
      // Whatever failed (a terminated backend reports itself in more than
      // one way), this connection only listens: make another.
    }
  }
  // Commits made while nobody listened are unknown: count one, so that the
  // worker re-reads what it holds. A listening connection that cannot be
  // made now is tried again at the next poll; the worker's own queries
  // report a database that is really gone.
  ++notifications_;
  relisten_locked();
  return notifications_;
}

int PgStore::change_fd() {
  // The LISTEN connection's socket: a NOTIFY from another host's commit makes
  // it readable, so the worker wakes at once instead of at its next poll.
  std::lock_guard<std::mutex> lock(listen_mu_);
  return connections_->listen ? connections_->listen->sock() : -1;
}

// store.h: the opener Store::open() uses for postgresql:// URLs.
Result<std::unique_ptr<Store>> open_server_store(const std::string& url, const QueueOptions& options) {
  return PgStore::open(url, options);
}

}  // namespace xferq::detail
