// store.cc — every SQL statement of xferq (the schema itself is in schema/).
#include "store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>

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

constexpr int64_t kUs = 1000000;

std::string column_text(SQLite::Statement& s, int i) {
  return s.isColumnNull(i) ? std::string() : s.getColumn(i).getString();
}

void bind_text_or_null(SQLite::Statement& s, int i, const std::string& v) {
  if (v.empty())
    s.bind(i);
  else
    s.bind(i, v);
}

TimePoint from_us(int64_t us) { return TimePoint(std::chrono::microseconds(us)); }

// Columns of a job snapshot, with its files aggregated; read by read_job_info.
#define XFERQ_JOB_COLUMNS                                                                        \
  "j.id, j.type, j.state, j.priority, j.display_name, j.description, j.owner, j.created_us, "    \
  "j.modified_us, j.transferred_us, j.error_hresult, j.error_context, j.error_description, "     \
  "j.error_file, j.error_count, j.retry_delay_s, j.no_progress_timeout_s, "                      \
  "count(f.idx), coalesce(sum(f.completed), 0), coalesce(sum(f.bytes_transferred), 0), "        \
  "coalesce(min(f.bytes_total), 0), coalesce(sum(f.bytes_total), 0) "                             \
  "FROM jobs j LEFT JOIN files f ON f.job_id = j.id "

JobInfo read_job_info(SQLite::Statement& s) {
  JobInfo j;
  j.id = s.getColumn(0).getString();
  j.type = static_cast<JobType>(s.getColumn(1).getInt());
  j.state = static_cast<JobState>(s.getColumn(2).getInt());
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
  return j;
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
  return f;
}
#define XFERQ_FILE_COLUMNS \
  "idx, remote_url, local_path, temp_path, bytes_total, bytes_transferred, etag, last_modified, completed "

// Wraps a SQLite failure during open() with what the user needs to know.
std::error_code open_error(const SQLite::Exception& e) { return to_error(e); }

}  // namespace

std::error_code to_error(const SQLite::Exception& e) {
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

Result<std::unique_ptr<Store>> Store::open(const std::string& path, const QueueOptions& options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return make_error_code(Errc::invalid_arg);
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
    return open_error(e);
  }
  return std::unique_ptr<Store>(new Store(std::move(db), options));
}

Store::Store(std::unique_ptr<SQLite::Database> db, const QueueOptions& options)
    : db_(std::move(db)), options_(options) {}

Store::~Store() {
  flush_retired();
  cache_.clear();
}

// ---- Plumbing -------------------------------------------------------------------

SQLite::Statement& Store::prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) it = cache_.emplace(sql, std::make_unique<SQLite::Statement>(*db_, sql)).first;
  // tryReset: reset() would rethrow the error of the statement's last run
  // (e.g. SQLITE_BUSY), which belongs to a call that has already failed.
  it->second->tryReset();
  return *it->second;
}

std::error_code Store::write_txn(const std::function<std::error_code()>& body) {
  std::lock_guard<std::mutex> lock(mu_);
  bool open = false;
  // Retired outbox rows are deleted inside this transaction; if it rolls
  // back, they must stay retired (in memory) for the next one.
  const std::vector<int64_t> retired = retired_ops_;
  auto rollback = [&] {
    if (open) sqlite3_exec(db_->getHandle(), "ROLLBACK", nullptr, nullptr, nullptr);
    retired_ops_ = retired;
  };
  try {
    prepare("BEGIN IMMEDIATE").exec();
    open = true;
    flush_retired_locked();
    if (std::error_code ec = body()) {
      rollback();
      return ec;
    }
    prepare("COMMIT").exec();
    return {};
  } catch (const SQLite::Exception& e) {
    rollback();
    return to_error(e);
  } catch (const std::system_error& e) {
    rollback();
    return e.code();
  }
}

template <typename T>
Result<T> Store::read(const std::function<T()>& body) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    return body();
  } catch (const SQLite::Exception& e) {
    return to_error(e);
  }
}

template <typename T>
Result<T> Store::write_value(T initial, const std::function<std::error_code(T&)>& body) {
  T value = std::move(initial);
  if (std::error_code ec = write_txn([&] { return body(value); })) return ec;
  return value;
}

std::optional<JobState> Store::state_locked(const std::string& id) {
  auto& s = prepare("SELECT state FROM jobs WHERE id = ?");
  s.bind(1, id);
  if (!s.executeStep()) return std::nullopt;
  const auto state = static_cast<JobState>(s.getColumn(0).getInt());
  s.reset();
  return state;
}

std::error_code Store::state_error_locked(const std::string& id) {
  return state_locked(id) ? make_error_code(Errc::invalid_state) : make_error_code(Errc::not_found);
}

