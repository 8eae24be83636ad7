// sqlite_bandwidth.cc — the SQLite backend's statements for bandwidth
// limits: the queue-wide settings and schedule (tables bandwidth_settings and
// bandwidth_schedule, schema 012) and a job's own limit (jobs.bandwidth_limit).
#include <SQLiteCpp/SQLiteCpp.h>

#include "storage/sqlite_sql.h"
#include "storage/sqlite_store.h"
#include "xferq/error.h"

namespace xferq::detail {
namespace {

// The names of the per-priority rows, by JobPriority.
const char* const kPriorityNames[4] = {"priority_limit.0", "priority_limit.1", "priority_limit.2",
                                       "priority_limit.3"};

}  // namespace

BandwidthSettings SqliteStore::bandwidth_settings_locked() {
  BandwidthSettings out;
  auto& s = prepare("SELECT name, value FROM bandwidth_settings");
  while (s.executeStep()) {
    const std::string name = s.getColumn(0).getString();
    const int64_t value = s.getColumn(1).getInt64();
    if (name == "queue_limit") out.queue_limit = value;
    for (int p = 0; p < 4; ++p)
      if (name == kPriorityNames[p]) out.priority_limits[p] = value;
  }
  auto& w = prepare("SELECT days, start_hour, end_hour, bytes_per_sec FROM bandwidth_schedule ORDER BY position");
  while (w.executeStep()) {
    BandwidthWindow win;
    win.days = static_cast<uint8_t>(w.getColumn(0).getInt());
    win.start_hour = w.getColumn(1).getInt();
    win.end_hour = w.getColumn(2).getInt();
    win.bytes_per_sec = w.getColumn(3).getInt64();
    out.schedule.push_back(win);
  }
  return out;
}

Result<BandwidthSettings> SqliteStore::bandwidth_settings() {
  return read<BandwidthSettings>([&] { return bandwidth_settings_locked(); });
}

std::error_code SqliteStore::set_queue_bandwidth_limit(std::optional<int64_t> bytes_per_sec) {
  return write_txn([&]() -> std::error_code {
    if (!bytes_per_sec) {
      prepare("DELETE FROM bandwidth_settings WHERE name = 'queue_limit'").exec();
      return {};
    }
    auto& s = prepare(
        "INSERT INTO bandwidth_settings (name, value) VALUES ('queue_limit', ?1) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value");
    s.bind(1, *bytes_per_sec);
    s.exec();
    return {};
  });
}

std::error_code SqliteStore::set_priority_bandwidth_limit(JobPriority priority, int64_t bytes_per_sec) {
  const int p = static_cast<int>(priority);
  if (p < 0 || p > 3) return make_error_code(Errc::invalid_arg);
  return write_txn([&]() -> std::error_code {
    auto& s = prepare(
        "INSERT INTO bandwidth_settings (name, value) VALUES (?1, ?2) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value");
    s.bind(1, kPriorityNames[p]);
    s.bind(2, bytes_per_sec);
    s.exec();
    return {};
  });
}

std::error_code SqliteStore::set_bandwidth_schedule(const std::vector<BandwidthWindow>& schedule) {
  return write_txn([&]() -> std::error_code {
    prepare("DELETE FROM bandwidth_schedule").exec();
    int64_t position = 0;
    for (const BandwidthWindow& w : schedule) {
      auto& s = prepare(
          "INSERT INTO bandwidth_schedule (position, days, start_hour, end_hour, bytes_per_sec) "
          "VALUES (?1, ?2, ?3, ?4, ?5)");
      s.bind(1, position++);
      s.bind(2, static_cast<int>(w.days));
      s.bind(3, w.start_hour);
      s.bind(4, w.end_hour);
      s.bind(5, w.bytes_per_sec);
      s.exec();
    }
    return {};
  });
}

std::error_code SqliteStore::set_job_bandwidth_limit(const std::string& id, int64_t bytes_per_sec, int64_t now_us) {
  return write_txn([&]() -> std::error_code {
    // The state rule of a property (allowed_from(set_property)): any state
    // that is not final.
    auto& s = prepare(
        "UPDATE jobs SET bandwidth_limit = ?3, modified_us = ?4 WHERE id = ?1 AND ((1 << state) & ?2) != 0");
    s.bind(1, id);
    s.bind(2, static_cast<int64_t>(allowed_from(Call::set_property)));
    s.bind(3, bytes_per_sec);
    s.bind(4, now_us);
    if (s.exec() == 0) return state_error_locked(id);
    return {};
  });
}

Result<int64_t> SqliteStore::job_bandwidth_limit(const std::string& id) {
  return read_found<int64_t>([&]() -> std::optional<int64_t> {
    auto& s = prepare("SELECT bandwidth_limit FROM jobs WHERE id = ?");
    s.bind(1, id);
    if (!s.executeStep()) return std::nullopt;
    const int64_t v = s.getColumn(0).getInt64();
    s.reset();
    return v;
  });
}

Result<std::pair<BandwidthSettings, std::map<std::string, JobBandwidth>>> SqliteStore::bandwidth_state(
    const std::vector<std::string>& job_ids) {
  using State = std::pair<BandwidthSettings, std::map<std::string, JobBandwidth>>;
  return read<State>([&] {
    State out;
    out.first = bandwidth_settings_locked();
    for (const std::string& id : job_ids) {
      auto& s = prepare("SELECT priority, bandwidth_limit FROM jobs WHERE id = ?");
      s.bind(1, id);
      if (!s.executeStep()) continue;
      JobBandwidth jb;
      jb.priority = static_cast<JobPriority>(s.getColumn(0).getInt());
      jb.limit = s.getColumn(1).getInt64();
      s.reset();
      out.second[id] = jb;
    }
    return out;
  });
}

}  // namespace xferq::detail
