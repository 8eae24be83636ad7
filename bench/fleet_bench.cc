// fleet_bench.cc — xferq_bench's PostgreSQL ("fleet") measurements (issue 15),
// on a private cluster started here (tests/pg_fixture.h) and stopped at exit:
//
//   1. concurrent cancels vs a PostgreSQL floor: T callers (T = 1, 4, 16, 64)
//      spread over up to 4 processes of this binary (mode pg-caller), each
//      caller a thread with its own connection; rounds alternate the floor (a
//      one-row UPDATE transaction over a plain libpqxx connection, as the PG
//      store opens its own) and Job::cancel() on a Queue per thread, each
//      phase on a fresh slice of SUSPENDED jobs created before it, untimed;
//   2. cross-host cancel-to-quiescence: this process is host A and runs the
//      worker with a live transfer from the in-process HTTP server; host B is
//      another, already running process (mode pg-peer) that calls cancel();
//      timed from B's call until A's transfer stopped (connection closed, temp
//      file no longer growing) and A's temp file is gone; at full loopback
//      speed, and again from a server throttled to --slow-mb-s;
//   3. claims per second: N worker processes (mode pg-worker), each its own
//      host, started together on M QUEUED jobs of a tiny file; the rate at
//      which the fleet takes them to TRANSFERRED.
//
// Every child speaks one line per message over its stdin / stdout; progress
// goes to stderr. Only 127.0.0.1 is used; every loop is bounded.
#include "fleet_bench.h"

#include <iostream>

#ifdef XFERQ_BENCH_PG

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <pqxx/pqxx>
#include <xferq/xferq.h>

#include "bench_util.h"
#include "http_fixture.h"
#include "pg_fixture.h"

extern char** environ;

namespace xferq::bench {
namespace {

using xferq::testing::FixtureServer;
using xferq::testing::PgCluster;
using xferq::testing::Resource;

const std::map<std::string, std::string>* g_args = nullptr;

std::string arg(const std::string& k, const std::string& def = "") {
  auto it = g_args->find(k);
  return it == g_args->end() ? def : it->second;
}
int64_t arg_i(const std::string& k, int64_t def) {
  const std::string v = arg(k);
  return v.empty() ? def : std::stoll(v);
}
std::vector<int> arg_list(const std::string& k, const std::string& def) {
  std::vector<int> out;
  std::stringstream ss(arg(k, def));
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stoi(item));
  return out;
}

void log(const std::string& s) { std::cerr << "[bench pg] " << s << std::endl; }
double ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }
void sleep_ms(int m) { std::this_thread::sleep_for(std::chrono::milliseconds(m)); }

std::string fmt(double x, int prec = 3) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*g", prec, x);
  return b;
}

// One figure over rounds: median [min-max], written as key_med/_min/_max and
// key_rounds (run.sh's convention).
struct Spread {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  double med() const { return median(v); }
  double lo() const { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }
  double hi() const { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }
  std::string str() const { return v.empty() ? "n/a" : fmt(med()) + " [" + fmt(lo()) + "-" + fmt(hi()) + "]"; }
  void put(Json& j, const std::string& key) const {
    j.num(key + "_med", med());
    j.num(key + "_min", lo());
    j.num(key + "_max", hi());
    j.arr(key + "_rounds", v);
  }
};

std::unique_ptr<Queue> open_queue(const std::string& url, const QueueOptions& o) {
  auto q = Queue::open(url, o);
  if (!q) throw std::runtime_error("open " + url + ": " + q.error().message());
  return std::move(*q);
}

// ---- Child processes ------------------------------------------------------------------

// This binary in a child mode, as host `host_id` (XFERQ_HOST_ID): LineChild.
using Child = LineChild;

std::vector<std::unique_ptr<Child>> start_children(int n, const std::vector<std::string>& args,
                                                   const std::string& host_prefix) {
  std::vector<std::unique_ptr<Child>> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(std::make_unique<Child>());
    out.back()->start(args, host_prefix + std::to_string(i));
  }
  return out;
}

// ---- 1. Concurrent cancels vs the floor: the callers' side (mode pg-caller) ----------------