FileFacts Store::facts_locked(const std::string& id) {
  auto& s = prepare(
      "SELECT count(*), coalesce(sum(completed), 0), "
      "coalesce((SELECT type FROM jobs WHERE id = ?1), 0) FROM files WHERE job_id = ?1");
  s.bind(1, id);
  s.executeStep();
  FileFacts f{s.getColumn(0).getInt64(), s.getColumn(1).getInt64(), s.getColumn(2).getInt() != 0};
  s.reset();
  return f;
}

// ---- Jobs -----------------------------------------------------------------------

std::error_code Store::create_job(const std::string& id, std::string_view display_name, JobType type,
                                  int64_t now_us) {
  return write_txn([&]() -> std::error_code {
    auto& s = prepare(
        "INSERT INTO jobs (id, type, state, display_name, created_us, modified_us) "
        "VALUES (?, ?, 3, ?, ?, ?)");
    s.bind(1, id);
    s.bind(2, static_cast<int>(type));
    s.bind(3, std::string(display_name));
    s.bind(4, now_us);
    s.bind(5, now_us);
    s.exec();
    return {};
  });
}

Result<JobInfo> Store::job_info(const std::string& id) {
  auto r = read<std::optional<JobInfo>>([&]() -> std::optional<JobInfo> {
    auto& s = prepare("SELECT " XFERQ_JOB_COLUMNS "WHERE j.id = ? GROUP BY j.id");
    s.bind(1, id);
    if (!s.executeStep()) return std::nullopt;
    JobInfo j = read_job_info(s);
    s.reset();
    return j;
  });
  if (!r) return r.error();
  if (!*r) return make_error_code(Errc::not_found);
  return std::move(**r);
}

Result<JobState> Store::job_state(const std::string& id) {
  auto r = read<std::optional<JobState>>([&] { return state_locked(id); });
  if (!r) return r.error();
  if (!*r) return make_error_code(Errc::not_found);
  return **r;
}

Result<std::vector<JobInfo>> Store::job_infos(bool include_final) {
  return read<std::vector<JobInfo>>([&] {
    auto& s = prepare("SELECT " XFERQ_JOB_COLUMNS
                      "WHERE (?1 OR j.state NOT IN (7, 8)) GROUP BY j.id ORDER BY j.created_us, j.rowid");
    s.bind(1, include_final ? 1 : 0);
    std::vector<JobInfo> out;
    while (s.executeStep()) out.push_back(read_job_info(s));
    return out;
  });
}

Result<std::vector<std::string>> Store::job_ids(bool include_final) {
  return read<std::vector<std::string>>([&] {
    auto& s = prepare("SELECT id FROM jobs WHERE (?1 OR state NOT IN (7, 8)) ORDER BY created_us, rowid");
    s.bind(1, include_final ? 1 : 0);
    std::vector<std::string> out;
    while (s.executeStep()) out.push_back(s.getColumn(0).getString());
    return out;
  });
}

Result<std::vector<FileInfo>> Store::files(const std::string& id) {
  auto rows = job_files(id);
  if (!rows) return rows.error();
  if (rows->empty()) {
    auto st = job_state(id);
    if (!st) return st.error();
  }
  std::vector<FileInfo> out;
  for (const FileRow& r : *rows)
    out.push_back(FileInfo{r.remote_url, r.local_path, r.temp_path, r.bytes_total, r.bytes_transferred, r.completed});
  return out;
}

std::error_code Store::add_files(const std::string& id, const std::vector<FileSpec>& files,
                                 int64_t max_files, int64_t now_us, Decision* decision) {
  return write_txn([&]() -> std::error_code {
    auto current = state_locked(id);
    if (!current) return make_error_code(Errc::not_found);
    const FileFacts facts = facts_locked(id);
    *decision = decide(*current, Call::add_file, facts);
    if (decision->error) return decision->error;
    // BITS: an upload job holds exactly one file; none of a set is added.
    if (facts.upload && facts.files_total + static_cast<int64_t>(files.size()) > 1)
      return make_error_code(Errc::too_many_files);
    if (facts.files_total + static_cast<int64_t>(files.size()) > max_files)
      return make_error_code(Errc::too_many_files_in_job);
    // The same local path twice — in this call, or in any job not yet final —
    // would make two transfers race for one file.
    auto& taken = prepare(
        "SELECT 1 FROM files f JOIN jobs j ON j.id = f.job_id "
        "WHERE f.local_path = ? AND j.state NOT IN (7, 8) LIMIT 1");
    // An upload only reads its file: several jobs may send the same one.
    for (size_t i = 0; i < files.size() && !facts.upload; ++i) {
      for (size_t k = 0; k < i; ++k)
        if (files[k].local_path == files[i].local_path) return make_error_code(Errc::invalid_arg);
      taken.reset();
      taken.bind(1, files[i].local_path);
      if (taken.executeStep()) {
        taken.reset();
        return make_error_code(Errc::file_exists);
      }
    }
    taken.reset();
    auto& ins = prepare("INSERT INTO files (job_id, idx, remote_url, local_path) VALUES (?, ?, ?, ?)");
    for (size_t i = 0; i < files.size(); ++i) {
      ins.reset();
      ins.bind(1, id);
      ins.bind(2, facts.files_total + static_cast<int64_t>(i));
      ins.bind(3, files[i].remote_url);
      ins.bind(4, files[i].local_path);
      ins.exec();
    }
    auto& up = prepare(
        "UPDATE jobs SET state = ?2, modified_us = ?3, generation = generation + ?4 WHERE id = ?1");
    up.bind(1, id);
    up.bind(2, static_cast<int>(decision->next));
    up.bind(3, now_us);
    up.bind(4, decision->state_changes ? 1 : 0);
    up.exec();
    return {};
  });
}

