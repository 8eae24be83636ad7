// pg_worker.cc — the PostgreSQL backend's statements for the worker and the
// outbox: claims (FOR UPDATE SKIP LOCKED, with the host's lease),
// generation-checked progress and outcomes, retries due, recovery, and the
// outbox's rows.
#include <pqxx/pqxx>

#include <algorithm>

#include "clock.h"
#include "storage/pg_sql.h"
#include "storage/pg_store.h"
#include "validate.h"
#include "xferq/error.h"

namespace xferq::detail {

using pg::kind_sql;
using pg::read_file_row;
using pg::state_in;

namespace {
constexpr int64_t kUs = 1000000;

// "queued_seq = <now>, " when the transition sends the job behind every job
// of its priority (the table's to_back), else "".
std::string queue_place(const WorkerTransition& t, const std::string& now) {
  return t.to_back ? "queued_seq = " + now + ", " : std::string();
}

// The statement of requeue_running for `event`: $1 id, $2 the claim's
// generation, $3 now, $4 the target state.
std::string requeue_running_sql(WorkerEvent event) {
  const WorkerTransition t = worker_transition(event);
  return "UPDATE jobs SET state = $4::integer, generation = generation + 1, modified_us = $3::bigint, " +
         queue_place(t, "$3::bigint") + pg::end_running_time("$3::bigint") +
         ", lease_expires_us = NULL WHERE id = $1 AND generation = $2::bigint AND " + state_in(t.from);
}

// A claimed job's row as claim_next's RETURNING lists it (after id,
// priority, queued_seq).
Claim read_claim(const pqxx::row& r) {
  Claim c;
  c.job_id = r[0].as<std::string>();
  c.generation = r[3].as<int64_t>();
  c.type = static_cast<JobType>(r[4].as<int>());
  c.custom_headers = split_lines(r[5].as<std::string>());
  c.security_flags = static_cast<uint32_t>(r[6].as<int64_t>());
  c.proxy = ProxySettings{static_cast<ProxyUsage>(r[7].as<int>()), r[8].as<std::string>(), r[9].as<std::string>()};
  c.tls = pg::read_tls(r, 10);
  c.max_download_size = static_cast<uint64_t>(r[15].as<int64_t>());
  c.download_time_left_us = r[16].as<int64_t>();
  return c;
}
}  // namespace

// ---- The outbox -----------------------------------------------------------------

Result<std::vector<FileOp>> PgStore::pending_ops() {
  // This host's rows and those of no host: another host's temp files are not
  // here. Cancel-Session rows are the worker's (network), not the filesystem's.
  static const std::string sql = "SELECT id, job_id, kind, host, attempts FROM file_ops WHERE kind IN (" +
                                 kind_sql(OpKind::delete_temps) + ", " + kind_sql(OpKind::finalize) +
                                 ") AND (host IS NULL OR host = $1) ORDER BY id";
  return read<std::vector<FileOp>>([&](Txn& tx) {
    std::vector<FileOp> out;
    for (const pqxx::row& r : tx.exec_params(sql, host_id_)) {
      const int64_t id = r[0].as<int64_t>();
      if (is_retired_locked(id)) continue;
      out.push_back(FileOp{id, r[1].as<std::string>(), static_cast<OpKind>(r[2].as<int>()), std::nullopt});
      out.back().host = pg::text_or_empty(r[3]);
      out.back().attempts = r[4].as<int64_t>();
    }
    return out;
  });
}

Result<std::vector<FileRow>> PgStore::job_files(const std::string& job_id) {
  return read<std::vector<FileRow>>([&](Txn& tx) {
    std::vector<FileRow> out;
    for (const pqxx::row& r :
         tx.exec_params("SELECT " XFERQ_PG_FILE_COLUMNS "FROM files f WHERE f.job_id = $1 ORDER BY f.idx", job_id))
      out.push_back(read_file_row(r));
    return out;
  });
}

Result<JobState> PgStore::op_previous_state(const FileOp& op) {
  return read<JobState>([&](Txn& tx) {
    const pqxx::result r = tx.exec_params("SELECT previous_state FROM file_ops WHERE id = $1::bigint", op.id);
    return r.empty() || r[0][0].is_null() ? JobState::transferred : pg::column_state(r[0][0]);
  });
}

void PgStore::retire_op(int64_t op_id) {
  std::lock_guard<std::mutex> lock(mu_);
  retired_ops_.push_back(op_id);
}

void PgStore::retire_ops(const std::vector<int64_t>& op_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  retired_ops_.insert(retired_ops_.end(), op_ids.begin(), op_ids.end());
}

bool PgStore::is_retired_locked(int64_t op_id) const {
  return std::find(retired_ops_.begin(), retired_ops_.end(), op_id) != retired_ops_.end();
}

void PgStore::flush_retired_locked(Txn& tx) {
  if (retired_ops_.empty()) return;
  // Cleared here; write_txn restores the list if the transaction rolls back.
  std::vector<std::string> ids;
  for (int64_t id : retired_ops_) ids.push_back(std::to_string(id));
  tx.exec_params("DELETE FROM file_ops WHERE id = ANY($1::bigint[])", pg::text_array(ids));
  retired_ops_.clear();
}

std::error_code PgStore::flush_retired() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (retired_ops_.empty()) return {};
  }
  return write_txn([](Txn&) { return std::error_code(); });
}

