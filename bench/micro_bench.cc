// micro_bench.cc — Google Benchmark micro-benchmarks, single thread:
// Job::cancel() on a SUSPENDED job with 4 real temp files (deleted in the
// call, or by the janitor), against the floor
// (one BEGIN IMMEDIATE / one-row UPDATE / COMMIT on a connection with the same
// pragmas). Run by bench/run.sh; its figures are extras, the targets come from
// xferq_bench.
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <xferq/xferq.h>

#include "bench_util.h"

namespace {

std::string scratch() {
  static std::string dir = [] {
    const char* base = getenv("XFERQ_BENCH_SCRATCH");
    std::string d = std::string(base ? base : "/tmp") + "/micro.XXXXXX";
    if (!::mkdtemp(d.data())) std::abort();
    return d;
  }();
  return dir;
}

constexpr int64_t kJobs = 3000;  // upper bound of iterations per benchmark

void run_cancels(benchmark::State& state, bool deferred) {
  static int round = 0;
  const std::string dir = scratch() + "/c" + std::to_string(round++);
  ::mkdir(dir.c_str(), 0755);
  xferq::bench::GenSpec g;
  g.db = dir + "/q.db";
  g.files_dir = dir;
  g.jobs = std::min<int64_t>(kJobs, state.max_iterations);
  g.with_temp_files = g.jobs;
  const auto ids = xferq::bench::generate_queue(g);
  xferq::QueueOptions o;
  o.start_worker = false;
  o.defer_cancel_deletes = deferred;
  auto q = std::move(*xferq::Queue::open(g.db, o));
  std::vector<xferq::Job> jobs;
  for (const auto& id : ids) jobs.push_back(*q->get_job(id));
  size_t i = 0;
  for (auto _ : state) {
    if (i >= jobs.size()) {
      state.SkipWithError("out of jobs");
      break;
    }
    if (jobs[i++].cancel()) state.SkipWithError("cancel failed");
  }
}

void BM_Cancel(benchmark::State& state) { run_cancels(state, false); }
// With QueueOptions::defer_cancel_deletes: the janitor thread unlinks.
void BM_CancelDeferred(benchmark::State& state) { run_cancels(state, true); }

void BM_FloorTxn(benchmark::State& state) {
  static int round = 0;
  const std::string dir = scratch() + "/f" + std::to_string(round++);
  ::mkdir(dir.c_str(), 0755);
  xferq::bench::GenSpec g;
  g.db = dir + "/q.db";
  g.files_dir = dir;
  g.jobs = std::min<int64_t>(kJobs, state.max_iterations);
  const auto ids = xferq::bench::generate_queue(g);
  sqlite3* db = nullptr;
  sqlite3_open(g.db.c_str(), &db);
  sqlite3_busy_timeout(db, 10000);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", nullptr, nullptr, nullptr);
  sqlite3_stmt *b, *u, *c;
  sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &b, nullptr);
  sqlite3_prepare_v2(db, "UPDATE jobs SET modified_us = ?2 WHERE id = ?1", -1, &u, nullptr);
  sqlite3_prepare_v2(db, "COMMIT", -1, &c, nullptr);
  size_t i = 0;
  for (auto _ : state) {
    sqlite3_reset(b);
    sqlite3_step(b);
    sqlite3_reset(u);
    sqlite3_bind_text(u, 1, ids[i++ % ids.size()].c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(u, 2, static_cast<int64_t>(i));
    sqlite3_step(u);
    sqlite3_reset(c);
    sqlite3_step(c);
  }
  sqlite3_finalize(b);
  sqlite3_finalize(u);
  sqlite3_finalize(c);
  sqlite3_close(db);
}

}  // namespace

BENCHMARK(BM_Cancel)->Iterations(3000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CancelDeferred)->Iterations(3000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FloorTxn)->Iterations(3000)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
