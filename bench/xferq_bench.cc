// xferq_bench.cc — the custom benchmark harness of issue #5.
//
// One program, one mode per measurement; each prints one JSON object on
// stdout (progress on stderr). bench/run.sh runs the modes and merges them.
//
//   cancel     concurrent cancels (T threads, public API) vs the SQLite floor;
//              then the same while the worker runs 16 live transfers
//   quiesce    cancel-to-quiescence, in-process and through the `xferq` CLI
//   download   one large file through the engine (server given by URL)
//   smallfiles many small files through the engine (16 concurrent jobs)
//   scale      cancel latency with N jobs in the queue
//   rss        peak RSS of a process that opens a queue and runs the worker
//   mkfile / mkfiles   test data for the nginx server
//
// Every loop is bounded in count and time; only 127.0.0.1 is used.
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <xferq/xferq.h>

#include "bench_util.h"
#include "http_fixture.h"

using namespace xferq;
using namespace xferq::bench;
using xferq::testing::FixtureServer;
using xferq::testing::Resource;

namespace {

std::map<std::string, std::string> g_args;

std::string arg(const std::string& k, const std::string& def = "") {
  auto it = g_args.find(k);
  return it == g_args.end() ? def : it->second;
}
int64_t arg_i(const std::string& k, int64_t def) {
  auto it = g_args.find(k);
  return it == g_args.end() ? def : std::stoll(it->second);
}
std::vector<int> arg_list(const std::string& k, const std::string& def) {
  std::vector<int> out;
  std::stringstream ss(arg(k, def));
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

void log(const std::string& s) { std::cerr << "[bench] " << s << std::endl; }

double ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

void sleep_ms(int m) { std::this_thread::sleep_for(std::chrono::milliseconds(m)); }

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

std::unique_ptr<Queue> open_queue(const std::string& db, QueueOptions o = {}) {
  auto q = Queue::open(db, o);
  if (!q) throw std::runtime_error("Queue::open(" + db + "): " + q.error().message());
  return std::move(*q);
}

void copy_file(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary);
  out << in.rdbuf();
  if (!out) throw std::runtime_error("copy " + from);
}

// ---- Checking how temp files look ---------------------------------------------------

// Runs one real job against a stalled local server until its temp file exists,
// and checks that the engine named and recorded it as engine_temp_path() says.
// This is what makes the bulk-generated temp files of the cancel benchmarks
// identical to the engine's own.
void verify_temp_naming(const std::string& dir) {
  ::mkdir(dir.c_str(), 0755);
  FixtureServer server;
  Resource r;
  r.body = std::string(1 << 20, 'v');
  r.stall_after_bytes = 64 * 1024;
  server.set("/stall", r);
  QueueOptions o;
  o.progress_interval = std::chrono::milliseconds(50);
  auto q = open_queue(dir + "/verify.db", o);
  auto job = q->create_job("verify naming");
  const std::string local = dir + "/verify.bin";
  if (auto ec = job->add_file(server.url("/stall"), local)) throw std::runtime_error(ec.message());
  job->resume();
  const std::string expect = engine_temp_path(local, job->id(), 0);
  const int64_t deadline = mono_ns() + 10'000'000'000LL;
  std::string recorded;
  while (mono_ns() < deadline) {
    auto f = job->files();
    if (f && !f->empty() && !(*f)[0].temp_path.empty() && (*f)[0].bytes_transferred > 0 &&
        exists((*f)[0].temp_path)) {
      recorded = (*f)[0].temp_path;
      break;
    }
    sleep_ms(5);
  }
  if (recorded != expect)
    throw std::runtime_error("temp naming differs: engine '" + recorded + "' bench '" + expect + "'");
  struct stat st {};
  ::stat(recorded.c_str(), &st);
  if ((st.st_mode & 0777) != 0600) throw std::runtime_error("temp mode differs");
  job->cancel();
  log("temp-file naming verified against the engine: " + recorded);
}

// ---- Concurrent cancels ----------------------------------------------------------------

struct RunStats {
  double ops_per_s = 0, p50 = 0, p99 = 0, p999 = 0, max = 0;
  int64_t errors = 0;
};

RunStats summarize(const std::vector<std::vector<double>>& lat, int64_t wall_ns, int64_t errors) {
  std::vector<double> all;
  for (const auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  RunStats s;
  s.ops_per_s = static_cast<double>(all.size()) / (static_cast<double>(wall_ns) / 1e9);
  s.p50 = percentile(all, 0.50);
  s.p99 = percentile(all, 0.99);
  s.p999 = percentile(all, 0.999);
  s.max = percentile(all, 1.0);
  s.errors = errors;
  return s;
}

// Runs fn(thread, i) for i in [0, per_thread) on T threads started together;
// fn returns false on error. Latencies in ms.
RunStats run_threads(int T, int64_t per_thread, const std::function<bool(int, int64_t)>& fn) {
  std::vector<std::vector<double>> lat(T);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int64_t> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < T; ++t) {
    lat[t].reserve(per_thread);
    threads.emplace_back([&, t] {
      ready++;
      while (!go.load()) std::this_thread::yield();
      for (int64_t i = 0; i < per_thread; ++i) {
        const int64_t a = mono_ns();
        const bool ok = fn(t, i);
        lat[t].push_back(ms(mono_ns() - a));
        if (!ok) errors++;
      }
    });
  }
  while (ready.load() < T) std::this_thread::yield();
  const int64_t start = mono_ns();
  go = true;
  for (auto& th : threads) th.join();
  return summarize(lat, mono_ns() - start, errors.load());
}

RunStats run_cancels(Queue& q, const std::vector<std::string>& ids, size_t first, int T, int64_t ops) {
  const int64_t per = ops / T;
  std::vector<Job> jobs;
  jobs.reserve(per * T);
  for (int64_t i = 0; i < per * T; ++i) {
    auto j = q.get_job(ids.at(first + i));  // handles fetched before timing, as an app holds them
    if (!j) throw std::runtime_error("get_job: " + j.error().message());
    jobs.push_back(*j);
  }
  std::mutex emu;
  std::map<std::string, int64_t> kinds;
  RunStats s = run_threads(T, per, [&](int t, int64_t i) {
    const std::error_code ec = jobs[t * per + i].cancel();
    if (ec) {
      std::lock_guard<std::mutex> l(emu);
      kinds[hresult_name(to_hresult(ec)) + ": " + ec.message()]++;
    }
    return !ec;
  });
  for (const auto& [k, n] : kinds) log("cancel error x" + std::to_string(n) + ": " + k);
  // The contract, checked after timing: temp files gone, job CANCELLED.
  // (With deferred deletes the janitor may still be at work: give it 10 s.)
  const int64_t deadline = mono_ns() + 10'000'000'000LL;
  for (int64_t i = 0; i < per * T; i += std::max<int64_t>(1, per * T / 200)) {
    bool ok = false;
    do {
      auto st = jobs[i].state();
      auto files = jobs[i].files();
      bool gone = files.ok();
      if (files)
        for (const auto& f : *files) gone = gone && (f.temp_path.empty() || !exists(f.temp_path));
      ok = st && *st == JobState::cancelled && gone;
      if (!ok) sleep_ms(5);
    } while (!ok && mono_ns() < deadline);
    if (!ok) s.errors++;
  }
  return s;
}

RunStats run_floor(const std::string& db, const std::vector<std::string>& ids, size_t first, int T, int64_t ops) {
  const int64_t per = ops / T;
  struct Conn {
    sqlite3* db = nullptr;
    sqlite3_stmt *begin = nullptr, *up = nullptr, *commit = nullptr;
  };
  std::vector<Conn> c(T);
  for (auto& k : c) {
    if (sqlite3_open_v2(db.c_str(), &k.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
      throw std::runtime_error("floor open");
    sqlite3_busy_timeout(k.db, 10000);
    sqlite3_exec(k.db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", nullptr, nullptr, nullptr);
    sqlite3_prepare_v2(k.db, "BEGIN IMMEDIATE", -1, &k.begin, nullptr);
    sqlite3_prepare_v2(k.db, "UPDATE jobs SET modified_us = ?2 WHERE id = ?1", -1, &k.up, nullptr);
    sqlite3_prepare_v2(k.db, "COMMIT", -1, &k.commit, nullptr);
  }
  RunStats s = run_threads(T, per, [&](int t, int64_t i) {
    Conn& k = c[t];
    sqlite3_reset(k.begin);
    if (sqlite3_step(k.begin) != SQLITE_DONE) return false;
    sqlite3_reset(k.up);
    sqlite3_bind_text(k.up, 1, ids[first + t * per + i].c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(k.up, 2, mono_ns());
    const bool ok = sqlite3_step(k.up) == SQLITE_DONE && sqlite3_changes(k.db) == 1;
    sqlite3_reset(k.commit);
    return sqlite3_step(k.commit) == SQLITE_DONE && ok;
  });
  for (auto& k : c) {
    sqlite3_finalize(k.begin);
    sqlite3_finalize(k.up);
    sqlite3_finalize(k.commit);
    sqlite3_close(k.db);
  }
  return s;
}

int mode_cancel() {
  const std::string dir = arg("dir");
  const int64_t njobs = arg_i("jobs", 100000);
  const int64_t ops = arg_i("ops", 4000);
  const auto threads = arg_list("threads", "1,2,4,8,16");
  const bool load = arg_i("load", 1) != 0;
  // --defer 1: QueueOptions::defer_cancel_deletes (cancel() returns at its
  // commit; the queue's janitor thread unlinks the temp files).
  const bool defer = arg_i("defer", 0) != 0;
  const int64_t load_rate = arg_i("load-rate", 4 << 20);
  const int64_t needed = ops * static_cast<int64_t>(threads.size()) * (load ? 2 : 1);
  if (needed > njobs) throw std::runtime_error("--ops too large for --jobs");
  verify_temp_naming(dir + "/verify");

  GenSpec g;
  g.db = dir + "/queue.db";
  g.files_dir = dir + "/files";
  ::mkdir(g.files_dir.c_str(), 0755);
  g.jobs = njobs;
  g.with_temp_files = needed;
  int64_t t0 = mono_ns();
  const auto ids = generate_queue(g);
  log("generated " + std::to_string(njobs) + " jobs (" + std::to_string(needed) + " with 4 real temp files) in " +
      std::to_string(ms(mono_ns() - t0) / 1000) + " s");
  const std::string floor_db = dir + "/floor.db";
  copy_file(g.db, floor_db);

  Json j;
  j.num("cancel_queue_jobs", static_cast<double>(njobs));
  j.num("cancel_ops_per_T", static_cast<double>(ops));
  j.str("cancel_temp_files",
        "bulk-generated rows + real 0600 temp files shaped like a SUSPENDED job interrupted in its last "
        "file (3 completed + 1 partial), names verified against a real engine transfer");
  QueueOptions o;
  o.max_concurrent_transfers = 16;
  o.defer_cancel_deletes = defer;
  auto q = open_queue(g.db, o);  // the worker runs (idle: every job is SUSPENDED)
  sleep_ms(200);
  size_t next = 0;
  double min_ratio = 1e9;
  for (int T : threads) {
    RunStats f = run_floor(floor_db, ids, next, T, ops);
    RunStats c = run_cancels(*q, ids, next, T, ops);
    next += static_cast<size_t>(ops);
    const std::string s = "_T" + std::to_string(T);
    const double ratio = c.ops_per_s / f.ops_per_s;
    min_ratio = std::min(min_ratio, ratio);
    j.num("cancel_per_s" + s, c.ops_per_s);
    j.num("cancel_p50_ms" + s, c.p50);
    j.num("cancel_p99_ms" + s, c.p99);
    j.num("cancel_p999_ms" + s, c.p999);
    j.num("cancel_max_ms" + s, c.max);
    j.num("cancel_errors" + s, static_cast<double>(c.errors));
    j.num("floor_txn_per_s" + s, f.ops_per_s);
    j.num("floor_p99_ms" + s, f.p99);
    j.num("floor_errors" + s, static_cast<double>(f.errors));
    j.num("cancel_ratio" + s, ratio);
    log("T=" + std::to_string(T) + " cancel/s=" + std::to_string(c.ops_per_s) + " floor/s=" +
        std::to_string(f.ops_per_s) + " ratio=" + std::to_string(ratio) + " p50=" + std::to_string(c.p50) +
        " p99=" + std::to_string(c.p99) + " max=" + std::to_string(c.max) + " errors=" + std::to_string(c.errors));
    if (T == 8) {
      j.num("cancel_per_s", c.ops_per_s);
      j.num("floor_txn_per_s", f.ops_per_s);
      j.num("cancel_ratio", ratio);
      j.num("cancel_p50_ms", c.p50);
      j.num("cancel_p99_ms", c.p99);
      j.num("cancel_p999_ms", c.p999);
      j.num("cancel_max_ms", c.max);
    }
  }
  j.num("cancel_ratio_min", min_ratio);

  if (load) {
    // 16 live transfers, throttled by the server so they last, committing
    // progress every progress_interval (default 500 ms, with fdatasync).
    FixtureServer server;
    Resource r;
    r.body = std::string(static_cast<size_t>(load_rate) * 120, 'L');
    r.bytes_per_sec = static_cast<size_t>(load_rate);
    server.set("/live", r);
    ::mkdir((dir + "/live").c_str(), 0755);
    std::vector<Job> live;
    for (int i = 0; i < 16; ++i) {
      auto job = q->create_job("live " + std::to_string(i));
      job->add_file(server.url("/live"), dir + "/live/l" + std::to_string(i) + ".bin");
      job->resume();
      live.push_back(*job);
    }
    const int64_t deadline = mono_ns() + 15'000'000'000LL;
    auto live_bytes = [&] {
      int64_t b = 0;
      int transferring = 0;
      for (auto& l : live) {
        auto p = l.progress();
        if (p) b += p->bytes_transferred;
        auto st = l.state();
        if (st && *st == JobState::transferring) transferring++;
      }
      return std::make_pair(b, transferring);
    };
    while (mono_ns() < deadline && live_bytes().second < 16) sleep_ms(20);
    sleep_ms(1200);  // let every transfer commit progress at least once
    const auto before = live_bytes();
    const int64_t l0 = mono_ns();
    for (int T : threads) {
      RunStats c = run_cancels(*q, ids, next, T, ops);
      next += static_cast<size_t>(ops);
      const std::string s = "_T" + std::to_string(T);
      j.num("load_cancel_per_s" + s, c.ops_per_s);
      j.num("load_cancel_p50_ms" + s, c.p50);
      j.num("load_cancel_p99_ms" + s, c.p99);
      j.num("load_cancel_p999_ms" + s, c.p999);
      j.num("load_cancel_max_ms" + s, c.max);
      j.num("load_cancel_errors" + s, static_cast<double>(c.errors));
      log("under load T=" + std::to_string(T) + " cancel/s=" + std::to_string(c.ops_per_s) +
          " p99=" + std::to_string(c.p99) + " max=" + std::to_string(c.max));
      if (T == 8) {
        j.num("load_cancel_per_s", c.ops_per_s);
        j.num("load_cancel_p99_ms", c.p99);
        j.num("load_cancel_p999_ms", c.p999);
      }
    }
    sleep_ms(600);
    const auto after = live_bytes();
    const double secs = static_cast<double>(mono_ns() - l0) / 1e9;
    j.num("load_live_transfers", after.second);
    j.num("load_committed_mb_s", static_cast<double>(after.first - before.first) / 1e6 / secs);
    for (auto& l : live) l.cancel();
  }
  q.reset();
  j.print();
  return 0;
}

// ---- Cancel to quiescence ------------------------------------------------------------------

int mode_quiesce() {
  const std::string dir = arg("dir");
  const int64_t samples = arg_i("samples", 100);
  const int64_t xsamples = arg_i("xproc-samples", 40);
  const std::string cli = arg("cli");
  FixtureServer server;
  Resource r;
  r.body = std::string(512u << 20, 'Q');
  server.set("/q", r);
  const std::string db = dir + "/quiesce.db";
  auto q = open_queue(db);
  Json j;
  int64_t violations = 0, timeouts = 0;
  std::vector<double> after_bytes;  // MiB written to the temp file's inode after cancel() returned

  auto one = [&](int64_t i, bool xproc) -> double {
    server.clear_log();
    const std::string local = dir + "/q" + std::to_string(i) + (xproc ? "x" : "") + ".bin";
    auto job = q->create_job("quiesce " + std::to_string(i));
    if (auto ec = job->add_file(server.url("/q"), local)) throw std::runtime_error(ec.message());
    job->resume();
    // Wait until it transfers at full speed: 4 MiB on the wire and the temp file on disk.
    const int64_t deadline = mono_ns() + 5'000'000'000LL;
    std::string temp;
    while (mono_ns() < deadline) {
      auto recs = server.requests_for("/q");
      if (!recs.empty() && recs.back().body_bytes_sent >= (4 << 20)) {
        auto f = job->files();
        if (f && !f->empty() && !(*f)[0].temp_path.empty() && exists((*f)[0].temp_path)) {
          temp = (*f)[0].temp_path;
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (temp.empty()) throw std::runtime_error("transfer did not start");
    const int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);  // keeps the inode to watch writes
    int64_t t_ret = 0;
    if (!xproc) {
      if (auto ec = job->cancel()) throw std::runtime_error("cancel: " + ec.message());
      t_ret = mono_ns();
    } else {
      int pfd[2];
      if (::pipe(pfd) != 0) throw std::runtime_error("pipe");
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::dup2(pfd[1], 1);
        ::close(pfd[0]);
        ::close(pfd[1]);
        ::execl(cli.c_str(), cli.c_str(), "--db", db.c_str(), "cancel", job->id().c_str(), (char*)nullptr);
        ::_exit(127);
      }
      ::close(pfd[1]);
      std::string out;
      char buf[256];
      // "Job canceled." is printed right after cancel() returned in the CLI.
      while (out.find('\n') == std::string::npos) {
        const ssize_t n = ::read(pfd[0], buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
      }
      t_ret = mono_ns();
      ::close(pfd[0]);
      int status = 0;
      ::waitpid(pid, &status, 0);
      if (out.find("canceled") == std::string::npos) throw std::runtime_error("xferq cancel: " + out);
    }
    if (exists(temp)) violations++;  // must be gone when cancel() returns
    struct stat st {};
    ::fstat(fd, &st);
    const int64_t size_at_return = st.st_size;
    int64_t last_size = st.st_size, last_growth = t_ret, closed_at = 0;
    const int64_t bound = t_ret + 3'000'000'000LL;
    while (mono_ns() < bound) {
      const int64_t now = mono_ns();
      ::fstat(fd, &st);
      if (st.st_size != last_size) {
        last_size = st.st_size;
        last_growth = now;
      }
      if (!closed_at) {
        auto recs = server.requests_for("/q");
        if (!recs.empty() && recs.back().finished) closed_at = now;
      }
      if (closed_at && now - std::max(last_growth, closed_at) > 50'000'000LL) break;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    ::close(fd);
    after_bytes.push_back(static_cast<double>(last_size - size_at_return) / (1 << 20));
    if (!closed_at) {
      timeouts++;
      closed_at = bound;
    }
    return ms(std::max<int64_t>(0, std::max(last_growth, closed_at) - t_ret));
  };

  std::vector<double> in, x;
  for (int64_t i = 0; i < samples; ++i) in.push_back(one(i, false));
  j.num("quiesce_p50_ms_inproc", percentile(in, 0.5));
  j.num("quiesce_p99_ms_inproc", percentile(in, 0.99));
  j.num("quiesce_max_ms_inproc", percentile(in, 1.0));
  log("in-process quiescence p50=" + std::to_string(percentile(in, 0.5)) + " p99=" + std::to_string(percentile(in, 0.99)));
  if (!cli.empty()) {
    for (int64_t i = 0; i < xsamples; ++i) x.push_back(one(i, true));
    j.num("quiesce_p50_ms_xproc", percentile(x, 0.5));
    j.num("quiesce_p99_ms_xproc", percentile(x, 0.99));
    j.num("quiesce_max_ms_xproc", percentile(x, 1.0));
    log("cross-process quiescence p50=" + std::to_string(percentile(x, 0.5)) + " p99=" + std::to_string(percentile(x, 0.99)));
  }
  j.num("quiesce_mib_written_after_cancel_p50", percentile(after_bytes, 0.5));
  j.num("quiesce_mib_written_after_cancel_max", percentile(after_bytes, 1.0));
  j.num("quiesce_samples_inproc", static_cast<double>(in.size()));
  j.num("quiesce_samples_xproc", static_cast<double>(x.size()));
  j.num("quiesce_temp_file_left_after_cancel", static_cast<double>(violations));
  j.num("quiesce_timeouts", static_cast<double>(timeouts));
  q.reset();
  j.print();
  return 0;
}

// ---- Throughput through the engine ------------------------------------------------------------

struct Done {
  std::mutex mu;
  std::condition_variable cv;
  int64_t transferred = 0, errors = 0;
};

JobCallbacks counting(Done& d) {
  JobCallbacks cb;
  cb.transferred = [&d](const std::string&) {
    std::lock_guard<std::mutex> l(d.mu);
    d.transferred++;
    d.cv.notify_all();
  };
  cb.error = [&d](const std::string&, const JobErrorInfo&) {
    std::lock_guard<std::mutex> l(d.mu);
    d.errors++;
    d.cv.notify_all();
  };
  return cb;
}

bool wait_for(Done& d, int64_t n, int seconds) {
  std::unique_lock<std::mutex> l(d.mu);
  return d.cv.wait_for(l, std::chrono::seconds(seconds), [&] { return d.transferred + d.errors >= n; }) &&
         d.errors == 0;
}

int mode_download() {
  const std::string dir = arg("dir");
  const int64_t bytes = arg_i("bytes", 0);
  QueueOptions o;
  auto q = open_queue(dir + "/download.db", o);
  Done d;
  q->set_callbacks(counting(d));
  auto job = q->create_job("download");
  const std::string out = dir + "/xferq-big.bin";
  if (auto ec = job->add_file(arg("url"), out)) throw std::runtime_error(ec.message());
  const int64_t t0 = mono_ns();
  job->resume();
  if (!wait_for(d, 1, 600)) throw std::runtime_error("download failed or timed out");
  const double secs = static_cast<double>(mono_ns() - t0) / 1e9;
  if (auto ec = job->complete()) throw std::runtime_error(ec.message());
  struct stat st {};
  if (::stat(out.c_str(), &st) != 0 || st.st_size != bytes) throw std::runtime_error("size mismatch");
  ::unlink(out.c_str());
  Json j;
  j.num("download_s", secs);
  j.num("download_mb_s", static_cast<double>(bytes) / 1e6 / secs);
  j.print();
  return 0;
}

int mode_smallfiles() {
  const std::string dir = arg("dir");
  const std::string base = arg("base");  // ends with '/'
  const int64_t count = arg_i("count", 2000);
  const int concurrency = static_cast<int>(arg_i("concurrency", 16));
  QueueOptions o;
  o.max_concurrent_transfers = concurrency;
  auto q = open_queue(dir + "/small.db", o);
  Done d;
  q->set_callbacks(counting(d));
  // Files spread over jobs so that `concurrency` jobs transfer at once (a job's
  // files go one after another), at most 200 files per job (BITS's limit).
  int64_t njobs = concurrency;
  while ((count + njobs - 1) / njobs > 200) njobs += concurrency;
  std::vector<Job> jobs;
  const std::string out = dir + "/xferq-small";
  ::mkdir(out.c_str(), 0755);
  for (int64_t k = 0; k < njobs; ++k) {
    auto job = q->create_job("small " + std::to_string(k));
    std::vector<FileSpec> specs;
    for (int64_t i = k; i < count; i += njobs) {
      char name[32];
      std::snprintf(name, sizeof name, "%05lld.bin", static_cast<long long>(i));
      specs.push_back(FileSpec{base + name, out + "/" + name});
    }
    if (auto ec = job->add_files(specs)) throw std::runtime_error(ec.message());
    jobs.push_back(*job);
  }
  const int64_t t0 = mono_ns();
  for (auto& job : jobs) job.resume();
  if (!wait_for(d, njobs, 600)) throw std::runtime_error("small files failed or timed out");
  const double secs = static_cast<double>(mono_ns() - t0) / 1e9;
  for (auto& job : jobs)
    if (auto ec = job.complete()) throw std::runtime_error(ec.message());
  int64_t present = 0;
  for (int64_t i = 0; i < count; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/%05lld.bin", static_cast<long long>(i));
    present += exists(out + name);
  }
  if (present != count) throw std::runtime_error("missing files: " + std::to_string(count - present));
  Json j;
  j.num("smallfiles_jobs", static_cast<double>(njobs));
  j.num("smallfiles_s", secs);
  j.num("smallfiles_per_s", static_cast<double>(count) / secs);
  j.print();
  return 0;
}

// ---- Scale -------------------------------------------------------------------------------------

int mode_scale() {
  const std::string dir = arg("dir");
  const int64_t njobs = arg_i("jobs", 1000);
  const int64_t samples = std::min<int64_t>(arg_i("samples", 500), njobs);
  const std::string tag = arg("tag", std::to_string(njobs));
  GenSpec g;
  g.db = dir + "/scale.db";
  g.files_dir = dir + "/files";
  ::mkdir(g.files_dir.c_str(), 0755);
  g.jobs = njobs;
  g.with_temp_files = samples;
  int64_t t0 = mono_ns();
  const auto ids = generate_queue(g);
  log("generated " + std::to_string(njobs) + " jobs in " + std::to_string(ms(mono_ns() - t0) / 1000) + " s");
  t0 = mono_ns();
  auto q = open_queue(g.db);  // worker running, idle
  const double open_ms = ms(mono_ns() - t0);
  sleep_ms(200);
  RunStats c = run_cancels(*q, ids, 0, 1, samples);
  q.reset();
  Json j;
  j.num("cancel_p50_ms_" + tag + "_jobs", c.p50);
  j.num("cancel_p99_ms_" + tag + "_jobs", c.p99);
  j.num("cancel_max_ms_" + tag + "_jobs", c.max);
  j.num("cancel_errors_" + tag + "_jobs", static_cast<double>(c.errors));
  j.num("open_ms_" + tag + "_jobs", open_ms);
  log("scale " + tag + ": p50=" + std::to_string(c.p50) + " p99=" + std::to_string(c.p99) +
      " open=" + std::to_string(open_ms) + " ms");
  j.print();
  return 0;
}

int mode_rss() {
  const std::string db = arg("db");
  const std::string tag = arg("tag", "1m");
  const int64_t run_ms = arg_i("run-ms", 3000);
  // A few job ids to cancel, read before the queue is opened.
  std::vector<std::string> ids;
  {
    sqlite3* s = nullptr;
    sqlite3_open_v2(db.c_str(), &s, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(s, "SELECT id FROM jobs WHERE state = 3 ORDER BY rowid DESC LIMIT 100", -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW) ids.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    sqlite3_close(s);
  }
  const double before = peak_rss_mib();
  auto q = open_queue(db);
  sleep_ms(static_cast<int>(run_ms / 2));
  for (const auto& id : ids) {
    auto job = q->get_job(id);
    if (job) job->cancel();
  }
  sleep_ms(static_cast<int>(run_ms / 2));
  q.reset();
  Json j;
  j.num("rss_mib_" + tag + "_jobs", peak_rss_mib());
  j.num("rss_mib_before_open_" + tag, before);
  j.print();
  return 0;
}

// ---- Test data -------------------------------------------------------------------------------------

void fill_random(std::string& buf, uint64_t& x) {
  for (size_t i = 0; i + 8 <= buf.size(); i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(&buf[i], &x, 8);
  }
}

int mode_mkfile() {
  const std::string path = arg("path");
  int64_t left = arg_i("bytes", 0);
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  std::string buf(1 << 20, '\0');
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot create " + path);
  while (left > 0) {
    fill_random(buf, x);
    const size_t n = static_cast<size_t>(std::min<int64_t>(left, buf.size()));
    std::fwrite(buf.data(), 1, n, f);
    left -= static_cast<int64_t>(n);
  }
  std::fclose(f);
  return 0;
}

int mode_mkfiles() {
  const std::string dir = arg("dir");
  const int64_t count = arg_i("count", 0), bytes = arg_i("bytes", 16384);
  uint64_t x = 0x2545F4914F6CDD1DULL;
  std::string buf(static_cast<size_t>(bytes), '\0');
  for (int64_t i = 0; i < count; ++i) {
    fill_random(buf, x);
    char name[32];
    std::snprintf(name, sizeof name, "/%05lld.bin", static_cast<long long>(i));
    FILE* f = std::fopen((dir + name).c_str(), "wb");
    if (!f) throw std::runtime_error("cannot create file in " + dir);
    std::fwrite(buf.data(), 1, buf.size(), f);
    std::fclose(f);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: xferq_bench MODE [--key value]...\n";
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  const std::string mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) == 0) k = k.substr(2);
    g_args[k] = argv[i + 1];
  }
  try {
    if (mode == "cancel") return mode_cancel();
    if (mode == "quiesce") return mode_quiesce();
    if (mode == "download") return mode_download();
    if (mode == "smallfiles") return mode_smallfiles();
    if (mode == "scale") return mode_scale();
    if (mode == "rss") return mode_rss();
    if (mode == "mkfile") return mode_mkfile();
    if (mode == "mkfiles") return mode_mkfiles();
    std::cerr << "unknown mode " << mode << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "xferq_bench " << mode << ": " << e.what() << "\n";
    return 1;
  }
}