Result<std::vector<std::vector<std::string>>> PgStore::temp_paths(const std::vector<std::string>& job_ids) {
  return read<std::vector<std::vector<std::string>>>([&](Txn& tx) {
    std::vector<std::vector<std::string>> out;
    for (const std::string& id : job_ids) {
      out.emplace_back();
      for (const pqxx::row& r :
           tx.exec_params("SELECT temp_path FROM files WHERE job_id = $1 AND temp_path IS NOT NULL ORDER BY idx", id))
        out.back().push_back(r[0].as<std::string>());
    }
    return out;
  });
}

Result<bool> PgStore::take_op_for_recovery(int64_t op_id) {
  return write_value<bool>(false, [&](Txn& tx, bool& taken) -> std::error_code {
    taken = tx.exec_params("UPDATE file_ops SET attempts = attempts + 1 WHERE id = $1::bigint", op_id)
                .affected_rows() == 1;
    return {};
  });
}

std::error_code PgStore::note_op_failure(int64_t op_id, const std::string& why) {
  return write_txn([&](Txn& tx) -> std::error_code {
    tx.exec_params("UPDATE file_ops SET attempts = attempts + 1, last_error = $2 WHERE id = $1::bigint", op_id, why);
    return {};
  });
}

Result<std::vector<FileOp>> PgStore::pending_cancel_sessions() {
  return read<std::vector<FileOp>>([&](Txn& tx) {
    std::vector<FileOp> out;
    for (const pqxx::row& r : tx.exec_params(
             "SELECT id, job_id, coalesce(url, ''), coalesce(session_id, ''), created_us, attempts "
             "FROM file_ops WHERE kind = $1::integer ORDER BY id",
             static_cast<int>(OpKind::cancel_session))) {
      const int64_t id = r[0].as<int64_t>();
      if (is_retired_locked(id)) continue;
      FileOp op{id, r[1].as<std::string>(), OpKind::cancel_session, std::nullopt};
      op.url = r[2].as<std::string>();
      op.session_id = r[3].as<std::string>();
      op.created_us = r[4].as<int64_t>();
      op.attempts = r[5].as<int64_t>();
      out.push_back(std::move(op));
    }
    return out;
  });
}

// ---- Claims and generation-checked writes -----------------------------------------

