// bench_util.cc — see bench_util.h.
#include "bench_util.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sqlite3.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <exception>
#include <stdexcept>
#include <thread>

#include <xferq/xferq.h>

extern char** environ;

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

// Prepared inserts of job and file rows on one connection.
class RowWriter {
 public:
  explicit RowWriter(sqlite3* db) : db_(db) {
    check(sqlite3_prepare_v2(db,
                             "INSERT INTO jobs (id, type, state, display_name, created_us, modified_us) "
                             "VALUES (?1, 0, 3, ?2, ?3, ?3)",
                             -1, &job_, nullptr),
          db, "prepare jobs");
    check(sqlite3_prepare_v2(db,
                             "INSERT INTO files (job_id, idx, remote_url, local_path, temp_path, bytes_total, "
                             "bytes_transferred, completed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                             -1, &file_, nullptr),
          db, "prepare files");
  }
  ~RowWriter() {
    sqlite3_finalize(job_);
    sqlite3_finalize(file_);
  }
  RowWriter(const RowWriter&) = delete;
  RowWriter& operator=(const RowWriter&) = delete;

  // Job number `index` in directory `dir`; started: files 0..n-2 completed,
  // the last one partial, temp paths recorded (the files are written elsewhere).
  void job(const std::string& id, int64_t index, const std::string& dir, int files_per_job, int64_t temp_bytes,
           bool started, int64_t created_us) {
    const std::string name = "bench job " + std::to_string(index);
    sqlite3_reset(job_);
    sqlite3_bind_text(job_, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(job_, 2, name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(job_, 3, created_us);
    check(sqlite3_step(job_), db_, "insert job");
    for (int k = 0; k < files_per_job; ++k) {
      const std::string local = local_path(dir, index, k);
      const std::string url = "http://127.0.0.1:9/f/" + std::to_string(index) + "/" + std::to_string(k);
      const bool last = k == files_per_job - 1;
      sqlite3_reset(file_);
      sqlite3_bind_text(file_, 1, id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(file_, 2, k);
      sqlite3_bind_text(file_, 3, url.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(file_, 4, local.c_str(), -1, SQLITE_TRANSIENT);
      if (started) {
        const std::string tmp = engine_temp_path(local, id, k);
        const int64_t have = last ? temp_bytes / 2 : temp_bytes;
        sqlite3_bind_text(file_, 5, tmp.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(file_, 6, temp_bytes);
        sqlite3_bind_int64(file_, 7, have);
        sqlite3_bind_int(file_, 8, last ? 0 : 1);
      } else {
        sqlite3_bind_null(file_, 5);
        sqlite3_bind_int64(file_, 6, -1);
        sqlite3_bind_int64(file_, 7, 0);
        sqlite3_bind_int(file_, 8, 0);
      }
      check(sqlite3_step(file_), db_, "insert file");
    }
  }

  static std::string local_path(const std::string& dir, int64_t index, int k) {
    return dir + "/f" + std::to_string(index) + "-" + std::to_string(k) + ".bin";
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* job_ = nullptr;
  sqlite3_stmt* file_ = nullptr;
};

constexpr int64_t kJobsPerDir = 1000;

std::string job_dir(const std::string& files_dir, int64_t index) {
  char dname[32];
  std::snprintf(dname, sizeof dname, "/d%04lld", static_cast<long long>(index / kJobsPerDir));
  return files_dir + dname;
}

int64_t now_us_wall() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

sqlite3* open_bulk(const std::string& path) {
  sqlite3* db = nullptr;
  check(sqlite3_open(path.c_str(), &db), db, "open");
  sqlite3_busy_timeout(db, 10000);
  check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;", nullptr,
                     nullptr, nullptr),
        db, "pragmas");
  return db;
}

}  // namespace

std::string random_guid(std::mt19937_64& rng) {
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

void write_temp_file(const std::string& path, int64_t bytes) {
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

std::vector<std::string> write_job_temp_files(const std::string& files_dir, int64_t index, const std::string& job_id,
                                              int files_per_job, int64_t temp_bytes) {
  const std::string dir = job_dir(files_dir, index);
  ::mkdir(dir.c_str(), 0755);  // EEXIST but for the first job of a directory (or of a slice)
  std::vector<std::string> paths;
  for (int k = 0; k < files_per_job; ++k) {
    const bool last = k == files_per_job - 1;
    paths.push_back(engine_temp_path(RowWriter::local_path(dir, index, k), job_id, k));
    write_temp_file(paths.back(), last ? temp_bytes / 2 : temp_bytes);
  }
  return paths;
}

std::vector<std::string> write_temp_files_for(const std::string& files_dir, int64_t first_index,
                                              const std::vector<std::string>& ids, int files_per_job,
                                              int64_t temp_bytes, int threads) {
  const size_t n = ids.size();
  std::vector<std::vector<std::string>> per(n);
  std::vector<std::exception_ptr> failed(static_cast<size_t>(std::max(1, threads)));
  const auto work = [&](int w, size_t from, size_t to) {
    try {
      for (size_t i = from; i < to; ++i)
        per[i] = write_job_temp_files(files_dir, first_index + static_cast<int64_t>(i), ids[i], files_per_job,
                                      temp_bytes);
    } catch (...) {
      failed[static_cast<size_t>(w)] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  const size_t parts = failed.size();
  for (size_t w = 1; w < parts; ++w) pool.emplace_back(work, static_cast<int>(w), n * w / parts, n * (w + 1) / parts);
  work(0, 0, n / parts);
  for (auto& t : pool) t.join();
  for (auto& e : failed)
    if (e) std::rethrow_exception(e);
  std::vector<std::string> out;
  out.reserve(n * static_cast<size_t>(files_per_job));
  for (auto& v : per) out.insert(out.end(), v.begin(), v.end());
  return out;
}

void spread_subdirectories(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  int flags = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
    flags |= FS_TOPDIR_FL;
    ::ioctl(fd, FS_IOC_SETFLAGS, &flags);
  }
  ::close(fd);
}

void sync_filesystem(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path);
  ::syncfs(fd);
  ::close(fd);
}

Appended append_jobs(const AppendSpec& spec, std::mt19937_64& rng) {
  Appended out;
  for (int64_t i = 0; i < spec.count; ++i) out.ids.push_back(random_guid(rng));
  const int64_t created_us = now_us_wall() - 1000000;
  for (const std::string& path : spec.dbs) {
    sqlite3* db = open_bulk(path);
    check(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), db, "begin");
    {
      RowWriter rows(db);
      for (int64_t i = 0; i < spec.count; ++i) {
        const int64_t index = spec.first_index + i;
        rows.job(out.ids[i], index, job_dir(spec.files_dir, index), spec.files_per_job, spec.temp_bytes,
                 spec.temp_files, created_us + i);
      }
    }
    check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
    // Every round starts from a checkpointed WAL (busy: the next round's will do).
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE);", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  if (spec.temp_files)
    out.temp_paths = write_temp_files_for(spec.files_dir, spec.first_index, out.ids, spec.files_per_job,
                                          spec.temp_bytes);
  return out;
}

std::vector<std::string> generate_queue(const GenSpec& spec) {
  {
    QueueOptions o;
    o.start_worker = false;
    auto q = Queue::open(spec.db, o);  // schema, pragmas, application_id: the engine's own
    if (!q) throw std::runtime_error("Queue::open: " + q.error().message());
  }
  ::mkdir(spec.files_dir.c_str(), 0755);
  spread_subdirectories(spec.files_dir);
  sqlite3* db = open_bulk(spec.db);
  check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
  std::mt19937_64 rng(spec.seed);
  std::vector<std::string> ids;
  ids.reserve(static_cast<size_t>(spec.jobs));
  // Recent times: older jobs would be expired by the engine's housekeeping
  // (job_inactivity_timeout) when the worker starts.
  const int64_t base_us = now_us_wall() - spec.jobs - 1000000;
  {
    RowWriter rows(db);
    for (int64_t i = 0; i < spec.jobs; ++i) {
      const std::string id = random_guid(rng);
      ids.push_back(id);
      const std::string dir = job_dir(spec.files_dir, i);
      if (i % kJobsPerDir == 0) ::mkdir(dir.c_str(), 0755);
      const bool started = i < spec.with_temp_files;
      rows.job(id, i, dir, spec.files_per_job, spec.temp_bytes, started, base_us + i);
      if (started) write_job_temp_files(spec.files_dir, i, id, spec.files_per_job, spec.temp_bytes);
    }
  }
  check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  // No ANALYZE: the engine never runs it, and with sqlite_stat1 present the
  // planner turns the worker's requeue_due UPDATEs into full scans.
  check(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE);", nullptr, nullptr, nullptr), db,
        "checkpoint");
  sqlite3_close(db);
  ::sync();  // start every measurement from a clean page cache state
  return ids;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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

void Json::arr(const std::string& k, const std::vector<double>& v) {
  std::string e = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, std::isfinite(v[i]) ? "%.6g" : "null", v[i]);
    e += (i ? ", " : "") + std::string(buf);
  }
  kv_.emplace_back(k, e + "]");
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

// ---- LineChild ---------------------------------------------------------------

void LineChild::start(const std::vector<std::string>& args, const std::string& host_id) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  std::vector<std::string> argv_s = {self};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s;
  if (!host_id.empty()) env_s.push_back("XFERQ_HOST_ID=" + host_id);
  for (char** e = environ; *e; ++e)
    if (host_id.empty() || std::strncmp(*e, "XFERQ_HOST_ID=", 14) != 0) env_s.push_back(*e);
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  for (auto& e : env_s) envp.push_back(e.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  const int rc = ::posix_spawn(&pid_, self.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  to_ = in[1];
  from_ = ::fdopen(out[0], "r");
  if (rc != 0) throw std::runtime_error("cannot start a child of mode " + args.at(0));
  expect("ready");
}

void LineChild::send(const std::string& line) {
  const std::string l = line + "\n";
  if (::write(to_, l.data(), l.size()) != static_cast<ssize_t>(l.size())) throw std::runtime_error("child write");
}

std::string LineChild::recv() {
  char* buf = nullptr;
  size_t cap = 0;
  const ssize_t n = ::getline(&buf, &cap, from_);
  std::string line = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  std::free(buf);
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (n <= 0) throw std::runtime_error("a child process ended early");
  return line;
}

void LineChild::expect(const std::string& what) {
  const std::string got = recv();
  if (got != what) throw std::runtime_error("child said \"" + got + "\", expected \"" + what + "\"");
}

void LineChild::stop() {
  if (to_ >= 0) ::close(to_);  // EOF on its stdin: it closes its queue and exits
  to_ = -1;
  if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  pid_ = 0;
  if (from_) ::fclose(from_);
  from_ = nullptr;
}

}  // namespace xferq::bench
