// sqlite_store.cc — the SQLite backend: opening and migrating the queue file,
// the transaction plumbing, and the row readers its statements share.
#include "storage/sqlite_store.h"

#include <sqlite3.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <limits>

#include "fs/file_ops.h"
#include "storage/sqlite_sql.h"
#include "validate.h"
#include "xferq/error.h"

namespace xferq::detail {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};
extern const Migration kMigrations[];
extern const std::size_t kMigrationCount;

namespace {

// 'XFRQ': marks the file as an xferq queue so that open() never adopts (and
// rewrites) another application's database.
constexpr int kApplicationId = 0x58465251;

// A stored time; values a damaged file may hold are clamped to what a
// TimePoint (nanoseconds since 1970 in 64 bits) can express.
TimePoint from_us(int64_t us) {
  constexpr int64_t kLimit = std::numeric_limits<int64_t>::max() / 1000;
  return TimePoint(std::chrono::microseconds(std::clamp(us, -kLimit, kLimit)));
}

}  // namespace

// ---- What the three files share (sqlite_sql.h) -----------------------------------

namespace sqlite {

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

JobState column_state(SQLite::Statement& s, int i) {
  const int v = s.getColumn(i).getInt();
  if (v < 0 || v > static_cast<int>(JobState::cancelled)) throw SQLite::Exception("job state out of range", SQLITE_CORRUPT);
  return static_cast<JobState>(v);
}

std::string column_text(SQLite::Statement& s, int i) {
  return s.isColumnNull(i) ? std::string() : s.getColumn(i).getString();
}

void bind_text_or_null(SQLite::Statement& s, int i, const std::string& v) {
  if (v.empty())
    s.bind(i);
  else
    s.bind(i, v);
}

std::string end_running_time(const char* now) {
  return std::string("download_time_us = download_time_us + max(0, ") + now + " - coalesce(running_since_us, " +
         now + ")), running_since_us = NULL";
}

JobInfo read_job_info(SQLite::Statement& s) {
  JobInfo j;
  j.id = s.getColumn(0).getString();
  j.type = static_cast<JobType>(s.getColumn(1).getInt());
  j.state = column_state(s, 2);
  j.priority = static_cast<JobPriority>(s.getColumn(3).getInt());
  j.display_name = s.getColumn(4).getString();
  j.description = s.getColumn(5).getString();
  j.owner = s.getColumn(6).getString();
  j.times.creation = from_us(s.getColumn(7).getInt64());
  j.times.modification = from_us(s.getColumn(8).getInt64());
  if (!s.isColumnNull(9)) j.times.transfer_completion = from_us(s.getColumn(9).getInt64());
  if (!s.isColumnNull(10) && (j.state == JobState::error || j.state == JobState::transient_error)) {
    JobErrorInfo e;
    e.hresult = static_cast<uint32_t>(s.getColumn(10).getInt64());
    e.context = static_cast<ErrorContext>(s.getColumn(11).getInt());
    e.description = column_text(s, 12);
    if (!s.isColumnNull(13)) e.file_index = static_cast<uint32_t>(s.getColumn(13).getInt64());
    j.error = e;
  }
  j.error_count = static_cast<uint32_t>(s.getColumn(14).getInt64());
  j.minimum_retry_delay = std::chrono::seconds(s.getColumn(15).getInt64());
  j.no_progress_timeout = std::chrono::seconds(s.getColumn(16).getInt64());
  j.progress.files_total = static_cast<uint32_t>(s.getColumn(17).getInt64());
  j.progress.files_transferred = static_cast<uint32_t>(s.getColumn(18).getInt64());
  j.progress.bytes_transferred = s.getColumn(19).getInt64();
  const bool size_unknown = s.getColumn(20).getInt64() < 0;
  j.progress.bytes_total = size_unknown ? kSizeUnknown : s.getColumn(21).getInt64();
  j.max_download_size = static_cast<uint64_t>(s.getColumn(22).getInt64());
  j.maximum_download_time = std::chrono::seconds(s.getColumn(23).getInt64());
  j.download_time_used = std::chrono::seconds(s.getColumn(24).getInt64() / 1000000);
  return j;
}

TlsOptions read_tls(SQLite::Statement& s, int first) {
  TlsOptions t;
  t.ca_bundle = s.getColumn(first).getString();
  t.ca_directory = s.getColumn(first + 1).getString();
  t.client_certificate = s.getColumn(first + 2).getString();
  t.client_key = s.getColumn(first + 3).getString();
  t.client_key_password = s.getColumn(first + 4).getString();
  t.has_client_key_password = !t.client_key_password.empty();
  return t;
}

FileRow read_file_row(SQLite::Statement& s) {
  FileRow f;
  f.idx = s.getColumn(0).getInt64();
  f.remote_url = s.getColumn(1).getString();
  f.local_path = s.getColumn(2).getString();
  f.temp_path = column_text(s, 3);
  f.bytes_total = s.getColumn(4).getInt64();
  f.bytes_transferred = s.getColumn(5).getInt64();
  f.etag = column_text(s, 6);
  f.last_modified = column_text(s, 7);
  f.completed = s.getColumn(8).getInt() != 0;
  f.final_url = column_text(s, 9);
  f.http_status = s.isColumnNull(10) ? 0 : s.getColumn(10).getInt();
  f.content_type = column_text(s, 11);
  f.content_disposition = column_text(s, 12);
  f.expected.size = s.isColumnNull(13) ? kSizeUnknown : s.getColumn(13).getInt64();
  f.expected.sha256 = column_text(s, 14);
  f.expected.sha512 = column_text(s, 15);
  // Written by add_files() from checked ranges: anything else is damage.
  if (!parse_ranges(column_text(s, 16), &f.ranges)) throw SQLite::Exception("bad files.ranges", SQLITE_CORRUPT);
  return f;
}

}  // namespace sqlite

