// bench_util.cc — see bench_util.h.
#include "bench_util.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>

#include <xferq/xferq.h>

namespace xferq::bench {

std::string engine_temp_path(const std::string& local_path, const std::string& job_id, int64_t idx) {
  std::string hex;
  for (char c : job_id)
    if (std::isxdigit(static_cast<unsigned char>(c))) hex.push_back(c);
  const auto slash = local_path.rfind('/');
  const std::string dir = slash == 0 ? "/" : local_path.substr(0, slash);
  std::string base = local_path.substr(slash + 1);
  if (base.size() > 120) base.resize(120);
  return dir + "/." + base + ".xferq-" + hex + "-" + std::to_string(idx) + ".part";
}

namespace {

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

std::string guid(std::mt19937_64& rng) {
  unsigned char b[16];
  for (int i = 0; i < 16; i += 8) {
    const uint64_t r = rng();
    for (int k = 0; k < 8; ++k) b[i + k] = static_cast<unsigned char>(r >> (8 * k));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  char buf[40];
  std::snprintf(buf, sizeof buf, "{%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X}", b[0],
                b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return buf;
}

void write_file(const std::string& path, int64_t bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  static const std::string block(1 << 16, 'x');
  int64_t left = bytes;
  while (left > 0) {
    const ssize_t w = ::write(fd, block.data(), static_cast<size_t>(std::min<int64_t>(left, block.size())));
    if (w <= 0) throw std::runtime_error("cannot write " + path);
    left -= w;
  }
  ::close(fd);
}

}  // namespace

std::vector<std::string> generate_queue(const GenSpec& spec) {
  {
    QueueOptions o;
    o.start_worker = false;
    auto q = Queue::open(spec.db, o);  // schema, pragmas, application_id: the engine's own
    if (!q) throw std::runtime_error("Queue::open: " + q.error().message());
  }
  sqlite3* db = nullptr;
  check(sqlite3_open(spec.db.c_str(), &db), db, "open");
  check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;", nullptr,
                     nullptr, nullptr),
        db, "pragmas");
  check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
  sqlite3_stmt* ins_job = nullptr;
  sqlite3_stmt* ins_file = nullptr;
  check(sqlite3_prepare_v2(db,
                           "INSERT INTO jobs (id, type, state, display_name, created_us, modified_us) "
                           "VALUES (?1, 0, 3, ?2, ?3, ?3)",
                           -1, &ins_job, nullptr),
        db, "prepare jobs");
  check(sqlite3_prepare_v2(db,
                           "INSERT INTO files (job_id, idx, remote_url, local_path, temp_path, bytes_total, "
                           "bytes_transferred, completed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                           -1, &ins_file, nullptr),
        db, "prepare files");
  std::mt19937_64 rng(spec.seed);
  std::vector<std::string> ids;
  ids.reserve(static_cast<size_t>(spec.jobs));
  // Recent times: older jobs would be expired by the engine's housekeeping
  // (job_inactivity_timeout) when the worker starts.
  const int64_t base_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count() -
      spec.jobs - 1000000;
  const int64_t per_dir = 1000;
  for (int64_t i = 0; i < spec.jobs; ++i) {
    const std::string id = guid(rng);
    ids.push_back(id);
    char dname[32];
    std::snprintf(dname, sizeof dname, "/d%04lld", static_cast<long long>(i / per_dir));
    const std::string dir = spec.files_dir + dname;
    if (i % per_dir == 0) ::mkdir(dir.c_str(), 0755);
    const std::string name = "bench job " + std::to_string(i);
    sqlite3_reset(ins_job);
    sqlite3_bind_text(ins_job, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins_job, 2, name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(ins_job, 3, base_us + i);
    check(sqlite3_step(ins_job), db, "insert job");
    const bool started = i < spec.with_temp_files;
    for (int k = 0; k < spec.files_per_job; ++k) {
      const std::string local = dir + "/f" + std::to_string(i) + "-" + std::to_string(k) + ".bin";
      const std::string url = "http://127.0.0.1:9/f/" + std::to_string(i) + "/" + std::to_string(k);
      const bool last = k == spec.files_per_job - 1;
      sqlite3_reset(ins_file);
      sqlite3_bind_text(ins_file, 1, id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(ins_file, 2, k);
      sqlite3_bind_text(ins_file, 3, url.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(ins_file, 4, local.c_str(), -1, SQLITE_TRANSIENT);
      if (started) {
        const std::string tmp = engine_temp_path(local, id, k);
        const int64_t have = last ? spec.temp_bytes / 2 : spec.temp_bytes;
        write_file(tmp, have);
        sqlite3_bind_text(ins_file, 5, tmp.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins_file, 6, spec.temp_bytes);
        sqlite3_bind_int64(ins_file, 7, have);
        sqlite3_bind_int(ins_file, 8, last ? 0 : 1);
      } else {
        sqlite3_bind_null(ins_file, 5);
        sqlite3_bind_int64(ins_file, 6, -1);
        sqlite3_bind_int64(ins_file, 7, 0);
        sqlite3_bind_int(ins_file, 8, 0);
      }
      check(sqlite3_step(ins_file), db, "insert file");
    }
  }
  sqlite3_finalize(ins_job);
  sqlite3_finalize(ins_file);
  check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  // No ANALYZE: the engine never runs it, and with sqlite_stat1 present the
  // planner turns the worker's requeue_due UPDATEs into full scans.
  check(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE);", nullptr, nullptr, nullptr), db,
        "checkpoint");
  sqlite3_close(db);
  ::sync();  // start every measurement from a clean page cache state
  return ids;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  if (idx > 0) --idx;
  return v[std::min(idx, v.size() - 1)];
}

void Json::num(const std::string& k, double v) {
  char buf[64];
  if (std::isfinite(v))
    std::snprintf(buf, sizeof buf, "%.6g", v);
  else
    std::snprintf(buf, sizeof buf, "null");
  kv_.emplace_back(k, buf);
}

void Json::str(const std::string& k, const std::string& v) {
  std::string e = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') e.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20) continue;
    e.push_back(c);
  }
  e.push_back('"');
  kv_.emplace_back(k, e);
}

void Json::print() const {
  std::printf("{");
  for (size_t i = 0; i < kv_.size(); ++i)
    std::printf("%s\"%s\": %s", i ? ", " : "", kv_[i].first.c_str(), kv_[i].second.c_str());
  std::printf("}\n");
  std::fflush(stdout);
}

double peak_rss_mib() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

}  // namespace xferq::bench