Result<std::vector<Claim>> PgStore::claim_next(int limit, const std::vector<std::string>& skip, int64_t now_us) {
  const WorkerTransition start = worker_transition(WorkerEvent::start);
  // SKIP LOCKED: rows another worker is claiming right now are passed over,
  // never waited for and never claimed twice. The outer WHERE repeats the
  // state check on the locked row.
  static const std::string sql =
      "UPDATE jobs j SET state = $3::integer, generation = j.generation + 1, modified_us = $2::bigint, "
      "running_since_us = $2::bigint, owner_host = $4, lease_expires_us = " XFERQ_PG_DB_NOW_US " + $5::bigint "
      "FROM (SELECT id FROM jobs WHERE " + state_in(start.from) + " AND id <> ALL($6::text[]) "
      "ORDER BY priority, queued_seq LIMIT $1::integer FOR UPDATE SKIP LOCKED) pick "
      "WHERE j.id = pick.id AND j." + state_in(start.from) + " RETURNING j.id, j.priority, j.queued_seq, "
      "j.generation, j.type, coalesce(j.custom_headers, ''), j.security_flags, j.proxy_usage, "
      "coalesce(j.proxy_list, ''), coalesce(j.proxy_bypass, ''), " XFERQ_PG_TLS_COLUMNS ", "
      "j.max_download_size, j.max_download_time_s * 1000000 - j.download_time_us";
  std::vector<Claim> out;
  if (limit <= 0) return out;
  std::error_code ec = write_txn([&](Txn& tx) -> std::error_code {
    out.clear();
    std::vector<std::tuple<int, int64_t, Claim>> rows;
    for (const pqxx::row& r : tx.exec_params(sql, limit, now_us, static_cast<int>(start.to), host_id_, lease_us(),
                                             pg::text_array(skip)))
      rows.emplace_back(r[1].as<int>(), r[2].as<int64_t>(), read_claim(r));
    // RETURNING has no order: the claims go out by priority, then queue order.
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
    });
    for (auto& r : rows) out.push_back(std::move(std::get<2>(r)));
    return {};
  });
  if (ec) return ec;
  return out;
}

Result<std::optional<int64_t>> PgStore::generation(const std::string& job_id) {
  return read<std::optional<int64_t>>([&](Txn& tx) -> std::optional<int64_t> {
    const pqxx::result r = tx.exec_params("SELECT generation FROM jobs WHERE id = $1", job_id);
    if (r.empty()) return std::nullopt;
    return r[0][0].as<int64_t>();
  });
}

Result<std::optional<FileRow>> PgStore::next_file(const std::string& job_id) {
  return read<std::optional<FileRow>>([&](Txn& tx) -> std::optional<FileRow> {
    const pqxx::result r = tx.exec_params(
        "SELECT " XFERQ_PG_FILE_COLUMNS "FROM files f WHERE f.job_id = $1 AND NOT f.completed ORDER BY f.idx LIMIT 1",
        job_id);
    if (r.empty()) return std::nullopt;
    return read_file_row(r[0]);
  });
}

bool PgStore::set_temp_path(Txn& tx, const Claim& claim, int64_t idx, const std::string& path) {
  if (!lock_current(tx, claim)) return false;
  return tx.exec_params("UPDATE files SET temp_path = $3 WHERE job_id = $1 AND idx = $2::bigint", claim.job_id, idx,
                        path)
             .affected_rows() == 1;
}

Result<WriteOutcome> PgStore::record_temp_paths(const Claim& claim, const std::vector<TempPathRow>& rows) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](Txn& tx, WriteOutcome& outcome) -> std::error_code {
    // Durable whatever the server's default: the files may exist after this.
    tx.exec("SET LOCAL synchronous_commit = on");
    // One generation check (the row lock) answers for every row, as in the
    // SQLite backend: a stale claim records nothing.
    if (!lock_current(tx, claim)) return {};
    for (const TempPathRow& row : rows) {
      if (tx.exec_params("UPDATE files SET temp_path = $3 WHERE job_id = $1 AND idx = $2::bigint", claim.job_id,
                         row.first, row.second)
              .affected_rows() == 0)
        return {};
      outcome = WriteOutcome::applied;
    }
    return {};
  });
}