// One caller thread's connections and its slice of jobs. Both connections
// stay open while T stays the same, so floor and cancel phases run with the
// same connections open on the server.
struct Caller {
  std::unique_ptr<Queue> q;               // the thread's own Queue: creates the jobs, cancels them
  std::unique_ptr<pqxx::connection> conn;  // the floor's plain libpqxx connection
  bool floor = false;
  std::vector<Job> jobs;
  std::vector<double> lat;  // ms
  int64_t end_ns = 0, errors = 0;
};

// Untimed: the connections (once per T), then n SUSPENDED jobs of one file
// each, created through the public API.
void prepare_caller(Caller& c, const std::string& url, const std::string& dir, bool floor, int64_t n,
                    const std::string& tag) {
  if (!c.q) {
    QueueOptions o;
    o.start_worker = false;
    c.q = open_queue(url, o);
    c.conn = std::make_unique<pqxx::connection>(url);
  }
  c.floor = floor;
  c.jobs.clear();
  c.lat.clear();
  c.errors = 0;
  for (int64_t i = 0; i < n; ++i) {
    auto job = c.q->create_job("fleet bench " + tag);
    if (!job) throw std::runtime_error("create_job: " + job.error().message());
    if (auto ec = job->add_file("http://127.0.0.1:9/f.bin", dir + "/" + tag + "-" + std::to_string(i) + ".bin"))
      throw std::runtime_error("add_file: " + ec.message());
    c.jobs.push_back(*job);
  }
  c.lat.reserve(static_cast<size_t>(n));
}

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Timed: the floor transaction or Job::cancel(), once per job of the slice.
void run_caller(Caller& c) {
  for (Job& j : c.jobs) {
    const int64_t a = mono_ns();
    bool ok = true;
    if (c.floor) {
      try {
        pqxx::work tx(*c.conn);
        tx.exec_params("UPDATE jobs SET modified_us = $2 WHERE id = $1", j.id(), wall_us());
        tx.commit();
      } catch (const std::exception& e) {
        ok = false;
      }
    } else {
      ok = !j.cancel();
    }
    c.lat.push_back(ms(mono_ns() - a));
    if (!ok) c.errors++;
  }
  c.end_ns = mono_ns();
}

// One phase in this process: "prep KIND THREADS PER_THREAD TAG" prepares a
// thread per caller, answers "ready", waits for "go", runs, answers
// "done END_NS ERRORS LAT...".
void caller_phase(std::vector<Caller>& callers, const std::string& url, const std::string& dir, bool floor,
                  int threads, int64_t per, const std::string& tag) {
  if (callers.size() != static_cast<size_t>(threads)) {
    callers.clear();  // another T: the last T's connections close first
    callers.resize(static_cast<size_t>(threads));
  }
  std::mutex mu;
  std::condition_variable cv;
  int prepared = 0;
  bool go = false;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      try {
        prepare_caller(callers[t], url, dir, floor, per, tag + "t" + std::to_string(t));
      } catch (const std::exception& e) {
        log(std::string("caller setup failed: ") + e.what());
        std::_Exit(1);
      }
      std::unique_lock<std::mutex> l(mu);
      ++prepared;
      cv.notify_all();
      cv.wait(l, [&] { return go; });
      l.unlock();
      run_caller(callers[t]);
    });
  }
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return prepared == threads; });
  }
  std::cout << "ready" << std::endl;
  std::string line;
  if (!std::getline(std::cin, line) || line != "go") std::_Exit(1);
  {
    std::lock_guard<std::mutex> l(mu);
    go = true;
  }
  cv.notify_all();
  for (auto& th : ts) th.join();
  int64_t end = 0, errors = 0;
  std::ostringstream lats;
  for (const Caller& c : callers) {
    end = std::max(end, c.end_ns);
    errors += c.errors;
    for (double x : c.lat) lats << ' ' << fmt(x, 4);
  }
  std::cout << "done " << end << ' ' << errors << lats.str() << std::endl;
}

int mode_caller() {
  const std::string url = arg("db"), dir = arg("dir");
  std::vector<Caller> callers;
  std::cout << "ready" << std::endl;
  for (std::string line; std::getline(std::cin, line);) {
    std::istringstream in(line);
    std::string cmd, kind, tag;
    int threads = 0;
    int64_t per = 0;
    in >> cmd >> kind >> threads >> per >> tag;
    if (cmd != "prep") return 1;
    caller_phase(callers, url, dir, kind == "floor", threads, per, tag);
  }
  return 0;
}