std::error_code SqliteStore::to_error(const SQLite::Exception& e) {
  switch (e.getErrorCode() & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return make_error_code(Errc::busy);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return make_error_code(Errc::database_corrupt);
    case SQLITE_FULL:
      return make_error_code(Errc::disk_full);
    case SQLITE_CANTOPEN:
      return make_error_code(Errc::path_not_found);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return make_error_code(Errc::access_denied);
    default:
      return make_error_code(Errc::database);
  }
}

// ---- Opening and migrations ---------------------------------------------------

Result<std::unique_ptr<Store>> SqliteStore::open(const std::string& path, const QueueOptions& options) {
  const PathInfo info = inspect_path(path);
  if (info.exists && !info.regular) return make_error_code(Errc::invalid_arg);
  if (!info.exists && !options.create_if_missing) return make_error_code(Errc::file_not_found);
  if (std::error_code ec = prepare_private_file(path)) return ec;
  std::unique_ptr<SQLite::Database> db;
  try {
    db = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE |
                                                      SQLite::OPEN_NOMUTEX);
    db->setBusyTimeout(static_cast<int>(options.busy_timeout.count()));
    // Reading the header is the first thing that fails on a file that is not a database.
    const int user_version = db->execAndGet("PRAGMA user_version").getInt();
    const int app_id = db->execAndGet("PRAGMA application_id").getInt();
    const int objects = db->execAndGet("SELECT count(*) FROM sqlite_master").getInt();
    const int latest = kMigrations[kMigrationCount - 1].version;
    if (app_id != 0 && app_id != kApplicationId) return make_error_code(Errc::database_corrupt);
    if (app_id == 0 && objects > 0) return make_error_code(Errc::database_corrupt);  // someone else's
    if (user_version > latest) return make_error_code(Errc::schema_too_new);

    db->exec("PRAGMA journal_mode=WAL");
    db->exec(options.synchronous == Synchronous::full ? "PRAGMA synchronous=FULL"
                                                      : "PRAGMA synchronous=NORMAL");
    db->exec("PRAGMA foreign_keys=ON");
    for (std::size_t i = 0; i < kMigrationCount; ++i) {
      const Migration& m = kMigrations[i];
      if (user_version >= m.version) continue;  // no write lock for what is done
      SQLite::Transaction txn(*db, SQLite::TransactionBehavior::IMMEDIATE);
      // Another process may have migrated while we waited for the lock.
      if (db->execAndGet("PRAGMA user_version").getInt() >= m.version) continue;
      db->exec(m.sql);
      db->exec("PRAGMA user_version=" + std::to_string(m.version));
      db->exec("PRAGMA application_id=" + std::to_string(kApplicationId));
      txn.commit();
    }
  } catch (const SQLite::Exception& e) {
    return to_error(e);
  }
  return std::unique_ptr<Store>(new SqliteStore(std::move(db), options));
}

