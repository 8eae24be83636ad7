// pg_jobs.cc — the PostgreSQL backend's statements for the API's job calls:
// creating jobs, snapshots, add_files, suspend/resume, Cancel, Complete,
// properties, file integrity and validation, and housekeeping.
#include <pqxx/pqxx>

#include <algorithm>

#include "storage/pg_sql.h"
#include "storage/pg_store.h"
#include "validate.h"
#include "xferq/error.h"

namespace xferq::detail {

using pg::kind_sql;
using pg::read_job_info;
using pg::state_allowed;
using pg::state_sql;
using pg::states_sql;

namespace {

// "state NOT IN (7, 8)": the job is not final.
const std::string& not_final() {
  static const std::string sql = "state NOT IN " + states_sql(final_states());
  return sql;
}

// Whether a job not yet final would write `path` when it completes: a file's
// local path, or the reply target of an upload-reply job other than `id`
// (the SQLite backend's target_taken_sql, in PostgreSQL's words). The caller
// holds the path's advisory lock (lock_target), so two transactions cannot
// both find it free.
bool target_taken(pqxx::dbtransaction& tx, const std::string& path, const std::string& id) {
  static const std::string reply = std::to_string(static_cast<int>(JobType::upload_reply));
  static const std::string sql =
      "SELECT 1 FROM files f JOIN jobs j ON j.id = f.job_id WHERE f.local_path = $1 AND j." + not_final() +
      " UNION ALL SELECT 1 FROM files f JOIN jobs j ON j.id = f.job_id WHERE f.local_path = $3 AND j.type = " +
      reply + " AND j.id != $2 AND j.reply_file_name IS NULL AND j." + not_final() +
      " UNION ALL SELECT 1 FROM jobs j WHERE j.reply_file_name = $1 AND j.type = " + reply + " AND j.id != $2 AND j." +
      not_final() + " LIMIT 1";
  return !tx.exec_params(sql, path, id, reply_source(path)).empty();
}

// Serializes the transactions that check and claim one target path, until
// the transaction ends.
void lock_target(pqxx::dbtransaction& tx, const std::string& path) {
  tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", path);
}

}  // namespace

std::error_code PgStore::create_job(const std::string& id, std::string_view display_name, JobType type,
                                    int64_t now_us) {
  return write_txn([&](Txn& tx) -> std::error_code {
    tx.exec_params(
        "INSERT INTO jobs (id, type, state, display_name, created_us, modified_us) "
        "VALUES ($1, $2::integer, $3::integer, $4, $5::bigint, $5::bigint)",
        id, static_cast<int>(type), static_cast<int>(initial_state()), std::string(display_name), now_us);
    return {};
  });
}

Result<JobInfo> PgStore::job_info(const std::string& id) {
  return read_found<JobInfo>([&](Txn& tx) -> std::optional<JobInfo> {
    const pqxx::result r = tx.exec_params("SELECT " XFERQ_PG_JOB_COLUMNS "WHERE j.id = $1 GROUP BY j.id", id);
    if (r.empty()) return std::nullopt;
    return read_job_info(r[0]);
  });
}

Result<JobState> PgStore::job_state(const std::string& id) {
  return read_found<JobState>([&](Txn& tx) { return state_of(tx, id, false); });
}

Result<JobType> PgStore::job_type(const std::string& id) {
  return read_found<JobType>([&](Txn& tx) -> std::optional<JobType> {
    const pqxx::result r = tx.exec_params("SELECT type FROM jobs WHERE id = $1", id);
    if (r.empty()) return std::nullopt;
    return static_cast<JobType>(r[0][0].as<int>());
  });
}

Result<std::vector<JobInfo>> PgStore::job_infos(bool include_final) {
  static const std::string sql = "SELECT " XFERQ_PG_JOB_COLUMNS "WHERE ($1::boolean OR j." + not_final() +
                                 ") GROUP BY j.id ORDER BY j.created_us, j.seq";
  return read<std::vector<JobInfo>>([&](Txn& tx) {
    std::vector<JobInfo> out;
    for (const pqxx::row& r : tx.exec_params(sql, include_final)) out.push_back(read_job_info(r));
    return out;
  });
}

Result<std::vector<std::string>> PgStore::job_ids(bool include_final) {
  static const std::string sql =
      "SELECT id FROM jobs WHERE ($1::boolean OR " + not_final() + ") ORDER BY created_us, seq";
  return read<std::vector<std::string>>([&](Txn& tx) {
    std::vector<std::string> out;
    for (const pqxx::row& r : tx.exec_params(sql, include_final)) out.push_back(r[0].as<std::string>());
    return out;
  });
}

Result<std::vector<FileInfo>> PgStore::files(const std::string& id) {
  auto rows = job_files(id);
  if (!rows) return rows.error();
  if (rows->empty()) {
    auto st = job_state(id);
    if (!st) return st.error();
  }
  return file_infos(*rows);
}

std::error_code PgStore::add_files(const std::string& id, const std::vector<FileSpec>& files, int64_t max_files,
                                   int64_t now_us, Decision* decision) {
  return write_txn([&](Txn& tx) -> std::error_code {
    auto current = state_of(tx, id, /*lock=*/true);
    if (!current) return make_error_code(Errc::not_found);
    const FileFacts facts = facts_of(tx, id);
    *decision = decide(*current, Call::add_file, facts);
    if (decision->error) return decision->error;
    // BITS: an upload job holds exactly one file; none of a set is added.
    if (facts.upload && facts.files_total + static_cast<int64_t>(files.size()) > 1)
      return make_error_code(Errc::too_many_files);
    if (facts.files_total + static_cast<int64_t>(files.size()) > max_files)
      return make_error_code(Errc::too_many_files_in_job);
    // The same local path twice — in this call, or in any job not yet final —
    // would make two transfers race for one file. Two transactions adding the
    // same path to different jobs at once would each see no other: a
    // transaction-scoped advisory lock per path serializes them, taken in
    // sorted order so that two calls never wait for each other in a cycle.
    if (!facts.upload) {
      std::vector<std::string> paths;
      for (const FileSpec& f : files) paths.push_back(f.local_path);
      std::sort(paths.begin(), paths.end());
      paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
      for (const std::string& path : paths) lock_target(tx, path);
      // Then the checks in the SQLite backend's order (the same error wins).
      for (size_t i = 0; i < files.size(); ++i) {
        for (size_t k = 0; k < i; ++k)
          if (files[k].local_path == files[i].local_path) return make_error_code(Errc::invalid_arg);
        if (target_taken(tx, files[i].local_path, id)) return make_error_code(Errc::file_exists);
      }
    } else if (!files.empty()) {
      // An upload-reply job without a reply file name writes its reply beside
      // its file: that name must be free too.
      const std::string reply_target = files[0].local_path + ".reply";
      const bool beside = !tx.exec_params("SELECT 1 FROM jobs WHERE id = $1 AND type = $2::integer AND "
                                          "reply_file_name IS NULL",
                                          id, static_cast<int>(JobType::upload_reply))
                               .empty();
      if (beside) {
        lock_target(tx, reply_target);
        if (target_taken(tx, reply_target, id)) return make_error_code(Errc::file_exists);
      }
    }
    for (size_t i = 0; i < files.size(); ++i) {
      // A file of finite ranges has its size from the start: their sum.
      int64_t total = files[i].ranges.empty() ? kSizeUnknown : 0;
      for (const FileRange& r : files[i].ranges)
        total = r.length == kLengthToEof || total < 0 ? kSizeUnknown : total + static_cast<int64_t>(r.length);
      tx.exec_params(
          "INSERT INTO files (job_id, idx, remote_url, local_path, expected_size, expected_sha256, "
          "expected_sha512, ranges, bytes_total) VALUES ($1, $2::bigint, $3, $4, nullif($5::bigint, -1), "
          "nullif($6, ''), nullif($7, ''), nullif($8, ''), $9::bigint)",
          id, facts.files_total + static_cast<int64_t>(i), files[i].remote_url, files[i].local_path,
          files[i].integrity.size, files[i].integrity.sha256, files[i].integrity.sha512,
          format_ranges(files[i].ranges), total);
    }
    const pqxx::row r = tx.exec_params1(
        "UPDATE jobs SET state = $2::integer, modified_us = $3::bigint, generation = generation + $4::bigint "
        "WHERE id = $1 RETURNING generation",
        id, static_cast<int>(decision->next), now_us, int64_t{decision->state_changes ? 1 : 0});
    if (decision->state_changes) decision->generation = r[0].as<int64_t>();
    return {};
  });
}

std::error_code PgStore::apply_call(const std::string& id, Call call, int64_t now_us, Decision* decision) {
  static const std::string sql =
      "UPDATE jobs SET state = $2::integer, modified_us = $3::bigint, generation = generation + 1, "
      "queued_seq = CASE WHEN $2::integer = " + state_sql(JobState::queued) + " THEN $3::bigint ELSE queued_seq END, "
      // Resume starts the maximum download time's count again (BITS).
      "download_time_us = CASE WHEN $4::boolean THEN 0 ELSE download_time_us END "
      "WHERE id = $1 RETURNING generation";
  return write_txn([&](Txn& tx) -> std::error_code {
    auto current = state_of(tx, id, /*lock=*/true);
    if (!current) return make_error_code(Errc::not_found);
    // Only resume needs the file count; skip the read for the others.
    const FileFacts facts = call == Call::resume ? facts_of(tx, id) : FileFacts{};
    *decision = decide(*current, call, facts);
    if (decision->error) return decision->error;
    if (!decision->state_changes) return {};
    const pqxx::row r =
        tx.exec_params1(sql, id, static_cast<int>(decision->next), now_us, call == Call::resume);
    decision->generation = r[0].as<int64_t>();
    return {};
  });
}

Result<FileOp> PgStore::cancel(const std::string& id, int64_t now_us, bool with_paths) {
  // One statement, so that a cancel costs the round trips of the floor's
  // one-row UPDATE: the state check is folded into the UPDATE (the table's
  // states that accept a cancel, bound as a bit mask); the outbox row names
  // the host that holds the temp files; an upload with an open session also
  // gets the Cancel-Session the worker owes the server; and the temp paths
  // come back when the caller deletes them itself. No row: refused.
  static const std::string sql =
      "WITH up AS (UPDATE jobs SET state = " + state_sql(call_target(Call::cancel)) +
      ", generation = generation + 1, modified_us = $2::bigint WHERE id = $1 AND " + state_allowed(3) +
      " RETURNING id, upload_session_id, generation, owner_host), "
      "op AS (INSERT INTO file_ops (job_id, kind, created_us, host) SELECT id, " + kind_sql(OpKind::delete_temps) +
      ", $2::bigint, owner_host FROM up RETURNING id), "
      "session AS (INSERT INTO file_ops (job_id, kind, created_us, url, session_id, host) "
      "SELECT up.id, " + kind_sql(OpKind::cancel_session) + ", $2::bigint, f.remote_url, up.upload_session_id, "
      "up.owner_host FROM up JOIN files f ON f.job_id = up.id AND f.idx = 0 WHERE up.upload_session_id IS NOT NULL) "
      "SELECT op.id, up.generation, up.owner_host, t.temp_path FROM up CROSS JOIN op "
      "LEFT JOIN LATERAL (SELECT temp_path, idx FROM files WHERE job_id = up.id AND temp_path IS NOT NULL "
      "AND $4::boolean) t ON true ORDER BY t.idx";
  return write_value<FileOp>(FileOp(), [&](Txn& tx, FileOp& op) -> std::error_code {
    const pqxx::result r =
        tx.exec_params(sql, id, now_us, static_cast<int64_t>(allowed_from(Call::cancel)), with_paths);
    if (r.empty()) return state_error(tx, id);
    op = FileOp{r[0][0].as<int64_t>(), id, OpKind::delete_temps, std::nullopt};
    op.job_generation = r[0][1].as<int64_t>();
    op.host = pg::text_or_empty(r[0][2]);
    if (with_paths) {
      op.temp_paths.emplace();
      for (const pqxx::row& row : r)
        if (!row[3].is_null()) op.temp_paths->push_back(row[3].as<std::string>());
    }
    return {};
  });
}

Result<FileOp> PgStore::complete(const std::string& id, int64_t now_us, Decision* decision, JobState* previous) {
  // attempts: 0 lets this call withdraw the row if its checks fail (the
  // caller holds the files); 1 when another host holds them: no one waits
  // there to withdraw it, so it is born taken, as recovery would take it.
  static const std::string op_sql =
      "INSERT INTO file_ops (job_id, kind, created_us, previous_state, host, attempts) "
      "SELECT $1, " + kind_sql(OpKind::finalize) + ", $2::bigint, $3::integer, owner_host, "
      "CASE WHEN owner_host IS NULL OR owner_host = $4 THEN 0 ELSE 1 END FROM jobs WHERE id = $1 "
      "RETURNING id, host";
  return write_value<FileOp>(FileOp(), [&](Txn& tx, FileOp& op) -> std::error_code {
    // Durable even on a server whose default is synchronous_commit=off: the
    // renames that follow are durable, so the decision must be too.
    tx.exec("SET LOCAL synchronous_commit = on");
    auto current = state_of(tx, id, /*lock=*/true);
    if (!current) return make_error_code(Errc::not_found);
    *previous = *current;
    *decision = decide(*current, Call::complete, facts_of(tx, id));
    if (decision->error) return decision->error;
    const pqxx::row r = tx.exec_params1(
        "UPDATE jobs SET state = $3::integer, generation = generation + 1, modified_us = $2::bigint "
        "WHERE id = $1 RETURNING generation",
        id, now_us, static_cast<int>(decision->next));
    decision->generation = r[0].as<int64_t>();
    // The job's temp files live on the host that ran it (the row's host):
    // from any other host the decision commits here and that host's worker
    // renames them when it hears of it (Outbox::apply_decided_elsewhere).
    const pqxx::row ins = tx.exec_params1(op_sql, id, now_us, static_cast<int>(*current), host_id_);
    op = FileOp{ins[0].as<int64_t>(), id, OpKind::finalize, std::nullopt};
    op.job_generation = decision->generation;
    op.host = pg::text_or_empty(ins[1]);
    return {};
  });
}

Result<bool> PgStore::complete_failed(const FileOp& op, JobState previous, int64_t now_us) {
  static const std::string sql =
      "UPDATE jobs SET state = $2::integer, generation = generation + 1, modified_us = $3::bigint "
      "WHERE id = $1 AND state = " + state_sql(call_target(Call::complete));
  return write_value<bool>(false, [&](Txn& tx, bool& withdrawn) -> std::error_code {
    // Only a row no recovery has taken (attempts = 0) may be withdrawn.
    if (tx.exec_params("DELETE FROM file_ops WHERE id = $1::bigint AND attempts = 0", op.id).affected_rows() == 0)
      return {};
    tx.exec_params(sql, op.job_id, static_cast<int>(previous), now_us);
    withdrawn = true;
    return {};
  });
}

std::error_code PgStore::set_property(const std::string& id, Property property, int64_t int_value,
                                      std::string_view text_value, int64_t now_us) {
  // One statement per property; the column is the only difference.
  static const char* const kSet[] = {
      "priority = $3::integer",         "display_name = $3",         "description = $3",
      "retry_delay_s = $3::bigint",     "no_progress_timeout_s = $3::bigint", "reply_file_name = $3",
      "custom_headers = nullif($3, '')", "security_flags = $3::bigint", "max_download_size = $3::bigint",
      "max_download_time_s = $3::bigint",
  };
  const int p = static_cast<int>(property);
  if (p < 0 || p >= static_cast<int>(sizeof kSet / sizeof kSet[0])) return make_error_code(Errc::invalid_arg);
  const std::string sql = std::string("UPDATE jobs SET ") + kSet[p] + ", modified_us = $4::bigint WHERE id = $1 AND " +
                          state_allowed(2);
  const bool text = property == Property::display_name || property == Property::description ||
                    property == Property::reply_file_name || property == Property::custom_headers;
  return write_txn([&](Txn& tx) -> std::error_code {
    const auto allowed = static_cast<int64_t>(allowed_from(Call::set_property));
    const pqxx::result r = text ? tx.exec_params(sql, id, allowed, std::string(text_value), now_us)
                                : tx.exec_params(sql, id, allowed, int_value, now_us);
    if (r.affected_rows() == 0) return state_error(tx, id);
    // After the state check, so that a final job answers with its state.
    if (property == Property::reply_file_name) {
      lock_target(tx, std::string(text_value));
      if (target_taken(tx, std::string(text_value), id)) return make_error_code(Errc::file_exists);
    }
    return {};
  });
}

std::error_code PgStore::set_file_integrity(const std::string& id, int64_t idx, const FileIntegrity& e,
                                            int64_t now_us) {
  return write_txn([&](Txn& tx) -> std::error_code {
    if (std::error_code ec = touch_settable(tx, id, now_us)) return ec;
    const pqxx::result up = tx.exec_params(
        "UPDATE files SET expected_size = nullif($3::bigint, -1), expected_sha256 = nullif($4, ''), "
        "expected_sha512 = nullif($5, '') WHERE job_id = $1 AND idx = $2::bigint AND NOT completed",
        id, idx, e.size, e.sha256, e.sha512);
    if (up.affected_rows() == 1) return {};
    // Nothing changed: no such file, or it is transferred already.
    const bool exists = !tx.exec_params("SELECT 1 FROM files WHERE job_id = $1 AND idx = $2::bigint", id, idx).empty();
    return make_error_code(exists ? Errc::invalid_state : Errc::invalid_arg);
  });
}

Result<std::string> PgStore::invalidate_file(const std::string& id, int64_t idx, int64_t now_us,
                                             Decision* decision) {
  return write_value<std::string>(std::string(), [&](Txn& tx, std::string& temp_path) -> std::error_code {
    auto current = state_of(tx, id, /*lock=*/true);
    if (!current) return make_error_code(Errc::not_found);
    *decision = decide(*current, Call::invalidate_file, FileFacts{});
    if (decision->error) return decision->error;
    const pqxx::result q = tx.exec_params(
        "SELECT completed, coalesce(temp_path, '') FROM files WHERE job_id = $1 AND idx = $2::bigint", id, idx);
    if (q.empty()) return make_error_code(Errc::invalid_arg);
    temp_path = q[0][1].as<std::string>();
    if (!q[0][0].as<bool>()) return make_error_code(Errc::invalid_state);
    // Zero bytes claimed before the caller deletes them: the next attempt
    // fetches the file from the start, without the old validators.
    tx.exec_params(
        "UPDATE files SET completed = false, bytes_transferred = 0, etag = NULL, last_modified = NULL "
        "WHERE job_id = $1 AND idx = $2::bigint",
        id, idx);
    const pqxx::row j = tx.exec_params1(
        "UPDATE jobs SET state = $2::integer, generation = generation + 1, modified_us = $3::bigint, "
        "error_hresult = $4::bigint, error_context = $5::integer, error_description = $6, error_file = $7::bigint, "
        "error_count = error_count + 1 WHERE id = $1 RETURNING generation",
        id, static_cast<int>(decision->next), now_us, static_cast<int64_t>(Errc::validation_failed),
        static_cast<int>(ErrorContext::local_file),
        "the application found file " + std::to_string(idx) + " invalid (set_validation_state)", idx);
    decision->generation = j[0].as<int64_t>();
    decision->state_changes = true;
    return {};
  });
}

Result<std::vector<std::string>> PgStore::inactive_jobs(int64_t before_us) {
  static const std::string sql = "SELECT id FROM jobs WHERE " + not_final() + " AND modified_us < $1::bigint";
  return read<std::vector<std::string>>([&](Txn& tx) {
    std::vector<std::string> out;
    for (const pqxx::row& r : tx.exec_params(sql, before_us)) out.push_back(r[0].as<std::string>());
    return out;
  });
}

Result<int64_t> PgStore::purge_final(int64_t before_us) {
  static const std::string sql = "DELETE FROM jobs WHERE state IN " + states_sql(final_states()) +
                                 " AND modified_us < $1::bigint "
                                 "AND NOT EXISTS (SELECT 1 FROM file_ops o WHERE o.job_id = jobs.id)";
  return write_value<int64_t>(0, [&](Txn& tx, int64_t& purged) -> std::error_code {
    purged = static_cast<int64_t>(tx.exec_params(sql, before_us).affected_rows());
    return {};
  });
}

Result<std::optional<std::string>> PgStore::reply_target(const std::string& id) {
  return read<std::optional<std::string>>([&](Txn& tx) -> std::optional<std::string> {
    const pqxx::result r = tx.exec_params(
        "SELECT coalesce(j.reply_file_name, f.local_path || '.reply', '') FROM jobs j "
        "LEFT JOIN files f ON f.job_id = j.id AND f.idx = 0 WHERE j.id = $1 AND j.type = $2::integer",
        id, static_cast<int>(JobType::upload_reply));
    if (r.empty()) return std::nullopt;
    return r[0][0].as<std::string>();
  });
}

}  // namespace xferq::detail
