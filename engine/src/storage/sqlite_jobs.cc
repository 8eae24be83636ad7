// sqlite_jobs.cc — the SQLite backend's statements for the API's calls:
// creating jobs, snapshots, add_files, suspend/resume, Cancel, Complete,
// properties, and housekeeping.
#include <SQLiteCpp/SQLiteCpp.h>

#include "storage/sqlite_sql.h"
#include "validate.h"
#include "storage/sqlite_store.h"
#include "xferq/error.h"

namespace xferq::detail {

using sqlite::bind_text_or_null;
using sqlite::kind_sql;
using sqlite::read_job_info;
using sqlite::state_sql;
using sqlite::states_sql;

namespace {

// "state NOT IN (7, 8)": the job is not final.
const std::string& not_final() {
  static const std::string sql = "state NOT IN " + states_sql(final_states());
  return sql;
}

// Whether a job not yet final would write ?1 when it completes: a file's
// local path, or the reply target of an upload-reply job other than ?2 (its
// reply file name, or its file's path + ".reply", ?3 being ?1 without that
// suffix; a name set before the job has a file counts too). Two such jobs
// would overwrite each other's file. The first two branches search
// files_by_local_path; the third scans jobs (reply_file_name has no index).
const std::string& target_taken_sql() {
  static const std::string reply = std::to_string(static_cast<int>(JobType::upload_reply));
  static const std::string sql =
      "SELECT 1 FROM files f JOIN jobs j ON j.id = f.job_id WHERE f.local_path = ?1 AND j." + not_final() +
      " UNION ALL SELECT 1 FROM files f JOIN jobs j ON j.id = f.job_id WHERE f.local_path = ?3 AND j.type = " +
      reply + " AND j.id != ?2 AND j.reply_file_name IS NULL AND j." + not_final() +
      " UNION ALL SELECT 1 FROM jobs j WHERE j.reply_file_name = ?1 AND j.type = " + reply + " AND j.id != ?2 AND j." +
      not_final() + " LIMIT 1";
  return sql;
}

}  // namespace

std::error_code SqliteStore::create_job(const std::string& id, std::string_view display_name, JobType type,
                                        int64_t now_us) {
  return write_txn([&]() -> std::error_code {
    auto& s = prepare(
        "INSERT INTO jobs (id, type, state, display_name, created_us, modified_us) "
        "VALUES (?, ?, ?, ?, ?, ?)");
    s.bind(1, id);
    s.bind(2, static_cast<int>(type));
    s.bind(3, static_cast<int>(initial_state()));
    s.bind(4, std::string(display_name));
    s.bind(5, now_us);
    s.bind(6, now_us);
    s.exec();
    return {};
  });
}

Result<JobInfo> SqliteStore::job_info(const std::string& id) {
  return read_found<JobInfo>([&]() -> std::optional<JobInfo> {
    auto& s = prepare("SELECT " XFERQ_JOB_COLUMNS "WHERE j.id = ? GROUP BY j.id");
    s.bind(1, id);
    if (!s.executeStep()) return std::nullopt;
    JobInfo j = read_job_info(s);
    s.reset();
    return j;
  });
}

Result<JobState> SqliteStore::job_state(const std::string& id) {
  return read_found<JobState>([&] { return state_locked(id); });
}

Result<std::vector<JobInfo>> SqliteStore::job_infos(bool include_final) {
  static const std::string sql = "SELECT " XFERQ_JOB_COLUMNS "WHERE (?1 OR j." + not_final() +
                                 ") GROUP BY j.id ORDER BY j.created_us, j.rowid";
  return read<std::vector<JobInfo>>([&] {
    auto& s = prepare(sql.c_str());
    s.bind(1, include_final ? 1 : 0);
    std::vector<JobInfo> out;
    while (s.executeStep()) out.push_back(read_job_info(s));
    return out;
  });
}

Result<std::vector<std::string>> SqliteStore::job_ids(bool include_final) {
  static const std::string sql =
      "SELECT id FROM jobs WHERE (?1 OR " + not_final() + ") ORDER BY created_us, rowid";
  return read<std::vector<std::string>>([&] {
    auto& s = prepare(sql.c_str());
    s.bind(1, include_final ? 1 : 0);
    std::vector<std::string> out;
    while (s.executeStep()) out.push_back(s.getColumn(0).getString());
    return out;
  });
}

Result<std::vector<FileInfo>> SqliteStore::files(const std::string& id) {
  auto rows = job_files(id);
  if (!rows) return rows.error();
  if (rows->empty()) {
    auto st = job_state(id);
    if (!st) return st.error();
  }
  return file_infos(*rows);
}

std::error_code SqliteStore::add_files(const std::string& id, const std::vector<FileSpec>& files,
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
    // An upload only reads its file: several jobs may send the same one.
    for (size_t i = 0; i < files.size() && !facts.upload; ++i) {
      for (size_t k = 0; k < i; ++k)
        if (files[k].local_path == files[i].local_path) return make_error_code(Errc::invalid_arg);
      if (target_taken_locked(files[i].local_path, id)) return make_error_code(Errc::file_exists);
    }
    // An upload-reply job without a reply file name writes its reply beside
    // its file: that name must be free too.
    if (facts.upload && !files.empty() && default_reply_locked(id) &&
        target_taken_locked(files[0].local_path + ".reply", id))
      return make_error_code(Errc::file_exists);
    auto& ins = prepare(
        "INSERT INTO files (job_id, idx, remote_url, local_path, expected_size, expected_sha256, expected_sha512, "
        "ranges, bytes_total) "
        "VALUES (?1, ?2, ?3, ?4, nullif(?5, -1), nullif(?6, ''), nullif(?7, ''), nullif(?8, ''), ?9)");
    for (size_t i = 0; i < files.size(); ++i) {
      ins.reset();
      ins.bind(1, id);
      ins.bind(2, facts.files_total + static_cast<int64_t>(i));
      ins.bind(3, files[i].remote_url);
      ins.bind(4, files[i].local_path);
      ins.bind(5, files[i].integrity.size);
      ins.bind(6, files[i].integrity.sha256);
      ins.bind(7, files[i].integrity.sha512);
      ins.bind(8, format_ranges(files[i].ranges));
      // A file of finite ranges has its size from the start: their sum.
      int64_t total = files[i].ranges.empty() ? kSizeUnknown : 0;
      for (const FileRange& r : files[i].ranges)
        total = r.length == kLengthToEof || total < 0 ? kSizeUnknown : total + static_cast<int64_t>(r.length);
      ins.bind(9, total);
      ins.exec();
    }
    auto& up = prepare(
        "UPDATE jobs SET state = ?2, modified_us = ?3, generation = generation + ?4 WHERE id = ?1 "
        "RETURNING generation");
    up.bind(1, id);
    up.bind(2, static_cast<int>(decision->next));
    up.bind(3, now_us);
    up.bind(4, decision->state_changes ? 1 : 0);
    up.executeStep();
    if (decision->state_changes) decision->generation = up.getColumn(0).getInt64();
    up.reset();
    return {};
  });
}