Result<WriteOutcome> PgStore::guard_temp_file(const Claim& claim, int64_t idx, const std::string& path,
                                              const std::function<std::error_code()>& open_or_create) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](Txn& tx, WriteOutcome& outcome) -> std::error_code {
    if (!set_temp_path(tx, claim, idx, path)) return {};  // the job moved on: create nothing
    if (std::error_code ec = open_or_create()) return ec;
    outcome = WriteOutcome::applied;
    return {};
  });
}

Result<WriteOutcome> PgStore::mark_connected(Claim* claim, int64_t now_us) {
  const WorkerTransition connected = worker_transition(WorkerEvent::connected);
  static const std::string sql =
      "UPDATE jobs SET state = $4::integer, generation = generation + 1, modified_us = $3::bigint, "
      "lease_expires_us = " XFERQ_PG_DB_NOW_US " + $5::bigint WHERE id = $1 AND generation = $2::bigint AND " +
      state_in(connected.from) + " RETURNING generation";
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](Txn& tx, WriteOutcome& outcome) -> std::error_code {
    const pqxx::result r = tx.exec_params(sql, claim->job_id, claim->generation, now_us,
                                          static_cast<int>(connected.to), lease_us());
    if (!r.empty()) {
      claim->generation = r[0][0].as<int64_t>();
      outcome = WriteOutcome::applied;
    }
    return {};
  });
}

Result<WriteOutcome> PgStore::commit_progress(const Claim& claim, const FileRow& file, int64_t now_us) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](Txn& tx, WriteOutcome& outcome) -> std::error_code {
    if (!lock_current(tx, claim)) return {};
    const pqxx::result f = tx.exec_params(
        "UPDATE files SET bytes_transferred = $3::bigint, bytes_total = $4::bigint, etag = nullif($5, ''), "
        "last_modified = nullif($6, '') WHERE job_id = $1 AND idx = $2::bigint",
        claim.job_id, file.idx, file.bytes_transferred, file.bytes_total, file.etag, file.last_modified);
    if (f.affected_rows() == 0) return {};
    // Progress resets the no-progress clock and renews the host's lease.
    tx.exec_params(
        "UPDATE jobs SET modified_us = $2::bigint, no_progress_since_us = NULL, "
        "lease_expires_us = " XFERQ_PG_DB_NOW_US " + $3::bigint WHERE id = $1",
        claim.job_id, now_us, lease_us());
    outcome = WriteOutcome::applied;
    return {};
  });
}

Result<FileFinish> PgStore::finish_file(Claim* claim, const FileRow& file, int64_t now_us) {
  const WorkerTransition done = worker_transition(WorkerEvent::all_files_done);
  static const std::string done_sql =
      "UPDATE jobs SET state = $3::integer, generation = generation + 1, modified_us = $2::bigint, "
      "transferred_us = $2::bigint, no_progress_since_us = NULL, upload_session_id = NULL, "
      "lease_expires_us = NULL, " + pg::end_running_time("$2::bigint") + " WHERE id = $1 AND " + state_in(done.from) +
      " RETURNING generation";
  return write_value<FileFinish>(FileFinish::stale, [&](Txn& tx, FileFinish& outcome) -> std::error_code {
    if (!lock_current(tx, *claim)) return {};
    // idx -1: no file to finish (all were done before): only the generation counts.
    if (file.idx >= 0 &&
        tx.exec_params("UPDATE files SET completed = true, bytes_transferred = $3::bigint, bytes_total = $3::bigint, "
                       "etag = nullif($4, ''), last_modified = nullif($5, '') WHERE job_id = $1 AND idx = $2::bigint",
                       claim->job_id, file.idx, file.bytes_transferred, file.etag, file.last_modified)
                .affected_rows() == 0)
      return {};
    const FileFacts facts = facts_of(tx, claim->job_id);
    if (facts.files_completed < facts.files_total) {
      tx.exec_params(
          "UPDATE jobs SET modified_us = $2::bigint, no_progress_since_us = NULL, "
          "lease_expires_us = " XFERQ_PG_DB_NOW_US " + $3::bigint WHERE id = $1",
          claim->job_id, now_us, lease_us());
      outcome = FileFinish::more_files;
      return {};
    }
    const pqxx::result r = tx.exec_params(done_sql, claim->job_id, now_us, static_cast<int>(done.to));
    if (r.empty()) return {};  // not running: the claim's view is stale
    claim->generation = r[0][0].as<int64_t>();
    outcome = FileFinish::job_transferred;
    return {};
  });
}

