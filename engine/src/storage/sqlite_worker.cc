// sqlite_worker.cc — the SQLite backend's statements for the worker:
// claims, generation-checked progress and outcomes, retries due, recovery
// and upload sessions (the outbox's rows: sqlite_outbox.cc).
#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>

#include "storage/sqlite_sql.h"
#include "storage/sqlite_store.h"
#include "validate.h"
#include "xferq/error.h"

namespace xferq::detail {

using sqlite::bind_text_or_null;
using sqlite::column_text;
using sqlite::kind_sql;
using sqlite::read_file_row;
using sqlite::state_in;

namespace {
constexpr int64_t kUs = 1000000;

// A claimed job's row as claim_next's RETURNING lists it.
Claim read_claim(SQLite::Statement& s, const std::string& id) {
  Claim c;
  c.job_id = id;
  c.generation = s.getColumn(0).getInt64();
  c.type = static_cast<JobType>(s.getColumn(1).getInt());
  c.custom_headers = split_lines(s.getColumn(2).getString());
  c.security_flags = static_cast<uint32_t>(s.getColumn(3).getInt64());
  c.proxy = ProxySettings{static_cast<ProxyUsage>(s.getColumn(4).getInt()), s.getColumn(5).getString(),
                          s.getColumn(6).getString()};
  c.tls = sqlite::read_tls(s, 7);
  c.max_download_size = static_cast<uint64_t>(s.getColumn(12).getInt64());
  c.download_time_left_us = s.getColumn(13).getInt64();
  return c;
}

// "queued_seq = <now>, " when the transition sends the job behind every job
// of its priority queued so far (the table's to_back), else "" (it keeps its
// place).
std::string queue_place(const WorkerTransition& t, const char* now) {
  return t.to_back ? std::string("queued_seq = ") + now + ", " : std::string();
}

// The statement of Store::requeue_running for `event`: ?1 id, ?2 the claim's
// generation, ?3 now, ?4 the target state.
std::string requeue_running_sql(WorkerEvent event) {
  const WorkerTransition t = worker_transition(event);
  return "UPDATE jobs SET state = ?4, generation = generation + 1, modified_us = ?3, " + queue_place(t, "?3") +
         sqlite::end_running_time("?3") + " WHERE id = ?1 AND generation = ?2 AND " + state_in(t.from);
}
}  // namespace

// ---- The worker -------------------------------------------------------------------

Result<std::vector<Claim>> SqliteStore::claim_next(int limit, const std::vector<std::string>& skip,
                                             int64_t now_us) {
  std::vector<Claim> out;
  const WorkerTransition start = worker_transition(WorkerEvent::start);
  static const std::string any_sql = "SELECT EXISTS (SELECT 1 FROM jobs WHERE " + state_in(start.from) + ")";
  static const std::string pick_sql =
      "SELECT id FROM jobs WHERE " + state_in(start.from) + " ORDER BY priority, queued_seq LIMIT ?";
  static const std::string claim_sql =
      "UPDATE jobs SET state = ?3, generation = generation + 1, modified_us = ?2, running_since_us = ?2 "
      "WHERE id = ?1 AND " + state_in(start.from) + " RETURNING generation, type, coalesce(custom_headers, ''), "
      "security_flags, proxy_usage, coalesce(proxy_list, ''), coalesce(proxy_bypass, ''), " XFERQ_TLS_COLUMNS ", "
      "max_download_size, max_download_time_s * 1000000 - download_time_us";
  // Most wake-ups find nothing queued: answer those with a read.
  auto any = read<bool>([&] {
    auto& q = prepare(any_sql.c_str());
    q.executeStep();
    const bool found = q.getColumn(0).getInt() != 0;
    q.reset();
    return found;
  });
  if (!any) return any.error();
  if (!*any) return out;
  std::error_code ec = write_txn([&]() -> std::error_code {
    out.clear();
    auto& pick = prepare(pick_sql.c_str());
    pick.bind(1, limit + static_cast<int>(skip.size()));
    std::vector<std::string> ids;
    while (pick.executeStep()) {
      std::string id = pick.getColumn(0).getString();
      bool held = false;
      for (const auto& s : skip) held = held || s == id;
      if (!held && static_cast<int>(ids.size()) < limit) ids.push_back(std::move(id));
    }
    pick.reset();
    auto& up = prepare(claim_sql.c_str());
    for (const auto& id : ids) {
      up.reset();
      up.bind(1, id);
      up.bind(2, now_us);
      up.bind(3, static_cast<int>(start.to));
      if (up.executeStep()) out.push_back(read_claim(up, id));
      up.reset();
    }
    return {};
  });
  if (ec) return ec;
  return out;
}

Result<std::optional<int64_t>> SqliteStore::generation(const std::string& job_id) {
  return read<std::optional<int64_t>>([&]() -> std::optional<int64_t> {
    auto& s = prepare("SELECT generation FROM jobs WHERE id = ?");
    s.bind(1, job_id);
    if (!s.executeStep()) return std::nullopt;
    const int64_t g = s.getColumn(0).getInt64();
    s.reset();
    return g;
  });
}

Result<std::optional<FileRow>> SqliteStore::next_file(const std::string& job_id) {
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

bool SqliteStore::set_temp_path_locked(const Claim& claim, int64_t idx, const std::string& path) {
  auto& s = prepare(
      "UPDATE files SET temp_path = ?4 WHERE job_id = ?1 AND idx = ?3 "
      "AND (SELECT generation FROM jobs WHERE id = ?1) = ?2");
  s.bind(1, claim.job_id);
  s.bind(2, claim.generation);
  s.bind(3, idx);
  s.bind(4, path);
  return s.exec() == 1;
}

Result<WriteOutcome> SqliteStore::record_temp_paths(const Claim& claim, const std::vector<TempPathRow>& rows) {
  return write_value<WriteOutcome>(
      WriteOutcome::stale,
      [&](WriteOutcome& outcome) -> std::error_code {
        // Each row is conditional on the same generation: the first answers
        // for all of them (a stale claim changes no row).
        for (const TempPathRow& row : rows) {
          if (!set_temp_path_locked(claim, row.first, row.second)) return {};
          outcome = WriteOutcome::applied;
        }
        return {};
      },
      /*durable=*/true);
}

Result<WriteOutcome> SqliteStore::guard_temp_file(const Claim& claim, int64_t idx, const std::string& path,
                                            const std::function<std::error_code()>& open_or_create) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](WriteOutcome& outcome) -> std::error_code {
    if (!set_temp_path_locked(claim, idx, path)) return {};  // the job moved on: create nothing
    if (std::error_code ec = open_or_create()) return ec;
    outcome = WriteOutcome::applied;
    return {};
  });
}