// ---- 1. Concurrent cancels vs the floor: the coordinator ---------------------------------

struct PhaseResult {
  double per_s = 0;
  std::vector<double> lat;
  int64_t errors = 0;
};

// One timed phase at T callers over the caller processes (T / procs threads
// each). Timed from "go" sent to the last caller's end.
PhaseResult run_phase(std::vector<std::unique_ptr<Child>>& procs, int T, bool floor, int64_t per,
                      const std::string& tag) {
  const int n = std::min<int>(T, static_cast<int>(procs.size()));
  for (int p = 0; p < n; ++p)
    procs[p]->send(std::string("prep ") + (floor ? "floor " : "cancel ") + std::to_string(T / n) + " " +
                   std::to_string(per) + " " + tag + "p" + std::to_string(p));
  for (int p = 0; p < n; ++p) procs[p]->expect("ready");
  const int64_t t_go = mono_ns();
  for (int p = 0; p < n; ++p) procs[p]->send("go");
  PhaseResult r;
  int64_t end = t_go;
  for (int p = 0; p < n; ++p) {
    std::istringstream in(procs[p]->recv());
    std::string word;
    int64_t e = 0, errors = 0;
    in >> word >> e >> errors;
    if (word != "done") throw std::runtime_error("caller: " + word);
    end = std::max(end, e);
    r.errors += errors;
    for (double x; in >> x;) r.lat.push_back(x);
  }
  const int64_t ops = static_cast<int64_t>(T / n) * n * per;
  r.per_s = static_cast<double>(ops) / (static_cast<double>(end - t_go) / 1e9);
  return r;
}

struct CancelFigures {
  Spread floor_s, cancel_s, ratio, p50, p99;
  std::vector<double> lat, floor_lat;
  int64_t errors = 0;
};

// Rounds at one T: floor and cancel alternate (floor first in even rounds).
CancelFigures cancels_at(std::vector<std::unique_ptr<Child>>& procs, int T, int rounds, int64_t per) {
  CancelFigures f;
  for (int r = 0; r < rounds; ++r) {
    PhaseResult fl, ca;
    const std::string tag = "T" + std::to_string(T) + "r" + std::to_string(r);
    if (r % 2 == 0) {
      fl = run_phase(procs, T, true, per, tag + "f");
      ca = run_phase(procs, T, false, per, tag + "c");
    } else {
      ca = run_phase(procs, T, false, per, tag + "c");
      fl = run_phase(procs, T, true, per, tag + "f");
    }
    f.floor_s.add(fl.per_s);
    f.cancel_s.add(ca.per_s);
    f.ratio.add(ca.per_s / fl.per_s);
    f.p50.add(percentile(ca.lat, 0.5));
    f.p99.add(percentile(ca.lat, 0.99));
    f.lat.insert(f.lat.end(), ca.lat.begin(), ca.lat.end());
    f.floor_lat.insert(f.floor_lat.end(), fl.lat.begin(), fl.lat.end());
    f.errors += fl.errors + ca.errors;
    log("cancels T=" + std::to_string(T) + " round " + std::to_string(r) + ": floor " + fmt(fl.per_s) +
        "/s, cancel " + fmt(ca.per_s) + "/s, ratio " + fmt(ca.per_s / fl.per_s) + "; cancel p50 " +
        fmt(percentile(ca.lat, 0.5)) + " p99 " + fmt(percentile(ca.lat, 0.99)) + " ms");
  }
  return f;
}