std::error_code Store::apply_call(const std::string& id, Call call, int64_t now_us, Decision* decision) {
  return write_txn([&]() -> std::error_code {
    auto current = state_locked(id);
    if (!current) return make_error_code(Errc::not_found);
    // Only resume needs the file count; skip the read for the others.
    const FileFacts facts = call == Call::resume ? facts_locked(id) : FileFacts{};
    *decision = decide(*current, call, facts);
    if (decision->error) return decision->error;
    if (!decision->state_changes) return {};
    auto& up = prepare(
        "UPDATE jobs SET state = ?2, modified_us = ?3, generation = generation + 1, "
        "queued_seq = CASE WHEN ?2 = 0 THEN ?3 ELSE queued_seq END WHERE id = ?1");
    up.bind(1, id);
    up.bind(2, static_cast<int>(decision->next));
    up.bind(3, now_us);
    up.exec();
    return {};
  });
}

Result<FileOp> Store::cancel(const std::string& id, int64_t now_us, bool with_paths) {
  return write_value<FileOp>(FileOp(), [&](FileOp& op) -> std::error_code {
    // The state check is folded into the UPDATE: the table's set of states
    // that accept a cancel is bound as a bit mask.
    auto& up = prepare(
        "UPDATE jobs SET state = 8, generation = generation + 1, modified_us = ?2 "
        "WHERE id = ?1 AND ((1 << state) & ?3) != 0 RETURNING upload_session_id IS NOT NULL");
    up.bind(1, id);
    up.bind(2, now_us);
    up.bind(3, static_cast<int64_t>(allowed_from(Call::cancel)));
    if (!up.executeStep()) return state_error_locked(id);
    const bool open_session = up.getColumn(0).getInt() != 0;
    up.reset();
    auto& ins = prepare("INSERT INTO file_ops (job_id, kind, created_us) VALUES (?, 1, ?)");
    ins.bind(1, id);
    ins.bind(2, now_us);
    ins.exec();
    op = FileOp{db_->getLastInsertRowid(), id, OpKind::delete_temps, std::nullopt};
    // An upload with an open session: the same transaction records the
    // Cancel-Session the worker owes the server (it deletes its partial file).
    if (open_session) {
      auto& cs = prepare(
          "INSERT INTO file_ops (job_id, kind, created_us, url, session_id) "
          "SELECT j.id, 3, ?2, f.remote_url, j.upload_session_id FROM jobs j "
          "JOIN files f ON f.job_id = j.id AND f.idx = 0 "
          "WHERE j.id = ?1 AND j.type IN (1, 2) AND j.upload_session_id IS NOT NULL");
      cs.bind(1, id);
      cs.bind(2, now_us);
      cs.exec();
    }
    if (with_paths) {
      op.temp_paths.emplace();
      auto& paths = prepare("SELECT temp_path FROM files WHERE job_id = ? AND temp_path IS NOT NULL");
      paths.bind(1, id);
      while (paths.executeStep()) op.temp_paths->push_back(paths.getColumn(0).getString());
    }
    return {};
  });
}

Result<FileOp> Store::complete(const std::string& id, int64_t now_us, Decision* decision,
                               JobState* previous) {
  return write_value<FileOp>(FileOp(), [&](FileOp& op) -> std::error_code {
    auto current = state_locked(id);
    if (!current) return make_error_code(Errc::not_found);
    *previous = *current;
    *decision = decide(*current, Call::complete, facts_locked(id));
    if (decision->error) return decision->error;
    auto& up = prepare(
        "UPDATE jobs SET state = 7, generation = generation + 1, modified_us = ?2 WHERE id = ?1");
    up.bind(1, id);
    up.bind(2, now_us);
    up.exec();
    auto& ins = prepare(
        "INSERT INTO file_ops (job_id, kind, created_us, previous_state) VALUES (?, 2, ?, ?)");
    ins.bind(1, id);
    ins.bind(2, now_us);
    ins.bind(3, static_cast<int>(*current));
    ins.exec();
    op = FileOp{db_->getLastInsertRowid(), id, OpKind::finalize, std::nullopt};
    return {};
  });
}