Result<WriteOutcome> SqliteStore::mark_connected(Claim* claim, int64_t now_us) {
  const WorkerTransition connected = worker_transition(WorkerEvent::connected);
  static const std::string sql =
      "UPDATE jobs SET state = ?4, generation = generation + 1, modified_us = ?3 "
      "WHERE id = ?1 AND generation = ?2 AND " + state_in(connected.from) + " RETURNING generation";
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](WriteOutcome& outcome) -> std::error_code {
    auto& s = prepare(sql.c_str());
    s.bind(1, claim->job_id);
    s.bind(2, claim->generation);
    s.bind(3, now_us);
    s.bind(4, static_cast<int>(connected.to));
    if (s.executeStep()) {
      claim->generation = s.getColumn(0).getInt64();
      outcome = WriteOutcome::applied;
    }
    s.reset();
    return {};
  });
}

Result<WriteOutcome> SqliteStore::commit_progress(const Claim& claim, const FileRow& file, int64_t now_us) {
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

Result<FileFinish> SqliteStore::finish_file(Claim* claim, const FileRow& file, int64_t now_us) {
  const WorkerTransition done = worker_transition(WorkerEvent::all_files_done);
  static const std::string done_sql =
      "UPDATE jobs SET state = ?3, generation = generation + 1, modified_us = ?2, "
      "transferred_us = ?2, no_progress_since_us = NULL, upload_session_id = NULL, " + sqlite::end_running_time("?2") +
      " WHERE id = ?1 AND " + state_in(done.from) + " RETURNING generation";
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
    auto& j = prepare(done_sql.c_str());
    j.bind(1, claim->job_id);
    j.bind(2, now_us);
    j.bind(3, static_cast<int>(done.to));
    if (!j.executeStep()) return {};  // not running: the claim's view is stale
    claim->generation = j.getColumn(0).getInt64();
    j.reset();
    outcome = FileFinish::job_transferred;
    return {};
  });
}