std::error_code SqliteStore::apply_call(const std::string& id, Call call, int64_t now_us, Decision* decision) {
  static const std::string sql =
      "UPDATE jobs SET state = ?2, modified_us = ?3, generation = generation + 1, "
      "queued_seq = CASE WHEN ?2 = " + state_sql(JobState::queued) + " THEN ?3 ELSE queued_seq END, "
      // Resume starts the maximum download time's count again (BITS).
      "download_time_us = CASE WHEN ?4 THEN 0 ELSE download_time_us END "
      "WHERE id = ?1 RETURNING generation";
  // Grouped, as cancel(): *decision is set on every run.
  return grouped_write([&]() -> std::error_code {
    *decision = Decision();
    auto current = state_locked(id);
    if (!current) return make_error_code(Errc::not_found);
    // Only resume needs the file count; skip the read for the others.
    const FileFacts facts = call == Call::resume ? facts_locked(id) : FileFacts{};
    *decision = decide(*current, call, facts);
    if (decision->error) return decision->error;
    if (!decision->state_changes) return {};
    auto& up = prepare(sql.c_str());
    up.bind(1, id);
    up.bind(2, static_cast<int>(decision->next));
    up.bind(3, now_us);
    up.bind(4, call == Call::resume ? 1 : 0);
    up.executeStep();
    decision->generation = up.getColumn(0).getInt64();
    up.reset();
    return {};
  });
}