Result<JobState> Store::op_previous_state(const FileOp& op) {
  return read<JobState>([&] {
    auto& s = prepare("SELECT coalesce(previous_state, 6) FROM file_ops WHERE id = ?");
    s.bind(1, op.id);
    const auto st = s.executeStep() ? static_cast<JobState>(s.getColumn(0).getInt()) : JobState::transferred;
    s.reset();
    return st;
  });
}

std::error_code Store::complete_failed(const FileOp& op, JobState previous,
                                       const std::vector<int64_t>& renamed_idx, const std::string& why,
                                       int64_t now_us) {
  (void)why;
  return write_txn([&]() -> std::error_code {
    auto& up = prepare(
        "UPDATE jobs SET state = ?2, generation = generation + 1, modified_us = ?3 "
        "WHERE id = ?1 AND state = 7");
    up.bind(1, op.job_id);
    up.bind(2, static_cast<int>(previous));
    up.bind(3, now_us);
    up.exec();
    // A renamed file is at its final path: no temp file any more, still completed.
    auto& mark = prepare("UPDATE files SET temp_path = NULL WHERE job_id = ? AND idx = ?");
    for (int64_t idx : renamed_idx) {
      mark.reset();
      mark.bind(1, op.job_id);
      mark.bind(2, idx);
      mark.exec();
    }
    auto& del = prepare("DELETE FROM file_ops WHERE id = ?");
    del.bind(1, op.id);
    del.exec();
    return {};
  });
}

std::error_code Store::set_property(const std::string& id, Property property, int64_t int_value,
                                    std::string_view text_value, int64_t now_us) {
  static const char* const kSql[] = {
      "UPDATE jobs SET priority = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET display_name = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET description = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET retry_delay_s = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET no_progress_timeout_s = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET reply_file_name = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
  };
  return write_txn([&]() -> std::error_code {
    auto& s = prepare(kSql[static_cast<int>(property)]);
    s.bind(1, id);
    s.bind(2, static_cast<int64_t>(allowed_from(Call::set_property)));
    if (property == Property::display_name || property == Property::description ||
        property == Property::reply_file_name)
      s.bind(3, std::string(text_value));
    else
      s.bind(3, int_value);
    s.bind(4, now_us);
    if (s.exec() == 0) return state_error_locked(id);
    return {};
  });
}

Result<std::vector<std::string>> Store::inactive_jobs(int64_t before_us) {
  return read<std::vector<std::string>>([&] {
    auto& s = prepare("SELECT id FROM jobs WHERE state NOT IN (7, 8) AND modified_us < ?");
    s.bind(1, before_us);
    std::vector<std::string> out;
    while (s.executeStep()) out.push_back(s.getColumn(0).getString());
    return out;
  });
}

Result<int64_t> Store::purge_final(int64_t before_us) {
  return write_value<int64_t>(0, [&](int64_t& purged) -> std::error_code {
    auto& s = prepare(
        "DELETE FROM jobs WHERE state IN (7, 8) AND modified_us < ? "
        "AND NOT EXISTS (SELECT 1 FROM file_ops o WHERE o.job_id = jobs.id)");
    s.bind(1, before_us);
    purged = s.exec();
    return {};
  });
}

// ---- The outbox -----------------------------------------------------------------

Result<std::vector<FileOp>> Store::pending_ops() {
  return read<std::vector<FileOp>>([&] {
    // Cancel-Session rows are the worker's (network), not the filesystem's.
    auto& s = prepare("SELECT id, job_id, kind FROM file_ops WHERE kind IN (1, 2) ORDER BY id");
    std::vector<FileOp> out;
    while (s.executeStep()) {
      const int64_t id = s.getColumn(0).getInt64();
      bool retired = false;
      for (int64_t r : retired_ops_) retired = retired || r == id;
      if (!retired)
        out.push_back(FileOp{id, s.getColumn(1).getString(), static_cast<OpKind>(s.getColumn(2).getInt()), std::nullopt});
    }
    return out;
  });
}

Result<std::vector<FileRow>> Store::job_files(const std::string& job_id) {
  return read<std::vector<FileRow>>([&] {
    auto& s = prepare("SELECT " XFERQ_FILE_COLUMNS "FROM files WHERE job_id = ? ORDER BY idx");
    s.bind(1, job_id);
    std::vector<FileRow> out;
    while (s.executeStep()) out.push_back(read_file_row(s));
    return out;
  });
}

void Store::retire_op(int64_t op_id) {
  std::lock_guard<std::mutex> lock(mu_);
  retired_ops_.push_back(op_id);
}

void Store::retire_ops(const std::vector<int64_t>& op_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  retired_ops_.insert(retired_ops_.end(), op_ids.begin(), op_ids.end());
}