void bench_cancels(Json& j, const std::string& url, const std::string& dir) {
  const std::vector<int> ts = arg_list("threads", "1,4,16,64");
  const int rounds = static_cast<int>(arg_i("rounds", 5));
  const int64_t ops = arg_i("ops", 1000);  // operations per phase (at least 4 per caller)
  const int nprocs = static_cast<int>(arg_i("procs", 4));
  std::filesystem::create_directories(dir);
  auto procs = start_children(nprocs, {"pg-caller", "--db", url, "--dir", dir}, "fleet-bench-caller-");
  int64_t errors = 0;
  for (int T : ts) {
    const int64_t per = std::max<int64_t>(4, (ops + T - 1) / T);
    const CancelFigures f = cancels_at(procs, T, rounds, per);
    const std::string s = "_T" + std::to_string(T);
    f.floor_s.put(j, "pg_floor_per_s" + s);
    f.cancel_s.put(j, "pg_cancel_per_s" + s);
    f.ratio.put(j, "pg_cancel_ratio" + s);
    f.p50.put(j, "pg_cancel_p50_ms" + s + "_round");
    f.p99.put(j, "pg_cancel_p99_ms" + s + "_round");
    j.num("pg_cancel_p50_ms" + s, percentile(f.lat, 0.5));
    j.num("pg_cancel_p99_ms" + s, percentile(f.lat, 0.99));
    j.num("pg_floor_p50_ms" + s, percentile(f.floor_lat, 0.5));
    j.num("pg_floor_p99_ms" + s, percentile(f.floor_lat, 0.99));
    j.num("pg_cancel_ops_per_phase" + s, static_cast<double>(per * T));
    log("cancels T=" + std::to_string(T) + ": ratio " + f.ratio.str() + " (" +
        (f.ratio.med() >= 0.8 ? "PASS" : "MISS") + " vs >= 0.8); cancel p50 / p99 " + fmt(percentile(f.lat, 0.5)) +
        " / " + fmt(percentile(f.lat, 0.99)) + " ms");
    errors += f.errors;
  }
  j.num("pg_cancel_rounds", rounds);
  j.num("pg_cancel_procs", nprocs);
  j.num("pg_cancel_errors", static_cast<double>(errors));
}

// ---- 2. Cross-host cancel-to-quiescence -------------------------------------------------

// Host B's side (mode pg-peer): opens the queue without a worker, cancels each
// id read from stdin, answers "canceled" (or the error) once cancel() returned.
int mode_peer() {
  QueueOptions o;
  o.start_worker = false;
  auto q = open_queue(arg("db"), o);
  std::cout << "ready" << std::endl;
  for (std::string id; std::getline(std::cin, id);) {
    auto job = q->get_job(id);
    std::error_code ec = job ? job->cancel() : job.error();
    std::cout << (ec ? ec.message() : std::string("canceled")) << std::endl;
  }
  return 0;
}

struct QuiesceSample {
  double quiesce_ms = 0, call_ms = 0, gone_ms = 0, stopped_ms = 0;
  bool timeout = false, ran_out = false;
};

