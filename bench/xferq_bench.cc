// xferq_bench.cc — the custom benchmark harness of issue #5.
//
// One program, one mode per measurement; each prints one JSON object on
// stdout (progress on stderr). bench/run.sh runs the modes and merges them.
//
//   cancel     concurrent cancels (T threads, public API) vs the SQLite floor;
//              then the same while the worker runs 16 live transfers
//   quiesce    cancel-to-quiescence, in-process and through the `xferq` CLI
//   download   one large file through the engine (server given by URL)
//   bandwidth  rate accuracy: 1 and 8 transfers under a queue-wide limit, a
//              per-job limit beside an unlimited job (server given by URL)
//   smallfiles many small files through the engine (16 concurrent jobs)
//   scale      cancel latency with N jobs in the queue
//   preempt    preemption latency: a FOREGROUND job's resume to its first
//              byte while every slot runs a LOW job (fixture server)
//   rss        peak RSS of a process that opens a queue and runs the worker
//   mkfile / mkfiles   test data for the nginx server
//   pg         the PostgreSQL (fleet) figures on a private cluster: cancels vs
//              a PostgreSQL floor, cross-host quiescence, claims per second
//              (fleet_bench.cc; its children: pg-caller, pg-peer, pg-worker)
//
// Every loop is bounded in count and time; only 127.0.0.1 is used.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <xferq/xferq.h>

#include "bench_util.h"
#include "fleet_bench.h"
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

// ---- Concurrent cancels: alternating rounds against the floor -------------------------------
//
// For each T, `rounds` rounds; each round runs four timed phases back to back
// (order reversed every other round), every phase at least --min-ms and at
// least --min-ops operations:
//   floor      the SQLite floor: BEGIN IMMEDIATE; one-row UPDATE; COMMIT, own
//              connection per thread, same pragmas, on a copy of the queue file
//              (the same rows: every slice appended to the queues is appended
//              to it too);
//   composite  the floor's transaction plus a raw unlink() of one job's worth
//              of temp files (4: 3 x temp_bytes + 1 x temp_bytes/2), written
//              exactly as the cancel rounds' temp files are (outside the timed
//              window, then syncfs);
//   incall     Job::cancel() on a queue with defer_cancel_deletes = false;
//   deferred   Job::cancel() on a queue with defer_cancel_deletes = true.
// Both queues are files of the same shape, each with its worker running
// (idle). Every round cancels jobs nobody cancelled yet: before it, enough
// fresh jobs (rows + real temp files) are appended to each queue. A cancel
// phase reports two rates: cancel calls (jobs / time until the last call
// returned) and sustained with cleanup (jobs / time until the queue's outbox,
// file_ops, holds no operation, a tombstone at most (schema/016) — the engine
// retires a row only after its deletions —
// with the last cancelled jobs' temp files checked gone at that moment; every
// temp file is checked gone afterwards, untimed).

struct Phase {
  int64_t ops = 0;
  double secs = 0, per_s = 0;
  double p50 = 0, p99 = 0, p999 = 0, max = 0;  // ms
  int64_t errors = 0;
  bool short_round = false;  // ran out of prepared work before min time / ops
  double clean_secs = 0, sustained_per_s = 0;  // cancel phases
  std::vector<double> lat;   // ms, every operation
};

struct RoundRule {
  int64_t min_ops = 5000;
  int64_t min_ns = 500'000'000;
};

// Runs op(thread, i) on T threads started together; i is claimed from one
// counter in [0, pool). A thread stops claiming once the phase has run
// min_ns and claimed min_ops, or when the pool is used up.
Phase timed_phase(int T, int64_t pool, const RoundRule& rule, const std::function<bool(int, int64_t)>& op,
                  int64_t* start_out = nullptr) {
  std::vector<std::vector<double>> lat(T);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int64_t> next{0}, errors{0};
  int64_t start = 0;
  std::vector<int64_t> end(T, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < T; ++t) {
    lat[t].reserve(static_cast<size_t>(std::min<int64_t>(pool, 1 << 18)));
    threads.emplace_back([&, t] {
      ready++;
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (;;) {
        const int64_t a = mono_ns();
        if (next.load(std::memory_order_relaxed) >= rule.min_ops && a - start >= rule.min_ns) break;
        const int64_t i = next.fetch_add(1);
        if (i >= pool) break;
        const bool ok = op(t, i);
        lat[t].push_back(ms(mono_ns() - a));
        if (!ok) errors++;
      }
      end[t] = mono_ns();
    });
  }
  while (ready.load() < T) std::this_thread::yield();
  start = mono_ns();
  go.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
  Phase p;
  for (auto& v : lat) p.lat.insert(p.lat.end(), v.begin(), v.end());
  const int64_t wall = *std::max_element(end.begin(), end.end()) - start;
  p.ops = static_cast<int64_t>(p.lat.size());
  p.secs = static_cast<double>(wall) / 1e9;
  p.per_s = static_cast<double>(p.ops) / p.secs;
  p.p50 = percentile(p.lat, 0.50);
  p.p99 = percentile(p.lat, 0.99);
  p.p999 = percentile(p.lat, 0.999);
  p.max = percentile(p.lat, 1.0);
  p.errors = errors.load();
  p.short_round = wall < rule.min_ns || p.ops < rule.min_ops;
  if (start_out) *start_out = start;
  return p;
}