Result<WriteOutcome> PgStore::fail(const Claim& claim, const TransferFailure& failure, int64_t now_us,
                                   JobState* state_after) {
  static const std::string fail_sql =
      "UPDATE jobs SET state = $3::integer, generation = generation + 1, modified_us = $4::bigint, "
      "error_hresult = $5::bigint, error_context = $6::integer, error_description = $7, error_file = $8::bigint, "
      "error_count = error_count + 1, retry_at_us = $9::bigint, no_progress_since_us = $10::bigint, "
      "lease_expires_us = NULL, " + pg::end_running_time("$4::bigint") + " WHERE id = $1 AND generation = $2::bigint";
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](Txn& tx, WriteOutcome& outcome) -> std::error_code {
    const pqxx::result q = tx.exec_params(
        "SELECT state, retry_delay_s, no_progress_timeout_s, no_progress_since_us FROM jobs "
        "WHERE id = $1 AND generation = $2::bigint FOR NO KEY UPDATE",
        claim.job_id, claim.generation);
    if (q.empty()) return {};
    const JobState current = pg::column_state(q[0][0]);
    const int64_t job_delay_s = std::max<int64_t>(q[0][1].as<int64_t>(), options_.minimum_retry_delay_floor.count());
    const int64_t delay_us = std::max<int64_t>(job_delay_s, failure.retry_after_s.value_or(0)) * kUs;
    const int64_t timeout_us = q[0][2].as<int64_t>() * kUs;
    const int64_t since = q[0][3].is_null() ? now_us : q[0][3].as<int64_t>();
    // A transient error stays transient only if a retry can come before the
    // no-progress timeout runs out (0 = every error is fatal).
    const bool fatal = !failure.transient || timeout_us == 0 || (now_us + delay_us) - since > timeout_us;
    auto next = on_worker_event(current, fatal ? WorkerEvent::fatal_error : WorkerEvent::transient_error);
    if (!next) return {};
    const auto hresult = static_cast<int64_t>(failure.hresult);
    const auto context = static_cast<int>(failure.context);
    if (failure.file_index)
      tx.exec_params(fail_sql, claim.job_id, claim.generation, static_cast<int>(*next), now_us, hresult, context,
                     failure.description, static_cast<int64_t>(*failure.file_index), now_us + delay_us, since);
    else
      tx.exec_params(fail_sql, claim.job_id, claim.generation, static_cast<int>(*next), now_us, hresult, context,
                     failure.description, nullptr, now_us + delay_us, since);
    *state_after = *next;
    outcome = WriteOutcome::applied;
    return {};
  });
}

Result<WriteOutcome> PgStore::release(const Claim& claim, int64_t now_us) {
  return requeue_running(claim, WorkerEvent::interrupted, now_us);
}