Result<FileOp> SqliteStore::cancel(const std::string& id, int64_t now_us, bool with_paths) {
  // The state check is folded into the UPDATE: the table's set of states that
  // accept a cancel is bound as a bit mask.
  static const std::string cancel_sql =
      "UPDATE jobs SET state = " + state_sql(call_target(Call::cancel)) +
      ", generation = generation + 1, modified_us = ?2 "
      "WHERE id = ?1 AND ((1 << state) & ?3) != 0";
  // Read after the UPDATE rather than with RETURNING: SQLite gathers a
  // RETURNING clause's rows in an ephemeral table, whose b-tree it opens,
  // zeroes and closes on every call — a fifth of the instructions a cancel ran.
  static const std::string after_sql = "SELECT upload_session_id IS NOT NULL, generation FROM jobs WHERE id = ?";
  static const std::string op_sql =
      "INSERT INTO file_ops (job_id, kind, created_us) VALUES (?, " + kind_sql(OpKind::delete_temps) + ", ?)";
  static const std::string session_sql =
      "INSERT INTO file_ops (job_id, kind, created_us, url, session_id) "
      "SELECT j.id, " + kind_sql(OpKind::cancel_session) + ", ?2, f.remote_url, j.upload_session_id FROM jobs j "
      "JOIN files f ON f.job_id = j.id AND f.idx = 0 WHERE j.id = ?1 AND j.upload_session_id IS NOT NULL";
  // Grouped: concurrent cancels share a commit (commit_group.h).
  return grouped_value<FileOp>(FileOp(), [&](FileOp& op) -> std::error_code {
    auto& up = prepare(cancel_sql.c_str());
    up.bind(1, id);
    up.bind(2, now_us);
    up.bind(3, static_cast<int64_t>(allowed_from(Call::cancel)));
    if (up.exec() == 0) return state_error_locked(id);
    auto& after = prepare(after_sql.c_str());
    after.bind(1, id);
    after.executeStep();
    const bool open_session = after.getColumn(0).getInt() != 0;
    const int64_t generation = after.getColumn(1).getInt64();
    after.reset();
    auto& ins = prepare(op_sql.c_str());
    ins.bind(1, id);
    ins.bind(2, now_us);
    ins.exec();
    op = FileOp{last_insert_id(), id, OpKind::delete_temps, std::nullopt};
    clear_tombstone_locked(op.id);
    op.job_generation = generation;
    // An upload with an open session: the same transaction records the
    // Cancel-Session the worker owes the server (it deletes its partial file).
    if (open_session) {
      auto& cs = prepare(session_sql.c_str());
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

Result<FileOp> SqliteStore::complete(const std::string& id, int64_t now_us, Decision* decision,
                                     JobState* previous) {
  static const std::string op_sql = "INSERT INTO file_ops (job_id, kind, created_us, previous_state) VALUES (?, " +
                                    kind_sql(OpKind::finalize) + ", ?, ?)";
  return write_value<FileOp>(FileOp(), [&](FileOp& op) -> std::error_code {
    auto current = state_locked(id);
    if (!current) return make_error_code(Errc::not_found);
    *previous = *current;
    *decision = decide(*current, Call::complete, facts_locked(id));
    if (decision->error) return decision->error;
    auto& up = prepare(
        "UPDATE jobs SET state = ?3, generation = generation + 1, modified_us = ?2 WHERE id = ?1 "
        "RETURNING generation");
    up.bind(1, id);
    up.bind(2, now_us);
    up.bind(3, static_cast<int>(decision->next));
    up.executeStep();
    decision->generation = up.getColumn(0).getInt64();
    up.reset();
    auto& ins = prepare(op_sql.c_str());
    ins.bind(1, id);
    ins.bind(2, now_us);
    ins.bind(3, static_cast<int>(*current));
    ins.exec();
    op = FileOp{last_insert_id(), id, OpKind::finalize, std::nullopt};
    clear_tombstone_locked(op.id);
    op.job_generation = decision->generation;
    return {};
  },
  // Synced even under synchronous=NORMAL: the renames that follow are
  // durable, so the decision must be too (a power cut must not keep a final
  // file of a job that is TRANSFERRED again).
  /*durable=*/true);
}

Result<bool> SqliteStore::complete_failed(const FileOp& op, JobState previous, int64_t now_us) {
  static const std::string sql =
      "UPDATE jobs SET state = ?2, generation = generation + 1, modified_us = ?3 WHERE id = ?1 AND state = " +
      state_sql(call_target(Call::complete));
  return write_value<bool>(false, [&](bool& withdrawn) -> std::error_code {
    // Only a row no recovery has taken (attempts = 0) may be withdrawn.
    auto& untaken = prepare("SELECT EXISTS (SELECT 1 FROM file_ops WHERE id = ? AND kind != 0 AND attempts = 0)");
    untaken.bind(1, op.id);
    untaken.executeStep();
    const bool mine = untaken.getColumn(0).getInt() != 0;
    untaken.reset();
    if (!mine) return {};
    bury_ops_locked(op.id, op.id, top_op_id_locked());
    auto& up = prepare(sql.c_str());
    up.bind(1, op.job_id);
    up.bind(2, static_cast<int>(previous));
    up.bind(3, now_us);
    up.exec();
    withdrawn = true;
    return {};
  });
}

bool SqliteStore::target_taken_locked(const std::string& path, const std::string& id) {
  auto& taken = prepare(target_taken_sql().c_str());
  taken.bind(1, path);
  taken.bind(2, id);
  taken.bind(3, reply_source(path));
  const bool found = taken.executeStep();
  taken.reset();
  return found;
}

bool SqliteStore::default_reply_locked(const std::string& id) {
  static const std::string sql = "SELECT 1 FROM jobs WHERE id = ? AND type = " +
                                 std::to_string(static_cast<int>(JobType::upload_reply)) +
                                 " AND reply_file_name IS NULL";
  auto& s = prepare(sql.c_str());
  s.bind(1, id);
  const bool found = s.executeStep();
  s.reset();
  return found;
}

std::error_code SqliteStore::set_property(const std::string& id, Property property, int64_t int_value,
                                          std::string_view text_value, int64_t now_us) {
  static const char* const kSql[] = {
      "UPDATE jobs SET priority = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET display_name = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET description = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET retry_delay_s = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET no_progress_timeout_s = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET reply_file_name = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET custom_headers = nullif(?3, ''), modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET security_flags = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET max_download_size = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
      "UPDATE jobs SET max_download_time_s = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0",
  };
  return write_txn([&]() -> std::error_code {
    auto& s = prepare(kSql[static_cast<int>(property)]);
    s.bind(1, id);
    s.bind(2, static_cast<int64_t>(allowed_from(Call::set_property)));
    if (property == Property::display_name || property == Property::description ||
        property == Property::reply_file_name || property == Property::custom_headers)
      s.bind(3, std::string(text_value));
    else
      s.bind(3, int_value);
    s.bind(4, now_us);
    if (s.exec() == 0) return state_error_locked(id);
    // After the state check, so that a final job answers with its state.
    if (property == Property::reply_file_name && target_taken_locked(std::string(text_value), id))
      return make_error_code(Errc::file_exists);
    return {};
  });
}

std::error_code SqliteStore::set_file_integrity(const std::string& id, int64_t idx, const FileIntegrity& e,
                                                int64_t now_us) {
  return write_txn([&]() -> std::error_code {
    if (std::error_code ec = touch_settable_locked(id, now_us)) return ec;
    auto& up = prepare(
        "UPDATE files SET expected_size = nullif(?3, -1), expected_sha256 = nullif(?4, ''), "
        "expected_sha512 = nullif(?5, '') WHERE job_id = ?1 AND idx = ?2 AND completed = 0");
    up.bind(1, id);
    up.bind(2, idx);
    up.bind(3, e.size);
    up.bind(4, e.sha256);
    up.bind(5, e.sha512);
    if (up.exec() == 1) return {};
    // Nothing changed: no such file, or it is transferred already (its bytes
    // were not hashed: set_validation_state is the way to reject them).
    auto& q = prepare("SELECT 1 FROM files WHERE job_id = ? AND idx = ?");
    q.bind(1, id);
    q.bind(2, idx);
    const bool exists = q.executeStep();
    q.reset();
    return make_error_code(exists ? Errc::invalid_state : Errc::invalid_arg);
  });
}

Result<std::string> SqliteStore::invalidate_file(const std::string& id, int64_t idx, int64_t now_us,
                                                 Decision* decision) {
  return write_value<std::string>(std::string(), [&](std::string& temp_path) -> std::error_code {
    auto current = state_locked(id);
    if (!current) return make_error_code(Errc::not_found);
    *decision = decide(*current, Call::invalidate_file, FileFacts{});
    if (decision->error) return decision->error;
    auto& q = prepare("SELECT completed, coalesce(temp_path, '') FROM files WHERE job_id = ? AND idx = ?");
    q.bind(1, id);
    q.bind(2, idx);
    if (!q.executeStep()) return make_error_code(Errc::invalid_arg);
    const bool completed = q.getColumn(0).getInt() != 0;
    temp_path = q.getColumn(1).getString();
    q.reset();
    if (!completed) return make_error_code(Errc::invalid_state);
    // Zero bytes claimed before the caller deletes them: the next attempt
    // fetches the file from the start, without the old validators.
    auto& f = prepare(
        "UPDATE files SET completed = 0, bytes_transferred = 0, etag = NULL, last_modified = NULL "
        "WHERE job_id = ?1 AND idx = ?2");
    f.bind(1, id);
    f.bind(2, idx);
    f.exec();
    auto& j = prepare(
        "UPDATE jobs SET state = ?2, generation = generation + 1, modified_us = ?3, error_hresult = ?4, "
        "error_context = ?5, error_description = ?6, error_file = ?7, error_count = error_count + 1 "
        "WHERE id = ?1 RETURNING generation");
    j.bind(1, id);
    j.bind(2, static_cast<int>(decision->next));
    j.bind(3, now_us);
    j.bind(4, static_cast<int64_t>(Errc::validation_failed));
    j.bind(5, static_cast<int>(ErrorContext::local_file));
    j.bind(6, "the application found file " + std::to_string(idx) + " invalid (set_validation_state)");
    j.bind(7, idx);
    j.executeStep();
    decision->generation = j.getColumn(0).getInt64();
    j.reset();
    decision->state_changes = true;
    return {};
  });
}

Result<std::vector<std::string>> SqliteStore::inactive_jobs(int64_t before_us) {
  static const std::string sql = "SELECT id FROM jobs WHERE " + not_final() + " AND modified_us < ?";
  return read<std::vector<std::string>>([&] {
    auto& s = prepare(sql.c_str());
    s.bind(1, before_us);
    std::vector<std::string> out;
    while (s.executeStep()) out.push_back(s.getColumn(0).getString());
    return out;
  });
}

Result<int64_t> SqliteStore::purge_final(int64_t before_us) {
  static const std::string sql = "DELETE FROM jobs WHERE state IN " + states_sql(final_states()) +
                                 " AND modified_us < ? "
                                 "AND NOT EXISTS (SELECT 1 FROM file_ops o WHERE o.job_id = jobs.id)";
  return write_value<int64_t>(0, [&](int64_t& purged) -> std::error_code {
    auto& s = prepare(sql.c_str());
    s.bind(1, before_us);
    purged = s.exec();
    return {};
  });
}

Result<JobType> SqliteStore::job_type(const std::string& id) {
  return read_found<JobType>([&]() -> std::optional<JobType> {
    auto& s = prepare("SELECT type FROM jobs WHERE id = ?");
    s.bind(1, id);
    if (!s.executeStep()) return std::nullopt;
    const auto t = static_cast<JobType>(s.getColumn(0).getInt());
    s.reset();
    return t;
  });
}

Result<std::optional<std::string>> SqliteStore::reply_target(const std::string& id) {
  return read<std::optional<std::string>>([&]() -> std::optional<std::string> {
    auto& s = prepare(
        "SELECT coalesce(j.reply_file_name, f.local_path || '.reply', '') FROM jobs j "
        "LEFT JOIN files f ON f.job_id = j.id AND f.idx = 0 WHERE j.id = ?1 AND j.type = ?2");
    s.bind(1, id);
    s.bind(2, static_cast<int>(JobType::upload_reply));
    std::optional<std::string> out;
    if (s.executeStep()) out = s.getColumn(0).getString();
    s.reset();
    return out;
  });
}

}  // namespace xferq::detail