// The floor's connections: one per thread, opened outside the timed window.
class FloorConns {
 public:
  FloorConns(const std::string& db, int T) : c_(static_cast<size_t>(T)) {
    for (auto& k : c_) {
      if (sqlite3_open_v2(db.c_str(), &k.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
        throw std::runtime_error("floor open");
      sqlite3_busy_timeout(k.db, 10000);
      sqlite3_exec(k.db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", nullptr, nullptr, nullptr);
      sqlite3_prepare_v2(k.db, "BEGIN IMMEDIATE", -1, &k.begin, nullptr);
      sqlite3_prepare_v2(k.db, "UPDATE jobs SET modified_us = ?2 WHERE id = ?1", -1, &k.up, nullptr);
      sqlite3_prepare_v2(k.db, "COMMIT", -1, &k.commit, nullptr);
    }
  }
  ~FloorConns() {
    for (auto& k : c_) {
      sqlite3_finalize(k.begin);
      sqlite3_finalize(k.up);
      sqlite3_finalize(k.commit);
      sqlite3_close(k.db);
    }
  }
  FloorConns(const FloorConns&) = delete;
  FloorConns& operator=(const FloorConns&) = delete;

  // One transaction: BEGIN IMMEDIATE; UPDATE one row; COMMIT.
  bool txn(int t, const std::string& id) {
    Conn& k = c_[static_cast<size_t>(t)];
    sqlite3_reset(k.begin);
    if (sqlite3_step(k.begin) != SQLITE_DONE) return false;
    sqlite3_reset(k.up);
    sqlite3_bind_text(k.up, 1, id.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(k.up, 2, mono_ns());
    const bool ok = sqlite3_step(k.up) == SQLITE_DONE && sqlite3_changes(k.db) == 1;
    sqlite3_reset(k.commit);
    return sqlite3_step(k.commit) == SQLITE_DONE && ok;
  }

 private:
  struct Conn {
    sqlite3* db = nullptr;
    sqlite3_stmt *begin = nullptr, *up = nullptr, *commit = nullptr;
  };
  std::vector<Conn> c_;
};

constexpr int kFilesPerJob = 4;

// One queue under test and its supply of fresh jobs.
struct Side {
  std::string name;  // "incall" / "deferred"
  std::string db, files_dir;
  std::unique_ptr<Queue> q;
  std::mt19937_64 rng;
  std::vector<std::string> ids;    // appended jobs (with temp files), in order
  std::vector<std::string> temps;  // kFilesPerJob per job
  size_t cursor = 0;               // ids[cursor..] nobody cancelled yet
  int64_t next_index = 0;          // global job number of the next appended job
  std::vector<Job> handles;        // for ids[cursor..], fetched before the round
  sqlite3* watch = nullptr;        // reads file_ops
  sqlite3_stmt* outbox = nullptr;
  std::map<int, double> est;       // observed cancel calls/s by T
  size_t available() const { return ids.size() - cursor; }
};

// Freshly written files for the composite floor, made like the temp files.
struct UnlinkPool {
  std::string dir;
  std::mt19937_64 rng;
  std::vector<std::string> paths;  // kFilesPerJob per job
  size_t cursor = 0;               // in jobs
  int64_t next_index = 0;
  std::map<int, double> est;
  size_t available() const { return paths.size() / kFilesPerJob - cursor; }
};

bool outbox_empty(Side& s) {
  sqlite3_reset(s.outbox);
  const int rc = sqlite3_step(s.outbox);
  const bool empty = rc == SQLITE_ROW && sqlite3_column_int(s.outbox, 0) == 0;
  sqlite3_reset(s.outbox);
  return empty;
}

Phase cancel_phase(Side& s, int T, const RoundRule& rule) {
  const size_t first = s.cursor;
  const int64_t pool = static_cast<int64_t>(s.handles.size());  // == s.available() after prepare
  std::mutex emu;
  std::map<std::string, int64_t> kinds;
  int64_t start = 0;
  Phase p = timed_phase(
      T, pool, rule,
      [&](int, int64_t i) {
        const std::error_code ec = s.handles[static_cast<size_t>(i)].cancel();
        if (ec) {
          std::lock_guard<std::mutex> l(emu);
          kinds[hresult_name(to_hresult(ec)) + ": " + ec.message()]++;
        }
        return !ec;
      },
      &start);
  for (const auto& [k, n] : kinds) log(s.name + " cancel error x" + std::to_string(n) + ": " + k);
  // Sustained with cleanup: until the outbox is empty and (checked at that
  // moment) the temp files of the last cancelled jobs are gone.
  const auto temp_gone = [&](size_t job) {
    for (int k = 0; k < kFilesPerJob; ++k)
      if (exists(s.temps[job * kFilesPerJob + static_cast<size_t>(k)])) return false;
    return true;
  };
  const int64_t deadline = mono_ns() + 60'000'000'000LL;
  int64_t clean_at = 0;
  while (mono_ns() < deadline) {
    if (outbox_empty(s)) {
      bool gone = true;
      for (int64_t j = std::max<int64_t>(0, p.ops - 64); j < p.ops && gone; ++j)
        gone = temp_gone(first + static_cast<size_t>(j));
      if (gone) {
        clean_at = mono_ns();
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (!clean_at) {
    log(s.name + ": outbox not empty 60 s after the round");
    p.errors++;
    clean_at = deadline;
  }
  p.clean_secs = static_cast<double>(clean_at - start) / 1e9;
  p.sustained_per_s = static_cast<double>(p.ops) / p.clean_secs;
  // The contract, checked untimed: every temp file gone, sampled jobs CANCELLED.
  int64_t left = 0;
  for (int64_t j = 0; j < p.ops; ++j) left += !temp_gone(first + static_cast<size_t>(j));
  if (left) log(s.name + ": " + std::to_string(left) + " cancelled jobs still have temp files after cleanup");
  p.errors += left;
  for (int64_t j = 0; j < p.ops; j += std::max<int64_t>(1, p.ops / 100)) {
    auto st = s.handles[static_cast<size_t>(j)].state();
    if (!st || *st != JobState::cancelled) p.errors++;
  }
  s.cursor += static_cast<size_t>(p.ops);
  s.handles.erase(s.handles.begin(), s.handles.begin() + p.ops);
  return p;
}

// Jobs (or unlink sets) a phase at T is expected to need: enough for min_ns
// at the fastest rate seen, with a margin. A phase that runs out anyway is
// topped up and run again.
int64_t needed(const std::map<int, double>& est, int T, const RoundRule& rule, double fallback) {
  double rate = 0;
  auto it = est.find(T);
  if (it != est.end()) {
    rate = it->second * 1.3;
  } else {
    // A new T: the fastest rate seen at any T, doubled (rates grow with T);
    // what is left over goes to the next rounds.
    for (const auto& kv : est) rate = std::max(rate, kv.second);
    rate = rate > 0 ? rate * 2 : fallback;
  }
  return static_cast<int64_t>(std::max<double>(static_cast<double>(rule.min_ops) * 1.05,
                                               rate * static_cast<double>(rule.min_ns) / 1e9)) +
         32;
}

void note_rate(std::map<int, double>& est, int T, double per_s) {
  est[T] = std::max(est[T], per_s);
}

struct Agg {  // one figure over the rounds at one T
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  void put(Json& j, const std::string& key) const {
    j.num(key + "_med", median(v));
    j.num(key + "_min", v.empty() ? 0 : *std::min_element(v.begin(), v.end()));
    j.num(key + "_max", v.empty() ? 0 : *std::max_element(v.begin(), v.end()));
    j.arr(key + "_rounds", v);
  }
  double med() const { return median(v); }
  double spread_pct() const {
    if (v.empty()) return 0;
    const double m = median(v);
    const double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
    return m > 0 ? 100.0 * std::max(hi - m, m - lo) / m : 0;
  }
};

std::string fmt(double x, int prec = 3) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*g", prec, x);
  return b;
}

std::string spread_str(const Agg& a, int prec = 3) {
  if (a.v.empty()) return "n/a";
  return fmt(a.med(), prec) + " [" + fmt(*std::min_element(a.v.begin(), a.v.end()), prec) + "-" +
         fmt(*std::max_element(a.v.begin(), a.v.end()), prec) + "]";
}

double loadavg1() {
  std::ifstream f("/proc/loadavg");
  double l = 0;
  f >> l;
  return l;
}

int mode_cancel() {
  const std::string dir = arg("dir");
  const int64_t base_jobs = arg_i("jobs", 100000);  // idle SUSPENDED jobs the queues start with
  const int rounds = static_cast<int>(arg_i("rounds", 5));
  RoundRule rule;
  rule.min_ops = arg_i("min-ops", 5000);
  rule.min_ns = arg_i("min-ms", 500) * 1'000'000LL;
  const auto threads = arg_list("threads", "1,2,4,8,16");
  const int load_rounds = static_cast<int>(arg_i("load-rounds", 3));  // 0: no cancels under load
  const int64_t load_rate = arg_i("load-rate", 4 << 20);
  const int64_t temp_bytes = arg_i("temp-bytes", 4096);
  const int64_t t_begin = mono_ns();
  const double load_begin = loadavg1();
  verify_temp_naming(dir + "/verify");

  // Two queue files of the same shape (same base rows), one per cancel mode,
  // and the floor's copy of the first.
  Side sides[2];
  sides[0].name = "incall";
  sides[1].name = "deferred";
  const std::string floor_db = dir + "/floor.db";
  std::vector<std::string> floor_ids;
  for (int k = 0; k < 2; ++k) {
    Side& s = sides[k];
    GenSpec g;
    g.db = dir + "/" + s.name + ".db";
    g.files_dir = dir + "/" + s.name + "-files";
    ::mkdir(g.files_dir.c_str(), 0755);
    g.jobs = base_jobs;
    g.with_temp_files = 0;
    const int64_t t0 = mono_ns();
    auto ids = generate_queue(g);
    log("generated " + s.name + " queue: " + std::to_string(base_jobs) + " jobs in " +
        fmt(ms(mono_ns() - t0) / 1000) + " s");
    if (k == 0) {
      copy_file(g.db, floor_db);
      floor_ids = ids;
    }
    s.db = g.db;
    s.files_dir = g.files_dir;
    s.next_index = base_jobs;
    s.rng.seed(1000 + k);
  }
  UnlinkPool comp;
  comp.dir = dir + "/composite-files";
  ::mkdir(comp.dir.c_str(), 0755);
  spread_subdirectories(comp.dir);  // as generate_queue does for the queues' files
  comp.rng.seed(3000);
  for (int k = 0; k < 2; ++k) {
    Side& s = sides[k];
    QueueOptions o;
    o.max_concurrent_transfers = 16;
    o.defer_cancel_deletes = k == 1;
    s.q = open_queue(s.db, o);  // the worker runs (idle: every job is SUSPENDED)
    if (sqlite3_open_v2(s.db.c_str(), &s.watch, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
      throw std::runtime_error("watch open");
    sqlite3_busy_timeout(s.watch, 10000);
    sqlite3_prepare_v2(s.watch, "SELECT EXISTS (SELECT 1 FROM file_ops WHERE kind != 0)", -1, &s.outbox, nullptr);
  }
  sleep_ms(200);

  double prep_s = 0, timed_s = 0, prep_jobs_s = 0, prep_comp_s = 0, prep_sync_s = 0, prep_handles_s = 0;
  int64_t redone = 0, files_written = 0;
  // Phases: 0 floor, 1 composite, 2 incall, 3 deferred.
  // Appends fresh jobs / unlink sets so that each phase of `mask` at T has enough.
  const auto prepare = [&](int T, const RoundRule& r, unsigned mask, bool with_floor_rows) {
    const int64_t t0 = mono_ns();
    for (int k = 0; k < 2; ++k) {
      Side& s = sides[k];
      if (!(mask & (4u << k))) continue;
      const int64_t need = needed(s.est, T, r, k == 0 ? 2000 : 10000);
      const int64_t have = static_cast<int64_t>(s.available());
      if (have < need) {
        AppendSpec a;
        a.dbs = {s.db};
        if (with_floor_rows) a.dbs.push_back(floor_db);
        a.files_dir = s.files_dir;
        a.first_index = s.next_index;
        a.count = need - have;
        a.files_per_job = kFilesPerJob;
        a.temp_bytes = temp_bytes;
        const int64_t ta = mono_ns();
        Appended got = append_jobs(a, s.rng);
        prep_jobs_s += static_cast<double>(mono_ns() - ta) / 1e9;
        files_written += a.count * kFilesPerJob;
        s.next_index += a.count;
        s.ids.insert(s.ids.end(), got.ids.begin(), got.ids.end());
        s.temps.insert(s.temps.end(), got.temp_paths.begin(), got.temp_paths.end());
        if (with_floor_rows) floor_ids.insert(floor_ids.end(), got.ids.begin(), got.ids.end());
      }
    }
    if (mask & 2u) {
      const int64_t tc = mono_ns();
      const int64_t cneed = needed(comp.est, T, r, 2000);
      std::vector<std::string> fake_ids;  // names like the engine's, for jobs that do not exist
      for (int64_t i = static_cast<int64_t>(comp.available()); i < cneed; ++i) fake_ids.push_back(random_guid(comp.rng));
      auto p = write_temp_files_for(comp.dir, comp.next_index, fake_ids, kFilesPerJob, temp_bytes);
      comp.next_index += static_cast<int64_t>(fake_ids.size());
      comp.paths.insert(comp.paths.end(), p.begin(), p.end());
      files_written += static_cast<int64_t>(p.size());
      prep_comp_s += static_cast<double>(mono_ns() - tc) / 1e9;
    }
    const int64_t ts = mono_ns();
    sync_filesystem(dir);
    prep_sync_s += static_cast<double>(mono_ns() - ts) / 1e9;
    const int64_t th = mono_ns();
    // Handles fetched before timing, as an application holds them.
    for (int k = 0; k < 2; ++k) {
      Side& s = sides[k];
      if (!(mask & (4u << k))) continue;
      for (size_t i = s.cursor + s.handles.size(); i < s.ids.size(); ++i) {
        auto j = s.q->get_job(s.ids[i]);
        if (!j) throw std::runtime_error("get_job: " + j.error().message());
        s.handles.push_back(*j);
      }
    }
    prep_handles_s += static_cast<double>(mono_ns() - th) / 1e9;
    prep_s += static_cast<double>(mono_ns() - t0) / 1e9;
  };

  size_t fcur = 0;  // next floor row
  const auto run_phase = [&](int which, int T, const RoundRule& r, FloorConns& fc) {
    const int64_t t0 = mono_ns();
    Phase p;
    if (which == 0) {
      p = timed_phase(T, INT64_MAX / 4, r, [&](int t, int64_t i) {
        return fc.txn(t, floor_ids[(fcur + static_cast<size_t>(i)) % floor_ids.size()]);
      });
      fcur += static_cast<size_t>(p.ops);
    } else if (which == 1) {
      const size_t first = comp.cursor;
      p = timed_phase(T, static_cast<int64_t>(comp.available()), r, [&](int t, int64_t i) {
        bool ok = fc.txn(t, floor_ids[(fcur + static_cast<size_t>(i)) % floor_ids.size()]);
        const size_t base = (first + static_cast<size_t>(i)) * kFilesPerJob;
        for (int k = 0; k < kFilesPerJob; ++k) ok = ::unlink(comp.paths[base + k].c_str()) == 0 && ok;
        return ok;
      });
      fcur += static_cast<size_t>(p.ops);
      comp.cursor += static_cast<size_t>(p.ops);
      note_rate(comp.est, T, p.per_s);
    } else {
      Side& s = sides[which - 2];
      p = cancel_phase(s, T, r);
      note_rate(s.est, T, p.per_s);
    }
    sleep_ms(10);
    timed_s += static_cast<double>(mono_ns() - t0) / 1e9;
    return p;
  };
  // One round: the four phases back to back (reversed order every other
  // round); a phase that ran out of prepared work is topped up and run again
  // at once (at most 3 times), the others keep their figures.
  int64_t short_rounds = 0;
  const auto run_round = [&](int T, const RoundRule& r, bool reverse) {
    prepare(T, r, 0xF, true);
    FloorConns fc(floor_db, T);
    Phase out[4];
    for (int step = 0; step < 4; ++step) {
      const int which = reverse ? 3 - step : step;
      out[which] = run_phase(which, T, r, fc);
    }
    for (int which = 1; which < 4; ++which) {
      for (int attempt = 0; out[which].short_round && attempt < 3; ++attempt) {
        redone++;
        log("T=" + std::to_string(T) + ": phase " + std::to_string(which) + " ran out of prepared work (" +
            std::to_string(out[which].ops) + " ops in " + fmt(out[which].secs) + " s), run again with more");
        prepare(T, r, 1u << which, true);
        out[which] = run_phase(which, T, r, fc);
      }
      if (out[which].short_round) short_rounds++;
    }
    return std::vector<Phase>(out, out + 4);
  };

  // Warm-up and calibration (not reported): page cache, statement caches, rates.
  {
    RoundRule warm;
    warm.min_ops = 200;
    warm.min_ns = 200'000'000LL;
    run_round(2, warm, false);
    log("warm-up at T=2: incall " + fmt(sides[0].est[2]) + "/s, deferred " + fmt(sides[1].est[2]) +
        "/s, composite " + fmt(comp.est[2]) + "/s");
  }

  Json j;
  j.num("cancel_queue_jobs", static_cast<double>(base_jobs));
  j.num("cancel_rounds", rounds);
  j.num("cancel_round_min_ms", static_cast<double>(rule.min_ns) / 1e6);
  j.num("cancel_round_min_ops", static_cast<double>(rule.min_ops));
  j.str("cancel_temp_files",
        "appended rows + real 0600 temp files (4 a job: 3 x " + std::to_string(temp_bytes) + " B + 1 x " +
            std::to_string(temp_bytes / 2) + " B) shaped like a SUSPENDED job interrupted in its last file, "
            "names verified against a real engine transfer, written then syncfs'ed before each round");
  std::map<std::string, Agg> agg;  // key "<figure>_T<t>"
  std::vector<double> pooled[2];   // T=8 latencies, every round
  for (int T : threads) {
    const std::string ts = "_T" + std::to_string(T);
    int64_t errors[2] = {0, 0}, floor_errors = 0, comp_errors = 0;
    for (int r = 0; r < rounds; ++r) {
      const std::vector<Phase> ph = run_round(T, rule, r % 2 == 1);
      struct {
        const Phase& floor;
        const Phase& comp;
        const Phase* side;
      } o{ph[0], ph[1], &ph[2]};
      agg["floor_per_s" + ts].add(o.floor.per_s);
      agg["composite_per_s" + ts].add(o.comp.per_s);
      floor_errors += o.floor.errors;
      comp_errors += o.comp.errors;
      for (int k = 0; k < 2; ++k) {
        const Phase& c = o.side[k];
        const std::string n = sides[k].name;
        agg[n + "_cancel_per_s" + ts].add(c.per_s);
        agg[n + "_ratio" + ts].add(c.per_s / o.floor.per_s);
        agg[n + "_sustained_per_s" + ts].add(c.sustained_per_s);
        agg[n + "_sustained_ratio" + ts].add(c.sustained_per_s / o.comp.per_s);
        agg[n + "_drain_ms" + ts].add((c.clean_secs - c.secs) * 1000);
        agg[n + "_p50_ms" + ts].add(c.p50);
        agg[n + "_p99_ms" + ts].add(c.p99);
        agg[n + "_p999_ms" + ts].add(c.p999);
        agg[n + "_max_ms" + ts].add(c.max);
        agg[n + "_ops" + ts].add(static_cast<double>(c.ops));
        errors[k] += c.errors;
        if (T == 8) pooled[k].insert(pooled[k].end(), c.lat.begin(), c.lat.end());
      }
      log("T=" + std::to_string(T) + " round " + std::to_string(r) + ": floor " + fmt(o.floor.per_s) +
          "/s, composite " + fmt(o.comp.per_s) + "/s, incall " + fmt(o.side[0].per_s) + "/s (sustained " +
          fmt(o.side[0].sustained_per_s) + "/s, p99 " + fmt(o.side[0].p99) + " ms), deferred " +
          fmt(o.side[1].per_s) + "/s (sustained " + fmt(o.side[1].sustained_per_s) + "/s, p99 " +
          fmt(o.side[1].p99) + " ms)");
    }
    for (const char* f : {"floor_per_s", "composite_per_s"}) agg[f + ts].put(j, f + ts);
    for (int k = 0; k < 2; ++k) {
      const std::string n = sides[k].name;
      for (const char* f : {"_cancel_per_s", "_ratio", "_sustained_per_s", "_sustained_ratio", "_drain_ms",
                            "_p50_ms", "_p99_ms", "_p999_ms", "_max_ms", "_ops"})
        agg[n + f + ts].put(j, n + f + ts);
      j.num(n + "_errors" + ts, static_cast<double>(errors[k]));
    }
    j.num("floor_errors" + ts, static_cast<double>(floor_errors));
    j.num("composite_errors" + ts, static_cast<double>(comp_errors));
    const double fs = agg["floor_per_s" + ts].spread_pct(), cs = agg["composite_per_s" + ts].spread_pct();
    j.num("floor_spread_pct" + ts, fs);
    j.num("composite_spread_pct" + ts, cs);
    log("T=" + std::to_string(T) + ": floor " + spread_str(agg["floor_per_s" + ts]) + "/s; deferred ratio " +
        spread_str(agg["deferred_ratio" + ts]) + ", incall ratio " + spread_str(agg["incall_ratio" + ts]) +
        "; sustained/composite deferred " + spread_str(agg["deferred_sustained_ratio" + ts]) + ", incall " +
        spread_str(agg["incall_sustained_ratio" + ts]));
    if (fs > 20) log("WARNING: floor spread at T=" + std::to_string(T) + " is +-" + fmt(fs, 2) + "% of its median");
  }
  for (int k = 0; k < 2; ++k)
    if (!pooled[k].empty()) {
      j.num(sides[k].name + "_p99_ms_T8_pooled", percentile(pooled[k], 0.99));
      j.num(sides[k].name + "_p999_ms_T8_pooled", percentile(pooled[k], 0.999));
      j.num(sides[k].name + "_samples_T8_pooled", static_cast<double>(pooled[k].size()));
    }

  // Cancels while the queue's worker runs 16 live transfers (throttled by the
  // server so they last, committing progress every progress_interval with
  // fdatasync), T = 8, each mode on its own queue. No floor: figures only.
  if (load_rounds > 0) {
    FixtureServer server;
    Resource res;
    res.body = std::string(static_cast<size_t>(load_rate) * 60, 'L');
    res.bytes_per_sec = static_cast<size_t>(load_rate);
    server.set("/live", res);
    for (int k = 0; k < 2; ++k) {
      Side& s = sides[k];
      const std::string ldir = dir + "/live-" + s.name;
      ::mkdir(ldir.c_str(), 0755);
      std::vector<Job> live;
      for (int i = 0; i < 16; ++i) {
        auto job = s.q->create_job("live " + std::to_string(i));
        job->add_file(server.url("/live"), ldir + "/l" + std::to_string(i) + ".bin");
        job->resume();
        live.push_back(*job);
      }
      auto live_bytes = [&] {
        int64_t b = 0;
        int transferring = 0;
        for (auto& l : live) {
          auto pr = l.progress();
          if (pr) b += pr->bytes_transferred;
          auto st = l.state();
          if (st && *st == JobState::transferring) transferring++;
        }
        return std::make_pair(b, transferring);
      };
      const int64_t deadline = mono_ns() + 15'000'000'000LL;
      while (mono_ns() < deadline && live_bytes().second < 16) sleep_ms(20);
      sleep_ms(1200);  // every transfer has committed progress at least once
      const auto before = live_bytes();
      const int64_t l0 = mono_ns();
      Agg per_s, sustained, p99, p999;
      for (int r = 0; r < load_rounds; ++r) {
        prepare(8, rule, 4u << k, false);
        Phase c = cancel_phase(s, 8, rule);
        for (int attempt = 0; c.short_round && attempt < 3; ++attempt) {
          note_rate(s.est, 8, c.per_s);
          prepare(8, rule, 4u << k, false);
          c = cancel_phase(s, 8, rule);
        }
        per_s.add(c.per_s);
        sustained.add(c.sustained_per_s);
        p99.add(c.p99);
        p999.add(c.p999);
        log("under load, " + s.name + " T=8: " + fmt(c.per_s) + "/s, sustained " + fmt(c.sustained_per_s) +
            "/s, p99 " + fmt(c.p99) + " ms");
      }
      const auto after = live_bytes();
      const double secs = static_cast<double>(mono_ns() - l0) / 1e9;
      per_s.put(j, "load_" + s.name + "_cancel_per_s");
      sustained.put(j, "load_" + s.name + "_sustained_per_s");
      p99.put(j, "load_" + s.name + "_p99_ms");
      p999.put(j, "load_" + s.name + "_p999_ms");
      j.num("load_" + s.name + "_live_transfers", after.second);
      j.num("load_" + s.name + "_committed_mb_s", static_cast<double>(after.first - before.first) / 1e6 / secs);
      for (auto& l : live) l.cancel();
    }
  }
  j.num("cancel_short_rounds", static_cast<double>(short_rounds));
  j.num("cancel_redone_rounds", static_cast<double>(redone));
  j.num("cancel_prep_s", prep_s);
  j.num("cancel_prep_jobs_s", prep_jobs_s);
  j.num("cancel_prep_composite_s", prep_comp_s);
  j.num("cancel_prep_sync_s", prep_sync_s);
  j.num("cancel_prep_handles_s", prep_handles_s);
  j.num("cancel_files_written", static_cast<double>(files_written));
  j.num("cancel_timed_s", timed_s);
  j.num("cancel_wall_s", static_cast<double>(mono_ns() - t_begin) / 1e9);
  j.num("cancel_loadavg_begin", load_begin);
  j.num("cancel_loadavg_end", loadavg1());
  for (Side& s : sides) {
    sqlite3_finalize(s.outbox);
    sqlite3_close(s.watch);
    s.q.reset();
  }
  j.print();
  return 0;
}

// ---- Cancel to quiescence ------------------------------------------------------------------

// Another process, already running, that cancels the jobs whose ids it is
// sent (this binary in mode cancel-peer, over two pipes): measures the
// cross-process wake-up without a process start. Used by one thread.
class CancelPeer {
 public:
  void start(const std::string& db) { child_.start({"cancel-peer", "--db", db}); }
  // Returns once the peer's cancel() returned.
  void cancel(const std::string& id) {
    child_.send(id);
    const std::string answer = child_.recv();
    if (answer != "canceled") throw std::runtime_error("cancel peer: " + answer);
  }
  void stop() { child_.stop(); }

 private:
  LineChild child_;
};

// The peer's side: opens the queue without a worker, cancels each id read
// from stdin, answers "canceled" (or the error) on stdout.
int mode_cancel_peer() {
  QueueOptions o;
  o.start_worker = false;
  auto q = open_queue(arg("db"), o);
  std::cout << "ready" << std::endl;
  std::string id;
  while (std::getline(std::cin, id)) {
    auto job = q->get_job(id);
    std::error_code ec = job ? job->cancel() : job.error();
    std::cout << (ec ? ec.message() : std::string("canceled")) << std::endl;
  }
  return 0;
}

int mode_quiesce() {
  const std::string dir = arg("dir");
  const int64_t samples = arg_i("samples", 100);
  const int64_t xsamples = arg_i("xproc-samples", 40);
  const std::string cli = arg("cli");
  // Cancels from a C++ program in another process that is already running
  // (this binary in mode cancel-peer): the wake-up alone, no process start.
  const int64_t psamples = arg_i("peer-samples", 0);
  FixtureServer server;
  Resource r;
  r.body = std::string(512u << 20, 'Q');
  server.set("/q", r);
  const std::string db = dir + "/quiesce.db";
  auto q = open_queue(db);
  Json j;
  int64_t violations = 0, timeouts = 0;
  std::vector<double> after_bytes;  // MiB written to the temp file's inode after cancel() returned
  // Cross-process samples, split: how long `xferq cancel` ran (exec to its
  // line), and from its line to the server seeing the connection closed / to
  // the temp file's last growth.
  std::vector<double> x_cli_ms, x_close_ms, x_growth_ms;
  CancelPeer peer;
  if (psamples > 0) peer.start(db);

  enum Via { kInProcess = 0, kCli = 1, kPeer = 2 };
  auto one = [&](int64_t i, Via via) -> double {
    const bool xproc = via != kInProcess;
    server.clear_log();
    const std::string local = dir + "/q" + std::to_string(i) + (via == kCli ? "x" : via == kPeer ? "p" : "") + ".bin";
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
    int64_t t_start = 0;  // when the cancel was asked for: the call, or the process's start
    if (!xproc) {
      t_start = mono_ns();
      if (auto ec = job->cancel()) throw std::runtime_error("cancel: " + ec.message());
      t_ret = mono_ns();
    } else if (via == kPeer) {
      t_start = mono_ns();
      peer.cancel(job->id());
      t_ret = mono_ns();
    } else {
      int pfd[2];
      if (::pipe2(pfd, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
      // posix_spawn (vfork-like), not fork(): this process holds the fixture
      // server's bodies and many threads, and fork() copying its page tables
      // took some 150 ms — the bench's cost, not xferq's process start.
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
      const std::string id = job->id();
      const char* argv[] = {cli.c_str(), "--db", db.c_str(), "cancel", id.c_str(), nullptr};
      const int64_t t_fork = mono_ns();
      t_start = t_fork;
      pid_t pid = 0;
      const int spawned = ::posix_spawn(&pid, cli.c_str(), &fa, nullptr, const_cast<char* const*>(argv), environ);
      posix_spawn_file_actions_destroy(&fa);
      if (spawned != 0) throw std::runtime_error("cannot start " + cli);
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
      x_cli_ms.push_back(ms(t_ret - t_fork));
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
    if (via == kCli) {
      x_close_ms.push_back(ms(std::max<int64_t>(0, closed_at - t_ret)));
      x_growth_ms.push_back(ms(std::max<int64_t>(0, last_growth - t_ret)));
    }
    // In-process: from cancel() returning. Through `xferq cancel`: from the
    // process's start, which the figure includes.
    return ms(std::max<int64_t>(0, std::max(last_growth, closed_at) - (xproc ? t_start : t_ret)));
  };

  // Rounds: in-process samples, then cross-process ones, `rounds` times; the
  // pooled percentiles are the figures, the per-round ones their spread.
  const int rounds = static_cast<int>(std::max<int64_t>(1, arg_i("rounds", 5)));
  std::vector<double> in, x, pr;
  Agg in_p50, in_p99, x_p50, x_p99, p_p50, p_p99;
  int64_t i_in = 0, i_x = 0, i_p = 0;
  for (int r = 0; r < rounds; ++r) {
    std::vector<double> rin, rx, rp;
    const int64_t n_in = samples * (r + 1) / rounds - samples * r / rounds;
    const int64_t n_x = cli.empty() ? 0 : xsamples * (r + 1) / rounds - xsamples * r / rounds;
    const int64_t n_p = psamples * (r + 1) / rounds - psamples * r / rounds;
    for (int64_t k = 0; k < n_in; ++k) rin.push_back(one(i_in++, kInProcess));
    for (int64_t k = 0; k < n_x; ++k) rx.push_back(one(i_x++, kCli));
    for (int64_t k = 0; k < n_p; ++k) rp.push_back(one(i_p++, kPeer));
    in.insert(in.end(), rin.begin(), rin.end());
    x.insert(x.end(), rx.begin(), rx.end());
    pr.insert(pr.end(), rp.begin(), rp.end());
    if (!rp.empty()) {
      p_p50.add(percentile(rp, 0.5));
      p_p99.add(percentile(rp, 0.99));
    }
    if (!rin.empty()) {
      in_p50.add(percentile(rin, 0.5));
      in_p99.add(percentile(rin, 0.99));
    }
    if (!rx.empty()) {
      x_p50.add(percentile(rx, 0.5));
      x_p99.add(percentile(rx, 0.99));
    }
    log("quiescence round " + std::to_string(r) + ": in-process p50 " + fmt(percentile(rin, 0.5)) + " p99 " +
        fmt(percentile(rin, 0.99)) + " ms; cross-process p50 " + fmt(percentile(rx, 0.5)) + " p99 " +
        fmt(percentile(rx, 0.99)) + " ms" +
        (rp.empty() ? "" : "; running peer process p50 " + fmt(percentile(rp, 0.5)) + " p99 " + fmt(percentile(rp, 0.99)) + " ms"));
  }
  if (psamples > 0) {
    j.num("quiesce_p50_ms_peer", percentile(pr, 0.5));
    j.num("quiesce_p99_ms_peer", percentile(pr, 0.99));
    j.num("quiesce_max_ms_peer", percentile(pr, 1.0));
    p_p50.put(j, "quiesce_p50_ms_peer_round");
    p_p99.put(j, "quiesce_p99_ms_peer_round");
    j.num("quiesce_samples_peer", static_cast<double>(pr.size()));
    peer.stop();
  }
  j.num("quiesce_rounds", rounds);
  j.num("quiesce_p50_ms_inproc", percentile(in, 0.5));
  j.num("quiesce_p99_ms_inproc", percentile(in, 0.99));
  j.num("quiesce_max_ms_inproc", percentile(in, 1.0));
  in_p50.put(j, "quiesce_p50_ms_inproc_round");
  in_p99.put(j, "quiesce_p99_ms_inproc_round");
  if (!cli.empty()) {
    j.num("quiesce_p50_ms_xproc", percentile(x, 0.5));
    j.num("quiesce_p99_ms_xproc", percentile(x, 0.99));
    j.num("quiesce_max_ms_xproc", percentile(x, 1.0));
    x_p50.put(j, "quiesce_p50_ms_xproc_round");
    x_p99.put(j, "quiesce_p99_ms_xproc_round");
    j.num("quiesce_xproc_cli_run_ms_p50", percentile(x_cli_ms, 0.5));
    j.num("quiesce_xproc_closed_ms_p50", percentile(x_close_ms, 0.5));
    j.num("quiesce_xproc_closed_ms_p99", percentile(x_close_ms, 0.99));
    j.num("quiesce_xproc_last_write_ms_p50", percentile(x_growth_ms, 0.5));
    j.num("quiesce_xproc_last_write_ms_p99", percentile(x_growth_ms, 0.99));
  }
  log("in-process quiescence p50=" + fmt(percentile(in, 0.5)) + " p99=" + fmt(percentile(in, 0.99)) +
      "; cross-process p50=" + fmt(percentile(x, 0.5)) + " p99=" + fmt(percentile(x, 0.99)));
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
  // --sha256 HEX: the same download with its integrity checked (hashed as the
  // bytes arrive, compared before the file counts as transferred).
  FileIntegrity expected;
  expected.sha256 = arg("sha256");
  if (auto ec = job->add_files({FileSpec(arg("url"), out, expected)})) throw std::runtime_error(ec.message());
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

// ---- Preemption ----------------------------------------------------------------------------------

// Every slot runs a LOW job (throttled, so none ends during the run); then,
// per sample, a FOREGROUND job is resumed and timed to its first byte: the
// moment its temp file holds one (polled every 100 us; the engine's
// TRANSFERRING commit fires no callback for downloads). The FOREGROUND job is
// cancelled once timed, and the LOW job it preempted must be transferring
// again before the next sample, so each sample meets full slots.
int mode_preempt() {
  const std::string dir = arg("dir");
  const int slots = static_cast<int>(arg_i("slots", 4));
  const int64_t samples = arg_i("samples", 50);
  FixtureServer server;
  Resource low;
  low.body = std::string(64 * 1024 * 1024, 'l');  // never finished: 1 MB/s per job
  low.etag = "\"low\"";
  low.bytes_per_sec = 1024 * 1024;
  server.set("/low", low);
  Resource fg;
  fg.body = std::string(8 * 1024 * 1024, 'f');  // a first byte, then cancelled
  fg.etag = "\"fg\"";
  fg.bytes_per_sec = 4 * 1024 * 1024;
  server.set("/fg", fg);
  QueueOptions o;
  o.max_concurrent_transfers = slots;
  o.time_slice = std::chrono::milliseconds(0);  // preemption alone
  auto q = open_queue(dir + "/preempt.db", o);

  std::vector<Job> lows;
  for (int i = 0; i < slots; ++i) {
    auto job = q->create_job("low " + std::to_string(i));
    if (auto ec = job->add_file(server.url("/low"), dir + "/low" + std::to_string(i) + ".bin"))
      throw std::runtime_error(ec.message());
    job->set_priority(JobPriority::low);
    job->resume();
    lows.push_back(*job);
  }
  auto all_low_running = [&] {
    for (const Job& j : lows) {
      auto st = j.state();
      if (!st) return false;
      if (*st == JobState::transferred || *st == JobState::error) throw std::runtime_error("a LOW job ended");
      if (*st != JobState::transferring) return false;
    }
    return true;
  };
  std::vector<double> to_first_byte;
  int64_t preempted_seen = 0;
  for (int64_t i = 0; i < samples; ++i) {
    int64_t deadline = mono_ns() + 30'000'000'000LL;
    while (!all_low_running()) {
      if (mono_ns() > deadline) throw std::runtime_error("the LOW jobs did not all run again");
      sleep_ms(2);
    }
    auto job = q->create_job("foreground " + std::to_string(i));
    const std::string local = dir + "/fg.bin";
    if (auto ec = job->add_file(server.url("/fg"), local)) throw std::runtime_error(ec.message());
    job->set_priority(JobPriority::foreground);
    const std::string temp = engine_temp_path(local, job->id(), 0);
    const int64_t t0 = mono_ns();
    if (auto ec = job->resume()) throw std::runtime_error(ec.message());
    deadline = t0 + 30'000'000'000LL;
    for (;;) {
      struct stat st {};
      if (::stat(temp.c_str(), &st) == 0 && st.st_size > 0) break;
      if (mono_ns() > deadline) throw std::runtime_error("no first byte within 30 s");
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    to_first_byte.push_back(static_cast<double>(mono_ns() - t0) / 1e6);
    for (const Job& j : lows) {
      auto st = j.state();
      preempted_seen += st && *st == JobState::queued;
    }
    job->cancel();
  }
  for (Job& j : lows) j.cancel();
  Json j;
  j.num("preempt_slots", slots);
  j.num("preempt_samples", static_cast<double>(to_first_byte.size()));
  j.num("preempt_first_byte_p50_ms", percentile(to_first_byte, 0.50));
  j.num("preempt_first_byte_p99_ms", percentile(to_first_byte, 0.99));
  j.num("preempt_first_byte_max_ms", *std::max_element(to_first_byte.begin(), to_first_byte.end()));
  j.num("preempt_low_queued_at_first_byte", static_cast<double>(preempted_seen));
  j.print();
  log("preempt: " + std::to_string(slots) + " LOW slots, " + std::to_string(to_first_byte.size()) +
      " FOREGROUND resumes: first byte p50 " + fmt(percentile(to_first_byte, 0.5)) + " ms, p99 " +
      fmt(percentile(to_first_byte, 0.99)) + " ms");
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

// ---- bandwidth: rate accuracy under limits (against nginx) -------------------

// Bytes on disk in the temp files (".xferq-*.part") under `dir`: what the
// transfers wrote so far, read live (committed progress lags a progress
// interval).
int64_t part_bytes(const std::string& dir) {
  int64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".xferq-") != std::string::npos && name.size() > 5 && name.compare(name.size() - 5, 5, ".part") == 0)
      total += static_cast<int64_t>(e.file_size());
  }
  return total;
}

// One measurement: `n` jobs downloading `url` into subdirectories of `dir`
// (job i into dir/i), the first `limited` of them under `job_limit`, the
// queue under `queue_limit`; after a warm-up, each group's bytes are sampled
// every second for `seconds`. Returns per group (limited, unlimited) the
// sustained rate over the whole window and the one-second rates.
struct RateSample {
  double sustained = 0;
  std::vector<double> per_second;
};
std::pair<RateSample, RateSample> measure_rates(const std::string& dir, const std::string& url, int n, int limited,
                                               int64_t job_limit, int64_t queue_limit, int seconds,
                                               int unlimited_files = 1, int warmup_ms = 1000) {
  QueueOptions o;
  o.max_concurrent_transfers = std::max(n, 4);
  std::filesystem::create_directories(dir);
  auto q = open_queue(dir + "/bandwidth.db", o);
  if (auto ec = q->set_bandwidth_limit(queue_limit)) throw std::runtime_error(ec.message());
  std::vector<Job> jobs;
  for (int i = 0; i < n; ++i) {
    const std::string sub = dir + "/" + std::to_string(i);
    std::filesystem::create_directories(sub);
    auto job = q->create_job("bandwidth");
    if (!job) throw std::runtime_error(job.error().message());
    const int files = i < limited ? 1 : unlimited_files;
    for (int f = 0; f < files; ++f)
      if (auto ec = job->add_file(url, sub + "/big" + std::to_string(f) + ".bin")) throw std::runtime_error(ec.message());
    if (i < limited)
      if (auto ec = job->set_bandwidth_limit(job_limit)) throw std::runtime_error(ec.message());
    jobs.push_back(*job);
  }
  for (Job& j : jobs) j.resume();
  auto group_bytes = [&](bool lim) {
    int64_t b = 0;
    for (int i = 0; i < n; ++i)
      if ((i < limited) == lim) b += part_bytes(dir + "/" + std::to_string(i));
    return b;
  };
  sleep_ms(warmup_ms);  // warm-up: connections, the first allocation, the initial burst
  std::pair<RateSample, RateSample> out;
  int64_t first[2] = {group_bytes(true), group_bytes(false)}, prev[2] = {first[0], first[1]};
  const int64_t t0 = mono_ns();
  int64_t tprev = t0;
  for (int s = 0; s < seconds; ++s) {
    std::this_thread::sleep_until(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(t0 + (s + 1) * 1000000000LL)));
    const int64_t now = mono_ns();
    const int64_t cur[2] = {group_bytes(true), group_bytes(false)};
    const double dt = static_cast<double>(now - tprev) / 1e9;
    out.first.per_second.push_back(static_cast<double>(cur[0] - prev[0]) / dt);
    out.second.per_second.push_back(static_cast<double>(cur[1] - prev[1]) / dt);
    prev[0] = cur[0];
    prev[1] = cur[1];
    tprev = now;
  }
  const double total_s = static_cast<double>(tprev - t0) / 1e9;
  out.first.sustained = static_cast<double>(prev[0] - first[0]) / total_s;
  out.second.sustained = static_cast<double>(prev[1] - first[1]) / total_s;
  for (Job& j : jobs) j.cancel();
  return out;
}

void put_rate(Json& j, const std::string& key, const RateSample& r, double limit) {
  j.num(key + "_mb_s", r.sustained / 1e6);
  if (limit > 0) j.num(key + "_ratio", r.sustained / limit);
  if (r.per_second.empty()) return;
  j.num(key + "_1s_min_mb_s", *std::min_element(r.per_second.begin(), r.per_second.end()) / 1e6);
  j.num(key + "_1s_max_mb_s", *std::max_element(r.per_second.begin(), r.per_second.end()) / 1e6);
}

int mode_bandwidth() {
  const std::string dir = arg("dir");
  const std::string url = arg("url");
  const int64_t limit = arg_i("limit", 20 * 1000 * 1000);
  const int64_t job_limit = arg_i("job-limit", 5 * 1000 * 1000);
  const int seconds = static_cast<int>(arg_i("seconds", 10));
  Json j;
  j.num("bw_limit_mb_s", static_cast<double>(limit) / 1e6);
  j.num("bw_seconds", seconds);
  log("bandwidth: 1 transfer under a queue limit");
  put_rate(j, "bw_one", measure_rates(dir + "/one", url, 1, 0, 0, limit, seconds).second, static_cast<double>(limit));
  log("bandwidth: 8 transfers under a queue limit");
  put_rate(j, "bw_eight", measure_rates(dir + "/eight", url, 8, 0, 0, limit, seconds).second,
           static_cast<double>(limit));
  // A per-job limit on one job while another, unlimited, runs beside it (no
  // queue limit): the unlimited one takes what loopback gives and finishes
  // early; the limited one must hold its rate regardless.
  // The unlimited job fetches the file often enough to run through the whole
  // window at up to 600 MB/s (--bytes: the file's size; else 4 times); the
  // limited job's rate is also given over the seconds in which the unlimited
  // one was moving bytes.
  log("bandwidth: a job limit beside an unlimited job");
  const int64_t file_bytes = arg_i("bytes", 0);
  const int copies = file_bytes > 0 ? static_cast<int>(std::max<int64_t>(4, seconds * 600LL * 1000 * 1000 / file_bytes + 1)) : 4;
  auto pair = measure_rates(dir + "/job", url, 2, 1, job_limit, 0, seconds, copies, 250);
  j.num("bw_job_limit_mb_s", static_cast<double>(job_limit) / 1e6);
  put_rate(j, "bw_job", pair.first, static_cast<double>(job_limit));
  double overlap_bytes = 0, unlimited_bytes = 0;
  int overlap_s = 0;
  for (size_t i = 0; i < pair.second.per_second.size(); ++i) {
    if (pair.second.per_second[i] <= 0) continue;
    overlap_bytes += pair.first.per_second[i];
    unlimited_bytes += pair.second.per_second[i];
    ++overlap_s;
  }
  j.num("bw_overlap_s", overlap_s);
  if (overlap_s > 0) {
    j.num("bw_job_while_unlimited_mb_s", overlap_bytes / overlap_s / 1e6);
    j.num("bw_unlimited_mb_s", unlimited_bytes / overlap_s / 1e6);
  }
  j.print();
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
    if (mode == "cancel-peer") return mode_cancel_peer();
    if (mode == "download") return mode_download();
    if (mode == "bandwidth") return mode_bandwidth();
    if (mode == "smallfiles") return mode_smallfiles();
    if (mode == "scale") return mode_scale();
    if (mode == "preempt") return mode_preempt();
    if (mode == "rss") return mode_rss();
    if (mode == "mkfile") return mode_mkfile();
    if (mode == "mkfiles") return mode_mkfiles();
    if (const int rc = fleet_main(mode, g_args); rc >= 0) return rc;  // pg, pg-caller, pg-peer, pg-worker
    std::cerr << "unknown mode " << mode << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "xferq_bench " << mode << ": " << e.what() << "\n";
    return 1;
  }
}