Result<WriteOutcome> PgStore::requeue_running(const Claim& claim, WorkerEvent event, int64_t now_us) {
  static const std::string sqls[] = {requeue_running_sql(WorkerEvent::interrupted),
                                     requeue_running_sql(WorkerEvent::preempted),
                                     requeue_running_sql(WorkerEvent::slice_over)};
  if (event != WorkerEvent::interrupted && event != WorkerEvent::preempted && event != WorkerEvent::slice_over)
    return make_error_code(std::errc::invalid_argument);  // not an event that gives a slot back
  const std::string& sql = event == WorkerEvent::preempted    ? sqls[1]
                           : event == WorkerEvent::slice_over ? sqls[2]
                                                              : sqls[0];
  const WorkerTransition t = worker_transition(event);
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](Txn& tx, WriteOutcome& outcome) -> std::error_code {
    const pqxx::result r = tx.exec_params(sql, claim.job_id, claim.generation, now_us, static_cast<int>(t.to));
    outcome = r.affected_rows() == 1 ? WriteOutcome::applied : WriteOutcome::stale;
    return {};
  });
}

Result<WriteOutcome> PgStore::record_response(const Claim& claim, int64_t idx, const ResponseMeta& meta) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](Txn& tx, WriteOutcome& outcome) -> std::error_code {
    if (!lock_current(tx, claim)) return {};
    // The final URL is kept from an earlier response unless this one reports it.
    const pqxx::result r = tx.exec_params(
        "UPDATE files SET http_status = $3::integer, final_url = coalesce(nullif($4, ''), final_url), "
        "content_type = nullif($5, ''), content_disposition = nullif($6, '') WHERE job_id = $1 AND idx = $2::bigint",
        claim.job_id, idx, meta.http_status, meta.final_url, meta.content_type, meta.content_disposition);
    if (r.affected_rows() == 1) outcome = WriteOutcome::applied;
    return {};
  });
}

// ---- The scheduler's view, timers, recovery ---------------------------------------

Result<SchedulingView> PgStore::scheduling_view(const std::vector<std::string>& held) {
  static const std::string queued_sql = "SELECT priority, count(*) FROM jobs WHERE " +
                                        state_in(worker_transition(WorkerEvent::start).from) + " GROUP BY priority";
  return read<SchedulingView>([&](Txn& tx) {
    SchedulingView v;
    for (const pqxx::row& r : tx.exec(queued_sql)) {
      const int p = r[0].as<int>();
      if (p >= 0 && p < 4) v.queued[p] = r[1].as<int64_t>();
    }
    // One read for all held jobs, in the order given.
    std::map<std::string, JobPriority> priorities;
    for (const pqxx::row& r :
         tx.exec_params("SELECT id, priority FROM jobs WHERE id = ANY($1::text[])", pg::text_array(held)))
      priorities[r[0].as<std::string>()] = static_cast<JobPriority>(r[1].as<int>());
    for (const std::string& id : held) {
      auto it = priorities.find(id);
      if (it != priorities.end()) v.running.emplace_back(id, it->second);
    }
    return v;
  });
}