Result<WriteOutcome> SqliteStore::fail(const Claim& claim, const TransferFailure& failure, int64_t now_us,
                                 JobState* state_after) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](WriteOutcome& outcome) -> std::error_code {
    auto& q = prepare(
        "SELECT state, retry_delay_s, no_progress_timeout_s, no_progress_since_us FROM jobs "
        "WHERE id = ? AND generation = ?");
    q.bind(1, claim.job_id);
    q.bind(2, claim.generation);
    if (!q.executeStep()) return {};
    const auto current = sqlite::column_state(q, 0);
    const int64_t job_delay_s = std::max<int64_t>(q.getColumn(1).getInt64(), options_.minimum_retry_delay_floor.count());
    const int64_t delay_us = std::max<int64_t>(job_delay_s, failure.retry_after_s.value_or(0)) * kUs;
    const int64_t timeout_us = q.getColumn(2).getInt64() * kUs;
    const int64_t since = q.isColumnNull(3) ? now_us : q.getColumn(3).getInt64();
    q.reset();
    // A transient error stays transient only if a retry can come before the
    // no-progress timeout runs out (0 = every error is fatal).
    const bool fatal = !failure.transient || timeout_us == 0 || (now_us + delay_us) - since > timeout_us;
    auto next = on_worker_event(current, fatal ? WorkerEvent::fatal_error : WorkerEvent::transient_error);
    if (!next) return {};
    static const std::string fail_sql =
        "UPDATE jobs SET state = ?3, generation = generation + 1, modified_us = ?4, "
        "error_hresult = ?5, error_context = ?6, error_description = ?7, error_file = ?8, "
        "error_count = error_count + 1, retry_at_us = ?9, no_progress_since_us = ?10, " +
        sqlite::end_running_time("?4") + " WHERE id = ?1 AND generation = ?2";
    auto& up = prepare(fail_sql.c_str());
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

Result<WriteOutcome> SqliteStore::release(const Claim& claim, int64_t now_us) {
  return requeue_running(claim, WorkerEvent::interrupted, now_us);
}

Result<WriteOutcome> SqliteStore::requeue_running(const Claim& claim, WorkerEvent event, int64_t now_us) {
  const WorkerTransition t = worker_transition(event);
  // One statement per event (the table fixes its states and queue place),
  // built once: prepare() caches statements by the text's address.
  static const std::string sqls[] = {requeue_running_sql(WorkerEvent::interrupted),
                                     requeue_running_sql(WorkerEvent::preempted),
                                     requeue_running_sql(WorkerEvent::slice_over)};
  const std::string* sql = event == WorkerEvent::preempted    ? &sqls[1]
                           : event == WorkerEvent::slice_over ? &sqls[2]
                                                              : &sqls[0];
  if (event != WorkerEvent::interrupted && event != WorkerEvent::preempted && event != WorkerEvent::slice_over)
    return make_error_code(std::errc::invalid_argument);  // not an event that gives a slot back
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](WriteOutcome& outcome) -> std::error_code {
    auto& s = prepare(sql->c_str());
    s.bind(1, claim.job_id);
    s.bind(2, claim.generation);
    s.bind(3, now_us);
    s.bind(4, static_cast<int>(t.to));
    outcome = s.exec() == 1 ? WriteOutcome::applied : WriteOutcome::stale;
    return {};
  });
}