Result<std::vector<std::vector<std::string>>> Store::temp_paths(const std::vector<std::string>& job_ids) {
  return read<std::vector<std::vector<std::string>>>([&] {
    auto& s = prepare("SELECT temp_path FROM files WHERE job_id = ? AND temp_path IS NOT NULL");
    std::vector<std::vector<std::string>> out;
    for (const std::string& id : job_ids) {
      s.reset();
      s.bind(1, id);
      out.emplace_back();
      while (s.executeStep()) out.back().push_back(s.getColumn(0).getString());
    }
    return out;
  });
}

std::error_code Store::flush_retired_locked() {
  if (retired_ops_.empty()) return {};
  // Cleared here; write_txn restores the list if the transaction rolls back.
  // Outbox ids are handed out in order, so retired ones mostly form runs:
  // one DELETE per run of consecutive ids.
  std::sort(retired_ops_.begin(), retired_ops_.end());
  auto& del = prepare("DELETE FROM file_ops WHERE id BETWEEN ? AND ?");
  for (size_t i = 0; i < retired_ops_.size();) {
    size_t j = i;
    while (j + 1 < retired_ops_.size() && retired_ops_[j + 1] <= retired_ops_[j] + 1) ++j;
    del.reset();
    del.bind(1, retired_ops_[i]);
    del.bind(2, retired_ops_[j]);
    del.exec();
    i = j + 1;
  }
  retired_ops_.clear();
  return {};
}

std::error_code Store::flush_retired() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (retired_ops_.empty()) return {};
  }
  return write_txn([] { return std::error_code(); });
}

std::error_code Store::note_op_failure(int64_t op_id, const std::string& why) {
  return write_txn([&]() -> std::error_code {
    auto& s = prepare(
        "UPDATE file_ops SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1");
    s.bind(1, op_id);
    s.bind(2, why);
    s.exec();
    return {};
  });
}

// ---- The worker -------------------------------------------------------------------

Result<std::vector<Claim>> Store::claim_next(int limit, const std::vector<std::string>& skip,
                                             int64_t now_us) {
  std::vector<Claim> out;
  const JobState connecting = *on_worker_event(JobState::queued, WorkerEvent::start);
  // Most wake-ups find nothing queued: answer those with a read.
  auto any = read<bool>([&] {
    auto& q = prepare("SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 0)");
    q.executeStep();
    const bool found = q.getColumn(0).getInt() != 0;
    q.reset();
    return found;
  });
  if (!any) return any.error();
  if (!*any) return out;
  std::error_code ec = write_txn([&]() -> std::error_code {
    out.clear();
    auto& pick = prepare("SELECT id FROM jobs WHERE state = 0 ORDER BY priority, queued_seq LIMIT ?");
    pick.bind(1, limit + static_cast<int>(skip.size()));
    std::vector<std::string> ids;
    while (pick.executeStep()) {
      std::string id = pick.getColumn(0).getString();
      bool held = false;
      for (const auto& s : skip) held = held || s == id;
      if (!held && static_cast<int>(ids.size()) < limit) ids.push_back(std::move(id));
    }
    pick.reset();
    auto& up = prepare(
        "UPDATE jobs SET state = ?3, generation = generation + 1, modified_us = ?2 "
        "WHERE id = ?1 AND state = 0 RETURNING generation, type");
    for (const auto& id : ids) {
      up.reset();
      up.bind(1, id);
      up.bind(2, now_us);
      up.bind(3, static_cast<int>(connecting));
      if (up.executeStep())
        out.push_back(Claim{id, up.getColumn(0).getInt64(), static_cast<JobType>(up.getColumn(1).getInt())});
      up.reset();
    }
    return {};
  });
  if (ec) return ec;
  return out;
}

Result<std::optional<int64_t>> Store::generation(const std::string& job_id) {
  return read<std::optional<int64_t>>([&]() -> std::optional<int64_t> {
    auto& s = prepare("SELECT generation FROM jobs WHERE id = ?");
    s.bind(1, job_id);
    if (!s.executeStep()) return std::nullopt;
    const int64_t g = s.getColumn(0).getInt64();
    s.reset();
    return g;
  });
}

Result<std::optional<FileRow>> Store::next_file(const std::string& job_id) {
  return read<std::optional<FileRow>>([&]() -> std::optional<FileRow> {
    auto& s = prepare("SELECT " XFERQ_FILE_COLUMNS
                      "FROM files WHERE job_id = ? AND completed = 0 ORDER BY idx LIMIT 1");
    s.bind(1, job_id);
    if (!s.executeStep()) return std::nullopt;
    FileRow f = read_file_row(s);
    s.reset();
    return f;
  });
}

Result<WriteOutcome> Store::guard_temp_file(const Claim& claim, int64_t idx, const std::string& path,
                                            const std::function<std::error_code()>& open_or_create) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](WriteOutcome& outcome) -> std::error_code {
    auto& s = prepare(
        "UPDATE files SET temp_path = ?4 WHERE job_id = ?1 AND idx = ?3 "
        "AND (SELECT generation FROM jobs WHERE id = ?1) = ?2");
    s.bind(1, claim.job_id);
    s.bind(2, claim.generation);
    s.bind(3, idx);
    s.bind(4, path);
    if (s.exec() != 1) return {};  // the job moved on: create nothing
    if (std::error_code ec = open_or_create()) return ec;
    outcome = WriteOutcome::applied;
    return {};
  });
}