// Waits until the job transfers at full speed (4 MiB sent, temp file on
// disk); its temp file's path.
std::string wait_transferring(FixtureServer& server, Job& job) {
  const int64_t deadline = mono_ns() + 5'000'000'000LL;
  while (mono_ns() < deadline) {
    auto recs = server.requests_for("/q");
    if (!recs.empty() && recs.back().body_bytes_sent >= (4 << 20)) {
      auto f = job.files();
      if (f && !f->empty() && !(*f)[0].temp_path.empty() && ::access((*f)[0].temp_path.c_str(), F_OK) == 0)
        return (*f)[0].temp_path;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  throw std::runtime_error("the transfer did not start");
}

// One sample: host A (this process) transfers; host B cancels. Quiescence is
// the latest of: the server saw the connection end, the temp file's last
// growth, the temp file gone — from the moment B was asked to cancel.
QuiesceSample quiesce_one(Queue& q, FixtureServer& server, Child& peer, const std::string& local, size_t body) {
  server.clear_log();
  auto job = q.create_job("fleet quiesce");
  if (!job) throw std::runtime_error(job.error().message());
  if (auto ec = job->add_file(server.url("/q"), local)) throw std::runtime_error(ec.message());
  job->resume();
  const std::string temp = wait_transferring(server, *job);
  const int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);  // keeps the inode to watch writes
  const int64_t t_start = mono_ns();
  peer.send(job->id());
  peer.expect("canceled");
  const int64_t t_ret = mono_ns();
  struct stat st {};
  ::fstat(fd, &st);
  int64_t last_size = st.st_size, last_growth = t_start, closed_at = 0, gone_at = 0;
  const int64_t bound = t_ret + 3'000'000'000LL;
  QuiesceSample s;
  while (mono_ns() < bound) {
    const int64_t now = mono_ns();
    ::fstat(fd, &st);
    if (st.st_size != last_size) {
      last_size = st.st_size;
      last_growth = now;
    }
    if (!gone_at && ::access(temp.c_str(), F_OK) != 0) gone_at = now;
    if (!closed_at) {
      auto recs = server.requests_for("/q");
      if (!recs.empty() && recs.back().finished) {
        closed_at = now;
        s.ran_out = recs.back().body_bytes_sent >= static_cast<long long>(body);
      }
    }
    if (closed_at && gone_at && now - std::max(last_growth, closed_at) > 50'000'000LL) break;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  ::close(fd);
  s.timeout = !closed_at || !gone_at;
  const int64_t end = std::max({last_growth, closed_at ? closed_at : bound, gone_at ? gone_at : bound});
  s.quiesce_ms = ms(end - t_start);
  s.call_ms = ms(t_ret - t_start);
  s.gone_ms = ms((gone_at ? gone_at : bound) - t_start);
  s.stopped_ms = ms(std::max(last_growth, closed_at ? closed_at : bound) - t_start);
  return s;
}

void bench_quiesce(Json& j, const std::string& url, const std::string& dir, size_t bytes_per_sec,
                   int64_t samples) {
  const int rounds = static_cast<int>(arg_i("quiesce-rounds", 5));
  std::filesystem::create_directories(dir);
  FixtureServer server;
  Resource r;
  const size_t body = 512u << 20;  // ~0.3 s or more at loopback speed: still running when the cancel lands
  r.body = std::string(body, 'Q');
  // bytes_per_sec > 0: a throttled server (less data in flight; the server
  // then notices a closed connection only at its next 1/20 s slice).
  r.bytes_per_sec = bytes_per_sec;
  server.set("/q", r);
  // Keys: pg_quiesce_* at full speed, pg_quiesce_slow_* throttled.
  const std::string k = r.bytes_per_sec ? "pg_quiesce_slow" : "pg_quiesce";
  QueueOptions o;  // host A: this process (XFERQ_HOST_ID set by mode_pg)
  // The default poll interval unless --poll-ms says otherwise (to see how the figure follows it).
  if (const int64_t p = arg_i("poll-ms", 0); p > 0) o.poll_interval = std::chrono::milliseconds(p);
  // Likewise the progress commit interval (each commit fdatasyncs the temp file first).
  if (const int64_t p = arg_i("progress-ms", 0); p > 0) o.progress_interval = std::chrono::milliseconds(p);
  auto q = open_queue(url, o);
  Child peer;
  peer.start({"pg-peer", "--db", url}, "fleet-bench-host-b");
  std::vector<double> all, calls, gone, stopped;
  Spread p50, p99;
  int64_t timeouts = 0, ran_out = 0, i = 0;
  for (int rd = 0; rd < rounds; ++rd) {
    std::vector<double> v;
    const int64_t n = samples * (rd + 1) / rounds - samples * rd / rounds;
    for (int64_t k = 0; k < n; ++k, ++i) {
      const QuiesceSample s = quiesce_one(*q, server, peer, dir + "/q" + std::to_string(i) + ".bin", body);
      v.push_back(s.quiesce_ms);
      calls.push_back(s.call_ms);
      gone.push_back(s.gone_ms);
      stopped.push_back(s.stopped_ms);
      timeouts += s.timeout;
      ran_out += s.ran_out;
    }
    p50.add(percentile(v, 0.5));
    p99.add(percentile(v, 0.99));
    all.insert(all.end(), v.begin(), v.end());
    log("cross-host quiescence round " + std::to_string(rd) + ": p50 " + fmt(percentile(v, 0.5)) + " p99 " +
        fmt(percentile(v, 0.99)) + " ms");
  }
  j.num("pg_poll_interval_ms", static_cast<double>(o.poll_interval.count()));
  j.num(k + "_p50_ms", percentile(all, 0.5));
  j.num(k + "_p99_ms", percentile(all, 0.99));
  j.num(k + "_max_ms", percentile(all, 1.0));
  p50.put(j, k + "_p50_ms_round");
  p99.put(j, k + "_p99_ms_round");
  j.num(k + "_cancel_call_p50_ms", percentile(calls, 0.5));
  j.num(k + "_cancel_call_p99_ms", percentile(calls, 0.99));
  j.num(k + "_temp_gone_p50_ms", percentile(gone, 0.5));
  j.num(k + "_temp_gone_p99_ms", percentile(gone, 0.99));
  j.num(k + "_stopped_p50_ms", percentile(stopped, 0.5));
  j.num(k + "_stopped_p99_ms", percentile(stopped, 0.99));
  j.num(k + "_samples", static_cast<double>(all.size()));
  j.num(k + "_timeouts", static_cast<double>(timeouts));
  j.num(k + "_transfer_ended_first", static_cast<double>(ran_out));
  peer.stop();
}

// ---- 3. Claims per second --------------------------------------------------------------------

// A worker host (mode pg-worker): a Queue whose worker starts on "go" and
// stops on "stop" (answers "stopped"); "count" answers how many distinct jobs
// reached TRANSFERRED here since "go" and when the last one did.
int mode_worker() {
  QueueOptions o;
  o.start_worker = false;
  o.max_concurrent_transfers = static_cast<int>(arg_i("slots", 4));
  auto q = open_queue(arg("db"), o);
  std::mutex mu;
  std::set<std::string> seen;
  int64_t last = 0;
  JobCallbacks cb;
  cb.transferred = [&](const std::string& id) {
    std::lock_guard<std::mutex> l(mu);
    if (seen.insert(id).second) last = mono_ns();
  };
  q->set_callbacks(cb);
  std::cout << "ready" << std::endl;
  for (std::string line; std::getline(std::cin, line);) {
    if (line == "go") {
      {
        std::lock_guard<std::mutex> l(mu);
        seen.clear();
        last = 0;
      }
      q->start_worker();
    } else if (line == "count") {
      std::lock_guard<std::mutex> l(mu);
      std::cout << seen.size() << ' ' << last << std::endl;
    } else if (line == "stop") {
      q->stop_worker();
      std::cout << "stopped" << std::endl;
    }
  }
  return 0;
}

// Untimed: m QUEUED jobs of one tiny file each (no worker runs yet).
std::vector<Job> queued_jobs(Queue& q, const std::string& url, const std::string& dir, int64_t m) {
  std::filesystem::create_directories(dir);
  std::vector<Job> jobs;
  for (int64_t i = 0; i < m; ++i) {
    auto job = q.create_job("fleet claim");
    if (!job) throw std::runtime_error(job.error().message());
    if (auto ec = job->add_file(url, dir + "/" + std::to_string(i) + ".bin")) throw std::runtime_error(ec.message());
    if (auto ec = job->resume()) throw std::runtime_error(ec.message());
    jobs.push_back(*job);
  }
  return jobs;
}

// One round: every worker starts at once; timed until all m jobs are
// TRANSFERRED (seen by the workers' callbacks). Jobs per second.
double claim_round(std::vector<std::unique_ptr<Child>>& workers, int64_t m, int64_t* missing) {
  const int64_t t_go = mono_ns();
  for (auto& w : workers) w->send("go");
  int64_t done = 0, last = t_go;
  while (done < m && mono_ns() - t_go < 120'000'000'000LL) {
    sleep_ms(20);
    done = 0;
    for (auto& w : workers) {
      w->send("count");
      std::istringstream in(w->recv());
      int64_t n = 0, l = 0;
      in >> n >> l;
      done += n;
      last = std::max(last, l);
    }
  }
  for (auto& w : workers) w->send("stop");
  for (auto& w : workers) w->expect("stopped");
  *missing += std::max<int64_t>(0, m - done);
  return static_cast<double>(done) / (static_cast<double>(last - t_go) / 1e9);
}

void bench_claims(Json& j, const std::string& url, const std::string& dir) {
  const int nworkers = static_cast<int>(arg_i("claim-workers", 4));
  const int64_t m = arg_i("claim-jobs", 400);
  const int rounds = static_cast<int>(arg_i("claim-rounds", 5));
  const int slots = static_cast<int>(arg_i("claim-slots", 4));
  FixtureServer server;
  Resource r;
  r.body = std::string(64, 'c');
  server.set("/t", r);
  QueueOptions o;
  o.start_worker = false;
  auto q = open_queue(url, o);
  auto workers = start_children(nworkers, {"pg-worker", "--db", url, "--slots", std::to_string(slots)},
                                "fleet-bench-worker-");
  Spread rate;
  int64_t missing = 0, not_transferred = 0;
  for (int rd = 0; rd < rounds; ++rd) {
    auto jobs = queued_jobs(*q, server.url("/t"), dir + "/r" + std::to_string(rd), m);
    const double per_s = claim_round(workers, m, &missing);
    rate.add(per_s);
    for (Job& job : jobs) {  // checked after timing: every job went through
      auto st = job.state();
      if (!st || *st != JobState::transferred) ++not_transferred;
    }
    log("claims round " + std::to_string(rd) + ": " + fmt(per_s) + " jobs/s (" + std::to_string(m) + " jobs, " +
        std::to_string(nworkers) + " hosts x " + std::to_string(slots) + " slots)");
  }
  rate.put(j, "pg_claims_per_s");
  j.num("pg_claims_jobs", static_cast<double>(m));
  j.num("pg_claims_workers", nworkers);
  j.num("pg_claims_slots", slots);
  j.num("pg_claims_missing", static_cast<double>(missing));
  j.num("pg_claims_not_transferred", static_cast<double>(not_transferred));
}

// ---- The coordinator ------------------------------------------------------------------------

int mode_pg() {
  // This process is host A (part 2); set before any thread reads the environment.
  ::setenv("XFERQ_HOST_ID", "fleet-bench-host-a", 1);
  std::string why;
  PgCluster* cluster = PgCluster::shared(&why);
  Json j;
  if (!cluster) {
    log("skipped: " + why);
    j.str("pg_skipped", why);
    j.print();
    return 0;
  }
  const std::string dir = arg("dir");
  std::set<std::string> parts;
  std::stringstream ss(arg("parts", "cancel,quiesce,quiesce-slow,claims"));
  for (std::string p; std::getline(ss, p, ',');) parts.insert(p);
  const int64_t t0 = mono_ns();
  if (parts.count("cancel")) bench_cancels(j, cluster->create_database(), dir + "/cancel");
  const int64_t t1 = mono_ns();
  if (parts.count("quiesce"))
    bench_quiesce(j, cluster->create_database(), dir + "/quiesce", 0, arg_i("quiesce-samples", 100));
  if (parts.count("quiesce-slow")) {
    const auto rate = static_cast<size_t>(arg_i("slow-mb-s", 40)) * 1000000;
    j.num("pg_quiesce_slow_mb_s", static_cast<double>(rate) / 1e6);
    bench_quiesce(j, cluster->create_database(), dir + "/quiesce-slow", rate, arg_i("slow-samples", 50));
  }
  const int64_t t2 = mono_ns();
  if (parts.count("claims")) bench_claims(j, cluster->create_database(), dir + "/claims");
  const int64_t t3 = mono_ns();
  j.num("pg_cancel_wall_s", ms(t1 - t0) / 1e3);
  j.num("pg_quiesce_wall_s", ms(t2 - t1) / 1e3);
  j.num("pg_claims_wall_s", ms(t3 - t2) / 1e3);
  j.print();
  return 0;
}

}  // namespace

int fleet_main(const std::string& mode, const std::map<std::string, std::string>& args) {
  g_args = &args;
  if (mode == "pg") return mode_pg();
  if (mode == "pg-caller") return mode_caller();
  if (mode == "pg-peer") return mode_peer();
  if (mode == "pg-worker") return mode_worker();
  return -1;
}

}  // namespace xferq::bench

#else  // built without the PostgreSQL backend

int xferq::bench::fleet_main(const std::string& mode, const std::map<std::string, std::string>&) {
  if (mode.rfind("pg", 0) != 0) return -1;
  std::cout << "{\"pg_skipped\": \"built without the PostgreSQL backend (XFERQ_WITH_POSTGRESQL=OFF)\"}" << std::endl;
  return 0;
}

#endif