Result<SchedulingView> SqliteStore::scheduling_view(const std::vector<std::string>& held) {
  const WorkerTransition start = worker_transition(WorkerEvent::start);
  static const std::string queued_sql =
      "SELECT priority, count(*) FROM jobs WHERE " + state_in(start.from) + " GROUP BY priority";
  return read<SchedulingView>([&] {
    SchedulingView v;
    auto& q = prepare(queued_sql.c_str());
    while (q.executeStep()) {
      const int p = q.getColumn(0).getInt();
      if (p >= 0 && p < 4) v.queued[p] = q.getColumn(1).getInt64();
    }
    q.reset();
    auto& r = prepare("SELECT priority FROM jobs WHERE id = ?");
    for (const std::string& id : held) {
      r.reset();
      r.bind(1, id);
      if (r.executeStep()) v.running.emplace_back(id, static_cast<JobPriority>(r.getColumn(0).getInt()));
      r.reset();
    }
    return v;
  });
}

Result<int64_t> SqliteStore::requeue_due(int64_t now_us, std::vector<std::string>* expired) {
  const WorkerTransition retry = worker_transition(WorkerEvent::retry_due);
  const WorkerTransition expiry = worker_transition(WorkerEvent::no_progress_expired);
  static const std::string due_sql =
      "SELECT EXISTS (SELECT 1 FROM jobs WHERE " + state_in(retry.from) + " AND retry_at_us <= ?1) "
      "OR EXISTS (SELECT 1 FROM jobs WHERE " + state_in(expiry.from) +
      " AND no_progress_since_us + no_progress_timeout_s * 1000000 <= ?1)";
  static const std::string expire_sql =
      "UPDATE jobs SET state = ?3, generation = generation + 1, modified_us = ?1, "
      "error_hresult = ?2, error_context = ?4, "
      "error_description = 'no progress within the no-progress timeout' "
      "WHERE " + state_in(expiry.from) + " AND no_progress_since_us + no_progress_timeout_s * 1000000 <= ?1 "
      "RETURNING id";
  static const std::string requeue_sql =
      "UPDATE jobs SET state = ?2, generation = generation + 1, modified_us = ?1" +
      std::string(retry.to_back ? ", queued_seq = ?1" : "") + " WHERE " + state_in(retry.from) +
      " AND retry_at_us <= ?1";
  expired->clear();
  // Most wake-ups find nothing due: answer those with a read, no write lock.
  auto due = read<bool>([&] {
    auto& q = prepare(due_sql.c_str());
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
    auto& x = prepare(expire_sql.c_str());
    x.bind(1, now_us);
    x.bind(2, static_cast<int64_t>(Errc::download_no_progress));
    x.bind(3, static_cast<int>(expiry.to));
    x.bind(4, static_cast<int>(ErrorContext::general_transport));
    while (x.executeStep()) expired->push_back(x.getColumn(0).getString());
    x.reset();
    auto& s = prepare(requeue_sql.c_str());
    s.bind(1, now_us);
    s.bind(2, static_cast<int>(retry.to));
    requeued = s.exec();
    return {};
  });
}

Result<std::optional<int64_t>> SqliteStore::next_retry_us() {
  static const std::string sql =
      "SELECT min(retry_at_us) FROM jobs WHERE " + state_in(worker_transition(WorkerEvent::retry_due).from);
  return read<std::optional<int64_t>>([&]() -> std::optional<int64_t> {
    auto& s = prepare(sql.c_str());
    std::optional<int64_t> at;
    if (s.executeStep() && !s.isColumnNull(0)) at = s.getColumn(0).getInt64();
    s.reset();
    return at;
  });
}