Result<WriteOutcome> Store::mark_connected(Claim* claim, int64_t now_us) {
  const JobState transferring = *on_worker_event(JobState::connecting, WorkerEvent::connected);
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](WriteOutcome& outcome) -> std::error_code {
    auto& s = prepare(
        "UPDATE jobs SET state = ?4, generation = generation + 1, modified_us = ?3 "
        "WHERE id = ?1 AND generation = ?2 RETURNING generation");
    s.bind(1, claim->job_id);
    s.bind(2, claim->generation);
    s.bind(3, now_us);
    s.bind(4, static_cast<int>(transferring));
    if (s.executeStep()) {
      claim->generation = s.getColumn(0).getInt64();
      outcome = WriteOutcome::applied;
    }
    s.reset();
    return {};
  });
}

Result<WriteOutcome> Store::commit_progress(const Claim& claim, const FileRow& file, int64_t now_us) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](WriteOutcome& outcome) -> std::error_code {
    auto& s = prepare(
        "UPDATE files SET bytes_transferred = ?4, bytes_total = ?5, etag = ?6, last_modified = ?7 "
        "WHERE job_id = ?1 AND idx = ?3 AND (SELECT generation FROM jobs WHERE id = ?1) = ?2");
    s.bind(1, claim.job_id);
    s.bind(2, claim.generation);
    s.bind(3, file.idx);
    s.bind(4, file.bytes_transferred);
    s.bind(5, file.bytes_total);
    bind_text_or_null(s, 6, file.etag);
    bind_text_or_null(s, 7, file.last_modified);
    if (s.exec() == 0) return {};
    // Progress resets the no-progress clock.
    auto& j = prepare("UPDATE jobs SET modified_us = ?2, no_progress_since_us = NULL WHERE id = ?1");
    j.bind(1, claim.job_id);
    j.bind(2, now_us);
    j.exec();
    outcome = WriteOutcome::applied;
    return {};
  });
}

Result<FileFinish> Store::finish_file(Claim* claim, const FileRow& file, int64_t now_us) {
  const JobState transferred = *on_worker_event(JobState::transferring, WorkerEvent::all_files_done);
  return write_value<FileFinish>(FileFinish::stale, [&](FileFinish& outcome) -> std::error_code {
    auto& s = prepare(
        "UPDATE files SET completed = 1, bytes_transferred = ?4, bytes_total = ?4, etag = ?5, "
        "last_modified = ?6 WHERE job_id = ?1 AND idx = ?3 "
        "AND (SELECT generation FROM jobs WHERE id = ?1) = ?2");
    s.bind(1, claim->job_id);
    s.bind(2, claim->generation);
    s.bind(3, file.idx);
    s.bind(4, file.bytes_transferred);
    bind_text_or_null(s, 5, file.etag);
    bind_text_or_null(s, 6, file.last_modified);
    if (file.idx >= 0) {
      if (s.exec() == 0) return {};
    } else {
      // No file to finish (all were done before): only the generation counts.
      auto& g = prepare("SELECT 1 FROM jobs WHERE id = ? AND generation = ?");
      g.bind(1, claim->job_id);
      g.bind(2, claim->generation);
      const bool current = g.executeStep();
      g.reset();
      if (!current) return {};
    }
    const FileFacts facts = facts_locked(claim->job_id);
    if (facts.files_completed < facts.files_total) {
      auto& j = prepare("UPDATE jobs SET modified_us = ?2, no_progress_since_us = NULL WHERE id = ?1");
      j.bind(1, claim->job_id);
      j.bind(2, now_us);
      j.exec();
      outcome = FileFinish::more_files;
      return {};
    }
    auto& j = prepare(
        "UPDATE jobs SET state = ?3, generation = generation + 1, modified_us = ?2, "
        "transferred_us = ?2, no_progress_since_us = NULL, upload_session_id = NULL "
        "WHERE id = ?1 RETURNING generation");
    j.bind(1, claim->job_id);
    j.bind(2, now_us);
    j.bind(3, static_cast<int>(transferred));
    j.executeStep();
    claim->generation = j.getColumn(0).getInt64();
    j.reset();
    outcome = FileFinish::job_transferred;
    return {};
  });
}