SqliteStore::SqliteStore(std::unique_ptr<SQLite::Database> db, const QueueOptions& options)
    : db_(std::move(db)), options_(options), checkpointer_(db_->getHandle(), mu_, options.busy_timeout) {}

SqliteStore::~SqliteStore() {
  flush_retired();
  cache_.clear();
}

// ---- Plumbing -------------------------------------------------------------------

SQLite::Statement& SqliteStore::prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) it = cache_.emplace(sql, std::make_unique<SQLite::Statement>(*db_, sql)).first;
  // tryReset: reset() would rethrow the error of the statement's last run
  // (e.g. SQLITE_BUSY), which belongs to a call that has already failed.
  it->second->tryReset();
  return *it->second;
}

void SqliteStore::reset_all_locked() {
  for (auto& kv : cache_) kv.second->tryReset();
}

int64_t SqliteStore::last_insert_id() { return db_->getLastInsertRowid(); }

namespace {
// synchronous is per connection and may change between transactions: FULL
// for one commit (the WAL is synced), NORMAL again after it.
class SyncedCommit {
 public:
  SyncedCommit(sqlite3* db, bool raise) : db_(db), raise_(raise) {
    if (raise_) sqlite3_exec(db_, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
  }
  ~SyncedCommit() {
    if (raise_) sqlite3_exec(db_, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
  }
  SyncedCommit(const SyncedCommit&) = delete;
  SyncedCommit& operator=(const SyncedCommit&) = delete;

 private:
  sqlite3* db_;
  bool raise_;
};
}  // namespace

std::error_code SqliteStore::guarded(const std::function<std::error_code()>& run) {
  try {
    return run();
  } catch (const SQLite::Exception& e) {
    return to_error(e);
  } catch (const std::system_error& e) {
    return e.code();
  }
}

void SqliteStore::roll_back_locked(const std::vector<int64_t>& retired) {
  reset_all_locked();
  // SQLite may have rolled back already (an I/O error, a full disk).
  if (!sqlite3_get_autocommit(db_->getHandle())) sqlite3_exec(db_->getHandle(), "ROLLBACK", nullptr, nullptr, nullptr);
  retired_ops_ = retired;
}

std::error_code SqliteStore::write_txn(const std::function<std::error_code()>& body, bool durable) {
  std::lock_guard<std::mutex> lock(mu_);
  SyncedCommit synced(db_->getHandle(), durable && options_.synchronous != Synchronous::full);
  // Retired outbox rows are deleted inside this transaction; if it rolls
  // back, they must stay retired (in memory) for the next one.
  const std::vector<int64_t> retired = retired_ops_;
  const std::error_code ec = guarded([&] {
    prepare("BEGIN IMMEDIATE").exec();
    flush_retired_locked();
    if (std::error_code body_ec = body()) return body_ec;
    prepare("COMMIT").exec();
    return std::error_code();
  });
  if (ec) roll_back_locked(retired);
  return ec;
}

std::error_code SqliteStore::grouped_write(const std::function<std::error_code()>& body) {
  return group_.join(body, [this](CommitGroup::Group& group) { run_group_locked(group); });
}

void SqliteStore::run_group_locked(CommitGroup::Group& group) {
  // Each pass answers at least one member or commits: it ends.
  std::vector<CommitGroup::Member*> pending = group.members();
  while (!pending.empty()) pending = group_txn_locked(std::move(pending), group);
}

std::vector<CommitGroup::Member*> SqliteStore::group_txn_locked(std::vector<CommitGroup::Member*> members,
                                                                CommitGroup::Group& group) {
  using Member = CommitGroup::Member;
  const std::vector<int64_t> retired = retired_ops_;  // as in write_txn
  std::vector<Member*> stand;  // members whose writes are in the transaction
  auto fail_all = [&](const std::vector<Member*>& who, std::error_code ec) {
    roll_back_locked(retired);
    for (Member* m : who) m->result = ec;
    return std::vector<Member*>();
  };

  if (std::error_code ec = guarded([&] {
        prepare("BEGIN IMMEDIATE").exec();
        flush_retired_locked();
        return std::error_code();
      }))
    return fail_all(members, ec);
  for (size_t i = 0;; ++i) {
    if (i == members.size() && group.take_late(&members) == 0) break;
    Member* m = members[i];
    // The only member so far needs no savepoint: the transaction is its unit.
    const bool savepoints = members.size() > 1;
    std::error_code ec = guarded([&] {
      if (savepoints) prepare("SAVEPOINT member").exec();
      return (*m->body)();
    });
    if (!ec && (!savepoints || !guarded([&] {
                  prepare("RELEASE member").exec();
                  return std::error_code();
                }))) {
      stand.push_back(m);
      continue;
    }
    m->result = ec ? ec : make_error_code(Errc::database);
    if (!savepoints) return fail_all({}, {});  // its error is its answer; nothing else ran
    reset_all_locked();
    const std::error_code undo = sqlite3_get_autocommit(db_->getHandle())
                                     ? make_error_code(Errc::database)
                                     : guarded([&] {
                                         prepare("ROLLBACK TO member").exec();
                                         prepare("RELEASE member").exec();
                                         return std::error_code();
                                       });
    if (!undo) continue;
    // SQLite rolled the whole transaction back (an I/O error, a full disk),
    // or it cannot be trusted to hold only what stood: the members before
    // this one lost their writes. They, and those after it, run again.
    roll_back_locked(retired);
    std::vector<Member*> again = stand;
    again.insert(again.end(), members.begin() + static_cast<std::ptrdiff_t>(i) + 1, members.end());
    return again;
  }
  if (std::error_code ec = guarded([&] {
        prepare("COMMIT").exec();
        return std::error_code();
      }))
    return fail_all(stand, ec);
  for (Member* m : stand) m->result = {};
  return {};
}

std::optional<JobState> SqliteStore::state_locked(const std::string& id) {
  auto& s = prepare("SELECT state FROM jobs WHERE id = ?");
  s.bind(1, id);
  if (!s.executeStep()) return std::nullopt;
  const auto state = sqlite::column_state(s, 0);
  s.reset();
  return state;
}

std::error_code SqliteStore::state_error_locked(const std::string& id) {
  return state_locked(id) ? make_error_code(Errc::invalid_state) : make_error_code(Errc::not_found);
}

FileFacts SqliteStore::facts_locked(const std::string& id) {
  static const std::string sql =
      "SELECT count(*), coalesce(sum(completed), 0), "
      "coalesce((SELECT type IN (" + std::to_string(static_cast<int>(JobType::upload)) + ", " +
      std::to_string(static_cast<int>(JobType::upload_reply)) +
      ") FROM jobs WHERE id = ?1), 0) FROM files WHERE job_id = ?1";
  auto& s = prepare(sql.c_str());
  s.bind(1, id);
  s.executeStep();
  FileFacts f{s.getColumn(0).getInt64(), s.getColumn(1).getInt64(), s.getColumn(2).getInt() != 0};
  s.reset();
  return f;
}

Result<int64_t> SqliteStore::change_counter() {
  return read<int64_t>([&] {
    auto& s = prepare("PRAGMA data_version");
    s.executeStep();
    const int64_t v = s.getColumn(0).getInt64();
    s.reset();
    return v;
  });
}

}  // namespace xferq::detail