Result<int64_t> PgStore::requeue_due(int64_t now_us, std::vector<std::string>* expired) {
  const WorkerTransition retry = worker_transition(WorkerEvent::retry_due);
  const WorkerTransition expiry = worker_transition(WorkerEvent::no_progress_expired);
  static const std::string due_sql =
      "SELECT EXISTS (SELECT 1 FROM jobs WHERE " + state_in(retry.from) + " AND retry_at_us <= $1::bigint) "
      "OR EXISTS (SELECT 1 FROM jobs WHERE " + state_in(expiry.from) +
      " AND no_progress_since_us + no_progress_timeout_s * 1000000 <= $1::bigint) "
      "OR EXISTS (SELECT 1 FROM jobs WHERE " + state_in(worker_transition(WorkerEvent::interrupted).from) +
      " AND lease_expires_us <= " XFERQ_PG_DB_NOW_US " AND owner_host <> $2)";
  static const std::string expire_sql =
      "UPDATE jobs SET state = $3::integer, generation = generation + 1, modified_us = $1::bigint, "
      "error_hresult = $2::bigint, error_context = $4::integer, "
      "error_description = 'no progress within the no-progress timeout' "
      "WHERE " + state_in(expiry.from) + " AND no_progress_since_us + no_progress_timeout_s * 1000000 <= $1::bigint "
      "RETURNING id";
  static const std::string requeue_sql =
      "UPDATE jobs SET state = $2::integer, generation = generation + 1, modified_us = $1::bigint" +
      std::string(retry.to_back ? ", queued_seq = $1::bigint" : "") + " WHERE " + state_in(retry.from) +
      " AND retry_at_us <= $1::bigint";
  expired->clear();
  // Most wake-ups find nothing due: answer those with a read.
  auto due = read<bool>([&](Txn& tx) { return tx.exec_params1(due_sql, now_us, host_id_)[0].as<bool>(); });
  if (!due) return due.error();
  if (!*due) return int64_t{0};
  return write_value<int64_t>(0, [&](Txn& tx, int64_t& requeued) -> std::error_code {
    expired->clear();
    for (const pqxx::row& r : tx.exec_params(expire_sql, now_us, static_cast<int64_t>(Errc::download_no_progress),
                                             static_cast<int>(expiry.to),
                                             static_cast<int>(ErrorContext::general_transport)))
      expired->push_back(r[0].as<std::string>());
    requeued = static_cast<int64_t>(tx.exec_params(requeue_sql, now_us, static_cast<int>(retry.to)).affected_rows());
    requeued += take_over_expired(tx, now_us);
    return {};
  });
}

int64_t PgStore::take_over_expired(Txn& tx, int64_t now_us) {
  const WorkerTransition interrupted = worker_transition(WorkerEvent::interrupted);
  // The host that let its lease end is gone, or cut off: its job runs again
  // (here or elsewhere, from zero unless the bytes are where the next host
  // looks). Its temp files stay on it; the outbox row names it, and it
  // deletes them when it comes back (Outbox::apply_pending at its start).
  // Temp directories must not be shared between hosts: that row deletes the
  // job's recorded temp paths on whichever host applies it.
  static const std::string sql =
      "WITH taken AS (UPDATE jobs SET state = $2::integer, generation = generation + 1, modified_us = $1::bigint, "
      "running_since_us = NULL, lease_expires_us = NULL WHERE " + state_in(interrupted.from) +
      " AND lease_expires_us <= " XFERQ_PG_DB_NOW_US " AND owner_host <> $3 RETURNING id, owner_host) "
      "INSERT INTO file_ops (job_id, kind, created_us, host) SELECT id, " + kind_sql(OpKind::delete_temps) +
      ", $1::bigint, owner_host FROM taken";
  return static_cast<int64_t>(
      tx.exec_params(sql, now_us, static_cast<int>(interrupted.to), host_id_).affected_rows());
}

Result<std::optional<int64_t>> PgStore::next_retry_us() {
  // The next retry, or the end of another host's lease (a takeover is due
  // then: requeue_due). A lease ends by the server's clock: its end is
  // given in this host's clock ($2, now here), so that a skew between the
  // two neither wakes the worker early in a loop nor late.
  static const std::string sql =
      "SELECT least((SELECT min(retry_at_us) FROM jobs WHERE " +
      state_in(worker_transition(WorkerEvent::retry_due).from) + "), (SELECT min(lease_expires_us) FROM jobs WHERE " +
      state_in(worker_transition(WorkerEvent::interrupted).from) + " AND owner_host <> $1) - " XFERQ_PG_DB_NOW_US
      " + $2::bigint)";
  return read<std::optional<int64_t>>([&](Txn& tx) -> std::optional<int64_t> {
    const pqxx::row r = tx.exec_params1(sql, host_id_, now_us());
    if (r[0].is_null()) return std::nullopt;
    return r[0].as<int64_t>();
  });
}