Result<WriteOutcome> Store::fail(const Claim& claim, const TransferFailure& failure, int64_t now_us,
                                 JobState* state_after) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](WriteOutcome& outcome) -> std::error_code {
    auto& q = prepare(
        "SELECT state, retry_delay_s, no_progress_timeout_s, no_progress_since_us FROM jobs "
        "WHERE id = ? AND generation = ?");
    q.bind(1, claim.job_id);
    q.bind(2, claim.generation);
    if (!q.executeStep()) return {};
    const auto current = static_cast<JobState>(q.getColumn(0).getInt());
    const int64_t delay_us = std::max<int64_t>(q.getColumn(1).getInt64(),
                                               options_.minimum_retry_delay_floor.count()) * kUs;
    const int64_t timeout_us = q.getColumn(2).getInt64() * kUs;
    const int64_t since = q.isColumnNull(3) ? now_us : q.getColumn(3).getInt64();
    q.reset();
    // A transient error stays transient only if a retry can come before the
    // no-progress timeout runs out (0 = every error is fatal).
    const bool fatal = !failure.transient || timeout_us == 0 || (now_us + delay_us) - since > timeout_us;
    auto next = on_worker_event(current, fatal ? WorkerEvent::fatal_error : WorkerEvent::transient_error);
    if (!next) return {};
    auto& up = prepare(
        "UPDATE jobs SET state = ?3, generation = generation + 1, modified_us = ?4, "
        "error_hresult = ?5, error_context = ?6, error_description = ?7, error_file = ?8, "
        "error_count = error_count + 1, retry_at_us = ?9, no_progress_since_us = ?10 "
        "WHERE id = ?1 AND generation = ?2");
    up.bind(1, claim.job_id);
    up.bind(2, claim.generation);
    up.bind(3, static_cast<int>(*next));
    up.bind(4, now_us);
    up.bind(5, static_cast<int64_t>(failure.hresult));
    up.bind(6, static_cast<int>(failure.context));
    up.bind(7, failure.description);
    if (failure.file_index)
      up.bind(8, *failure.file_index);
    else
      up.bind(8);
    up.bind(9, now_us + delay_us);
    up.bind(10, since);
    up.exec();
    *state_after = *next;
    outcome = WriteOutcome::applied;
    return {};
  });
}

Result<WriteOutcome> Store::release(const Claim& claim, int64_t now_us) {
  const JobState queued = *on_worker_event(JobState::transferring, WorkerEvent::interrupted);
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](WriteOutcome& outcome) -> std::error_code {
    auto& s = prepare(
        "UPDATE jobs SET state = ?4, generation = generation + 1, modified_us = ?3 "
        "WHERE id = ?1 AND generation = ?2 AND state IN (1, 2)");
    s.bind(1, claim.job_id);
    s.bind(2, claim.generation);
    s.bind(3, now_us);
    s.bind(4, static_cast<int>(queued));
    outcome = s.exec() == 1 ? WriteOutcome::applied : WriteOutcome::stale;
    return {};
  });
}

