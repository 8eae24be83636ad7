// sqlite_outbox.cc — the SQLite backend's outbox (file_ops): pending
// operations, their retirement, and the tombstone that keeps outbox ids from
// ever repeating without AUTOINCREMENT (schema/016). Cancel's and Complete's
// inserts are in sqlite_jobs.cc.
#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>

#include "storage/sqlite_sql.h"
#include "storage/sqlite_store.h"

namespace xferq::detail {

using sqlite::column_text;
using sqlite::kind_sql;
using sqlite::read_file_row;

Result<std::vector<FileOp>> SqliteStore::pending_ops() {
  // Cancel-Session rows are the worker's (network), not the filesystem's.
  static const std::string sql = "SELECT id, job_id, kind FROM file_ops WHERE kind IN (" +
                                 kind_sql(OpKind::delete_temps) + ", " + kind_sql(OpKind::finalize) +
                                 ") ORDER BY id";
  return read<std::vector<FileOp>>([&] {
    auto& s = prepare(sql.c_str());
    std::vector<FileOp> out;
    while (s.executeStep()) {
      const int64_t id = s.getColumn(0).getInt64();
      if (!is_retired_locked(id))
        out.push_back(FileOp{id, s.getColumn(1).getString(), static_cast<OpKind>(s.getColumn(2).getInt()), std::nullopt});
    }
    return out;
  });
}

Result<std::vector<FileRow>> SqliteStore::job_files(const std::string& job_id) {
  return read<std::vector<FileRow>>([&] {
    auto& s = prepare("SELECT " XFERQ_FILE_COLUMNS "FROM files WHERE job_id = ? ORDER BY idx");
    s.bind(1, job_id);
    std::vector<FileRow> out;
    while (s.executeStep()) out.push_back(read_file_row(s));
    return out;
  });
}

Result<JobState> SqliteStore::op_previous_state(const FileOp& op) {
  // A finalize row without a previous state (written before it was recorded)
  // came from TRANSFERRED, the only state Complete then accepted.
  return read<JobState>([&] {
    auto& s = prepare("SELECT previous_state FROM file_ops WHERE id = ?");
    s.bind(1, op.id);
    JobState st = JobState::transferred;
    if (s.executeStep() && !s.isColumnNull(0)) st = sqlite::column_state(s, 0);
    s.reset();
    return st;
  });
}

void SqliteStore::retire_op(int64_t op_id) {
  std::lock_guard<std::mutex> lock(mu_);
  retired_ops_.push_back(op_id);
}

void SqliteStore::retire_ops(const std::vector<int64_t>& op_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  retired_ops_.insert(retired_ops_.end(), op_ids.begin(), op_ids.end());
}

Result<std::vector<std::vector<std::string>>> SqliteStore::temp_paths(const std::vector<std::string>& job_ids) {
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

bool SqliteStore::is_retired_locked(int64_t op_id) const {
  return std::find(retired_ops_.begin(), retired_ops_.end(), op_id) != retired_ops_.end();
}

std::error_code SqliteStore::flush_retired_locked() {
  if (retired_ops_.empty()) return {};
  // Cleared here; write_txn restores the list if the transaction rolls back.
  // Outbox ids are handed out in order, so retired ones mostly form runs:
  // one DELETE per run of consecutive ids.
  std::sort(retired_ops_.begin(), retired_ops_.end());
  const int64_t top = top_op_id_locked();
  for (size_t i = 0; i < retired_ops_.size();) {
    size_t j = i;
    while (j + 1 < retired_ops_.size() && retired_ops_[j + 1] <= retired_ops_[j] + 1) ++j;
    bury_ops_locked(retired_ops_[i], retired_ops_[j], top);
    i = j + 1;
  }
  retired_ops_.clear();
  return {};
}

int64_t SqliteStore::top_op_id_locked() {
  auto& s = prepare("SELECT coalesce(max(id), 0) FROM file_ops");
  s.executeStep();
  const int64_t top = s.getColumn(0).getInt64();
  s.reset();
  return top;
}

void SqliteStore::bury_ops_locked(int64_t first, int64_t last, int64_t top) {
  // schema/016: the row holding the highest id is never deleted (SQLite
  // would hand its id out again); it becomes a tombstone, which the next
  // insert deletes (clear_tombstone_locked).
  auto& del = prepare("DELETE FROM file_ops WHERE id BETWEEN ?1 AND ?2 AND id != ?3");
  del.bind(1, first);
  del.bind(2, last);
  del.bind(3, top);
  del.exec();
  if (top < first || top > last) return;
  auto& bury = prepare(
      "UPDATE file_ops SET kind = 0, job_id = '', previous_state = NULL, attempts = 0, last_error = NULL, "
      "url = NULL, session_id = NULL WHERE id = ?");
  bury.bind(1, top);
  bury.exec();
}

void SqliteStore::clear_tombstone_locked(int64_t new_op_id) {
  // The invariant of schema/016: a tombstone holds the highest id, so the
  // only one there can be is just below the id this insert took.
  auto& del = prepare("DELETE FROM file_ops WHERE id = ? AND kind = 0");
  del.bind(1, new_op_id - 1);
  del.exec();
}

std::error_code SqliteStore::flush_retired() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (retired_ops_.empty()) return {};
  }
  return write_txn([] { return std::error_code(); });
}

Result<bool> SqliteStore::take_op_for_recovery(int64_t op_id) {
  return write_value<bool>(false, [&](bool& taken) -> std::error_code {
    auto& s = prepare("UPDATE file_ops SET attempts = attempts + 1 WHERE id = ? AND kind != 0");
    s.bind(1, op_id);
    taken = s.exec() == 1;
    return {};
  });
}

std::error_code SqliteStore::note_op_failure(int64_t op_id, const std::string& why) {
  return write_txn([&]() -> std::error_code {
    auto& s = prepare(
        "UPDATE file_ops SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1 AND kind != 0");
    s.bind(1, op_id);
    s.bind(2, why);
    s.exec();
    return {};
  });
}

Result<std::vector<FileOp>> SqliteStore::pending_cancel_sessions() {
  return read<std::vector<FileOp>>([&] {
    auto& s = prepare(
        "SELECT id, job_id, coalesce(url, ''), coalesce(session_id, ''), created_us, attempts "
        "FROM file_ops WHERE kind = ?1 ORDER BY id");
    s.bind(1, static_cast<int>(OpKind::cancel_session));
    std::vector<FileOp> out;
    while (s.executeStep()) {
      const int64_t id = s.getColumn(0).getInt64();
      if (is_retired_locked(id)) continue;
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

}  // namespace xferq::detail