std::error_code PgStore::recover_interrupted(int64_t now_us) {
  const WorkerTransition interrupted = worker_transition(WorkerEvent::interrupted);
  // This host's running jobs (its worker crashed or stopped) and those no
  // host holds; then other hosts' whose lease ended (take_over_expired: their
  // files are left to them). A job another live host runs is never taken
  // from it. How long a job ran before the crash is not known: that
  // attempt's time is not counted.
  static const std::string sql =
      "UPDATE jobs SET state = $2::integer, generation = generation + 1, modified_us = $1::bigint, "
      "running_since_us = NULL, lease_expires_us = NULL WHERE " + state_in(interrupted.from) +
      " AND (owner_host IS NULL OR owner_host = $3 OR lease_expires_us IS NULL)";
  return write_txn([&](Txn& tx) -> std::error_code {
    tx.exec_params(sql, now_us, static_cast<int>(interrupted.to), host_id_);
    take_over_expired(tx, now_us);
    return {};
  });
}

Result<std::vector<std::pair<std::string, FileRow>>> PgStore::finished_files() {
  // This host's files only: another host's temp files are not here to check.
  static const std::string sql = "SELECT " XFERQ_PG_FILE_COLUMNS ", f.job_id "
                                 "FROM files f JOIN jobs j ON j.id = f.job_id WHERE f.completed "
                                 "AND f.temp_path IS NOT NULL AND (j.owner_host IS NULL OR j.owner_host = $1) "
                                 "AND j.state NOT IN " + pg::states_sql(final_states());
  return read<std::vector<std::pair<std::string, FileRow>>>([&](Txn& tx) {
    std::vector<std::pair<std::string, FileRow>> out;
    for (const pqxx::row& r : tx.exec_params(sql, host_id_))
      out.emplace_back(r[pg::kFileColumnCount].as<std::string>(), read_file_row(r));
    return out;
  });
}

std::error_code PgStore::reopen_lost_file(const std::string& job_id, int64_t idx, const std::string& temp_path,
                                          int64_t now_us) {
  static const std::string sql =
      "UPDATE files SET completed = false, bytes_transferred = 0, etag = NULL, last_modified = NULL "
      "WHERE job_id = $1 AND idx = $2::bigint AND completed AND temp_path = $3";
  return write_txn([&](Txn& tx) -> std::error_code {
    // The job's row first (locked): only while it is not final.
    auto current = state_of(tx, job_id, /*lock=*/true);
    if (!current || (state_bit(*current) & final_states())) return {};
    if (tx.exec_params(sql, job_id, idx, temp_path).affected_rows() == 0) return {};
    const Decision d = decide(*current, Call::add_file, FileFacts{});
    if (d.error || !d.state_changes) return {};
    tx.exec_params(
        "UPDATE jobs SET state = $2::integer, generation = generation + 1, modified_us = $3::bigint WHERE id = $1",
        job_id, static_cast<int>(d.next), now_us);
    return {};
  });
}

std::error_code PgStore::renew_leases(const std::vector<std::string>& held) {
  // Only leases this host still holds: a job taken over (lease cleared) or
  // claimed by another host (owner changed) is not renewed, so a host that
  // comes back never extends what it lost.
  static const std::string sql =
      "UPDATE jobs SET lease_expires_us = " XFERQ_PG_DB_NOW_US " + $3::bigint WHERE id = ANY($1::text[]) "
      "AND owner_host = $2 AND lease_expires_us IS NOT NULL AND " +
      state_in(worker_transition(WorkerEvent::interrupted).from);
  return write_txn([&](Txn& tx) -> std::error_code {
    if (!held.empty()) tx.exec_params(sql, pg::text_array(held), host_id_, lease_us());
    // The host's own heartbeat, for operators (the hosts view).
    tx.exec_params("UPDATE hosts SET last_seen_us = " XFERQ_PG_DB_NOW_US " WHERE host_id = $1", host_id_);
    return {};
  });
}

}  // namespace xferq::detail