std::error_code SqliteStore::recover_interrupted(int64_t now_us) {
  const WorkerTransition interrupted = worker_transition(WorkerEvent::interrupted);
  // How long a job ran before the crash is not known: that attempt's time
  // is not counted against its maximum download time.
  static const std::string sql =
      "UPDATE jobs SET state = ?2, generation = generation + 1, modified_us = ?1, running_since_us = NULL WHERE " +
      state_in(interrupted.from);
  return write_txn([&]() -> std::error_code {
    auto& s = prepare(sql.c_str());
    s.bind(1, now_us);
    s.bind(2, static_cast<int>(interrupted.to));
    s.exec();
    return {};
  });
}

Result<std::vector<std::pair<std::string, FileRow>>> SqliteStore::finished_files() {
  // The file columns first (read_file_row), the job's id after them.
  static const std::string sql = "SELECT " XFERQ_FILE_COLUMNS ", f.job_id "
                                 "FROM files f JOIN jobs j ON j.id = f.job_id WHERE f.completed = 1 "
                                 "AND f.temp_path IS NOT NULL AND j.state NOT IN " +
                                 sqlite::states_sql(final_states());
  return read<std::vector<std::pair<std::string, FileRow>>>([&] {
    auto& s = prepare(sql.c_str());
    std::vector<std::pair<std::string, FileRow>> out;
    while (s.executeStep()) out.emplace_back(s.getColumn(sqlite::kFileColumnCount).getString(), read_file_row(s));
    return out;
  });
}

std::error_code SqliteStore::reopen_lost_file(const std::string& job_id, int64_t idx, const std::string& temp_path,
                                             int64_t now_us) {
  static const std::string sql =
      "UPDATE files SET completed = 0, bytes_transferred = 0, etag = NULL, last_modified = NULL "
      "WHERE job_id = ?1 AND idx = ?2 AND completed = 1 AND temp_path = ?3 "
      "AND (SELECT state FROM jobs WHERE id = ?1) NOT IN " + sqlite::states_sql(final_states());
  return write_txn([&]() -> std::error_code {
    auto& f = prepare(sql.c_str());
    f.bind(1, job_id);
    f.bind(2, idx);
    f.bind(3, temp_path);
    if (f.exec() == 0) return {};
    auto current = state_locked(job_id);
    if (!current) return {};
    const Decision d = decide(*current, Call::add_file, FileFacts{});
    if (d.error || !d.state_changes) return {};
    auto& up = prepare("UPDATE jobs SET state = ?2, generation = generation + 1, modified_us = ?3 WHERE id = ?1");
    up.bind(1, job_id);
    up.bind(2, static_cast<int>(d.next));
    up.bind(3, now_us);
    up.exec();
    return {};
  });
}

// ---- Uploads ------------------------------------------------------------------------

Result<UploadJob> SqliteStore::upload_job(const std::string& job_id) {
  return read_found<UploadJob>([&]() -> std::optional<UploadJob> {
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
}

Result<WriteOutcome> SqliteStore::set_upload_session(const Claim& claim, int64_t idx, const std::string& session_id,
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

Result<WriteOutcome> SqliteStore::record_response(const Claim& claim, int64_t idx, const ResponseMeta& meta) {
  return write_value<WriteOutcome>(WriteOutcome::stale, [&](WriteOutcome& outcome) -> std::error_code {
    // The final URL is kept from an earlier response unless this one reports it.
    auto& s = prepare(
        "UPDATE files SET http_status = ?4, final_url = coalesce(nullif(?5, ''), final_url), "
        "content_type = nullif(?6, ''), content_disposition = nullif(?7, '') WHERE job_id = ?1 AND idx = ?3 "
        "AND (SELECT generation FROM jobs WHERE id = ?1) = ?2");
    s.bind(1, claim.job_id);
    s.bind(2, claim.generation);
    s.bind(3, idx);
    s.bind(4, meta.http_status);
    s.bind(5, meta.final_url);
    s.bind(6, meta.content_type);
    s.bind(7, meta.content_disposition);
    if (s.exec() == 1) outcome = WriteOutcome::applied;
    return {};
  });
}

Result<WriteOutcome> SqliteStore::set_reply_url(const Claim& claim, const std::string& url, int64_t now_us) {
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

}  // namespace xferq::detail