Result<int64_t> Store::requeue_due(int64_t now_us, std::vector<std::string>* expired) {
  expired->clear();
  // Most wake-ups find nothing due: answer those with a read, no write lock.
  auto due = read<bool>([&] {
    auto& q = prepare(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 5 AND (retry_at_us <= ?1 "
        "OR no_progress_since_us + no_progress_timeout_s * 1000000 <= ?1))");
    q.bind(1, now_us);
    q.executeStep();
    const bool any = q.getColumn(0).getInt() != 0;
    q.reset();
    return any;
  });
  if (!due) return due.error();
  if (!*due) return int64_t{0};
  return write_value<int64_t>(0, [&](int64_t& requeued) -> std::error_code {
    expired->clear();
    auto& x = prepare(
        "UPDATE jobs SET state = 4, generation = generation + 1, modified_us = ?1, "
        "error_hresult = ?2, error_context = 6, "
        "error_description = 'no progress within the no-progress timeout' "
        "WHERE state = 5 AND no_progress_since_us + no_progress_timeout_s * 1000000 <= ?1 "
        "RETURNING id");
    x.bind(1, now_us);
    x.bind(2, static_cast<int64_t>(Errc::download_no_progress));
    while (x.executeStep()) expired->push_back(x.getColumn(0).getString());
    x.reset();
    auto& s = prepare(
        "UPDATE jobs SET state = 0, generation = generation + 1, modified_us = ?1, queued_seq = ?1 "
        "WHERE state = 5 AND retry_at_us <= ?1");
    s.bind(1, now_us);
    requeued = s.exec();
    return {};
  });
}

Result<std::optional<int64_t>> Store::next_retry_us() {
  return read<std::optional<int64_t>>([&]() -> std::optional<int64_t> {
    auto& s = prepare("SELECT min(retry_at_us) FROM jobs WHERE state = 5");
    std::optional<int64_t> at;
    if (s.executeStep() && !s.isColumnNull(0)) at = s.getColumn(0).getInt64();
    s.reset();
    return at;
  });
}

std::error_code Store::recover_interrupted(int64_t now_us) {
  return write_txn([&]() -> std::error_code {
    auto& s = prepare(
        "UPDATE jobs SET state = 0, generation = generation + 1, modified_us = ?1 WHERE state IN (1, 2)");
    s.bind(1, now_us);
    s.exec();
    return {};
  });
}

// ---- Uploads ------------------------------------------------------------------------

Result<JobType> Store::job_type(const std::string& id) {
  auto r = read<std::optional<JobType>>([&]() -> std::optional<JobType> {
    auto& s = prepare("SELECT type FROM jobs WHERE id = ?");
    s.bind(1, id);
    if (!s.executeStep()) return std::nullopt;
    const auto t = static_cast<JobType>(s.getColumn(0).getInt());
    s.reset();
    return t;
  });
  if (!r) return r.error();
  if (!*r) return make_error_code(Errc::not_found);
  return **r;
}

Result<std::optional<std::string>> Store::reply_target(const std::string& id) {
  return read<std::optional<std::string>>([&]() -> std::optional<std::string> {
    auto& s = prepare(
        "SELECT coalesce(j.reply_file_name, f.local_path || '.reply', '') FROM jobs j "
        "LEFT JOIN files f ON f.job_id = j.id AND f.idx = 0 WHERE j.id = ? AND j.type = 2");
    s.bind(1, id);
    std::optional<std::string> out;
    if (s.executeStep()) out = s.getColumn(0).getString();
    s.reset();
    return out;
  });
}

Result<UploadJob> Store::upload_job(const std::string& job_id) {
  auto r = read<std::optional<UploadJob>>([&]() -> std::optional<UploadJob> {
    auto& s = prepare(
        "SELECT j.upload_session_id, j.reply_url, "
        "coalesce(j.reply_file_name, f.local_path || '.reply', '') FROM jobs j "
        "LEFT JOIN files f ON f.job_id = j.id AND f.idx = 0 WHERE j.id = ?");
    s.bind(1, job_id);
    if (!s.executeStep()) return std::nullopt;
    UploadJob u{column_text(s, 0), column_text(s, 1), column_text(s, 2)};
    s.reset();
    return u;
  });
  if (!r) return r.error();
  if (!*r) return make_error_code(Errc::not_found);
  return **r;
}

Result<WriteOutcome> Store::set_upload_session(const Claim& claim, int64_t idx, const std::string& session_id,
                                               int64_t size, int64_t now_us) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](WriteOutcome& outcome) -> std::error_code {
    auto& j = prepare(
        "UPDATE jobs SET upload_session_id = ?3, reply_url = NULL, modified_us = ?4 "
        "WHERE id = ?1 AND generation = ?2");
    j.bind(1, claim.job_id);
    j.bind(2, claim.generation);
    bind_text_or_null(j, 3, session_id);
    j.bind(4, now_us);
    if (j.exec() == 0) return {};
    // A new session starts at byte 0: nothing of it is acknowledged yet.
    auto& f = prepare(
        "UPDATE files SET bytes_transferred = 0, bytes_total = ?3 WHERE job_id = ?1 AND idx = ?2");
    f.bind(1, claim.job_id);
    f.bind(2, idx);
    f.bind(3, size);
    f.exec();
    outcome = WriteOutcome::applied;
    return {};
  });
}

Result<WriteOutcome> Store::set_reply_url(const Claim& claim, const std::string& url, int64_t now_us) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](WriteOutcome& outcome) -> std::error_code {
    auto& j = prepare(
        "UPDATE jobs SET reply_url = ?3, modified_us = ?4 WHERE id = ?1 AND generation = ?2");
    j.bind(1, claim.job_id);
    j.bind(2, claim.generation);
    bind_text_or_null(j, 3, url);
    j.bind(4, now_us);
    if (j.exec() == 1) outcome = WriteOutcome::applied;
    return {};
  });
}

Result<std::vector<FileOp>> Store::pending_cancel_sessions() {
  return read<std::vector<FileOp>>([&] {
    auto& s = prepare(
        "SELECT id, job_id, coalesce(url, ''), coalesce(session_id, ''), created_us, attempts "
        "FROM file_ops WHERE kind = 3 ORDER BY id");
    std::vector<FileOp> out;
    while (s.executeStep()) {
      const int64_t id = s.getColumn(0).getInt64();
      if (std::find(retired_ops_.begin(), retired_ops_.end(), id) != retired_ops_.end()) continue;
      FileOp op{id, s.getColumn(1).getString(), OpKind::cancel_session, std::nullopt};
      op.url = s.getColumn(2).getString();
      op.session_id = s.getColumn(3).getString();
      op.created_us = s.getColumn(4).getInt64();
      op.attempts = s.getColumn(5).getInt64();
      out.push_back(std::move(op));
    }
    return out;
  });
}

Result<int64_t> Store::data_version() {
  return read<int64_t>([&] {
    auto& s = prepare("PRAGMA data_version");
    s.executeStep();
    const int64_t v = s.getColumn(0).getInt64();
    s.reset();
    return v;
  });
}

}  // namespace xferq::detail
