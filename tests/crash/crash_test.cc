// crash_test.cc — kill a process using the queue at random moments and at
// every named crash point, then check that what is left makes sense.
//
// One queue file and one download directory are reused across all kills of a
// run, like a machine that keeps crashing: jobs, partial temp files and
// finished files accumulate, and each child resumes what the previous ones
// left. After every kill the parent reopens the queue without the worker
// (which applies leftover file operations) and checks:
//   - every job ever seen is still there, in a legal state (0..8), and a job
//     seen final (ACKNOWLEDGED / CANCELLED) never changes state again;
//   - CANCELLED: no temp file and no final file on disk;
//   - ACKNOWLEDGED: each finished file is at its final path, byte-identical to
//     the server's, and no temp file is left (the parent then "consumes" the
//     final files — deletes them — as an application would);
//   - non-final jobs: no final file yet; a finished file's temp file is whole
//     and byte-identical; an unfinished file's temp file holds at least the
//     bytes the database claims, and those bytes are the server's prefix;
//   - no temp file in the directory that no non-final job's row owns;
//   - the outbox (file_ops) is empty after open.
// Every few kills the parent also runs the worker itself on one interrupted
// job and checks that it resumes with a Range request and completes
// byte-identical.
//
// XFERQ_CRASH_ITERATIONS (default 120) sets the number of iterations,
// XFERQ_CRASH_SEED the seed (printed). tests/crash/soak.sh runs many more.
#include <SQLiteCpp/SQLiteCpp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "crash/crash_resources.h"
#include "test_util.h"

extern char** environ;

namespace xferq::testing {
namespace {

using namespace std::chrono_literals;
using crash::kCrashResourceCount;
using crash::kCrashResources;

// Every crash point of engine/src/crash_points.cc. recovery.between_ops is
// reached only when the outbox holds work at open: it is run as a chain (a
// kill at *.after_commit, then a child killed while recovering).
const char* const kCrashPoints[] = {
    "cancel.after_commit",       "complete.after_commit",       "complete.between_renames",
    "worker.after_temp_record",  "worker.after_temp_create",    "worker.after_progress_commit",
    "worker.before_file_finish", "recovery.between_ops",
};
constexpr int kCrashPointCount = sizeof(kCrashPoints) / sizeof(kCrashPoints[0]);
const int kNValues[] = {1, 2, 3};

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

struct ChildResult {
  bool self_killed = false;    // died of SIGKILL before the parent sent one
  bool parent_killed = false;  // the parent sent SIGKILL
  int exit_code = -1;          // if it exited
  int signal = 0;              // if it died of a signal
};

class CrashHarness : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_ / "data";
    ASSERT_EQ(::mkdir(data_.c_str(), 0755), 0);
    db_ = dir_ / "queue.db";
    for (size_t i = 0; i < kCrashResourceCount; ++i) {
      const auto& cr = kCrashResources[i];
      Resource r;
      r.etag = "\"v1\"";
      r.status = cr.status;
      r.bytes_per_sec = cr.bytes_per_sec;
      r.drop_after_bytes = cr.drop_after;
      if (cr.status == 200) {
        r.body = make_body(cr.size, 7000 + static_cast<uint32_t>(i));
        body_[server_.url(cr.path)] = r.body;
        hash_[server_.url(cr.path)] = content_hash(r.body);
      }
      if (cr.good) good_.insert(server_.url(cr.path));
      path_of_[server_.url(cr.path)] = cr.path;
      server_.set(cr.path, std::move(r));
    }
  }

  // Starts crash_child; XFERQ_CRASH_AT is set to `crash_at` (if not empty).
  pid_t spawn_child(uint64_t seed, int jobs, const std::string& crash_at) {
    std::vector<std::string> args = {XFERQ_CRASH_CHILD, "--db", db_, "--dir", data_,
                                     "--base-url", server_.url(""), "--seed", std::to_string(seed),
                                     "--jobs", std::to_string(jobs), "--seconds", "10"};
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, "XFERQ_CRASH_AT=", 15) != 0) env.emplace_back(*e);
    if (!crash_at.empty()) env.push_back("XFERQ_CRASH_AT=" + crash_at);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, XFERQ_CRASH_CHILD, nullptr, nullptr, argv.data(), envp.data());
    EXPECT_EQ(rc, 0) << std::strerror(rc);
    return rc == 0 ? pid : -1;
  }

  // Waits for the child; SIGKILLs it at `kill_after` if still alive.
  ChildResult reap(pid_t pid, std::chrono::milliseconds kill_after) {
    ChildResult r;
    const auto deadline = std::chrono::steady_clock::now() + kill_after;
    int status = 0;
    for (;;) {
      const pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) break;
      if (std::chrono::steady_clock::now() >= deadline && !r.parent_killed) {
        ::kill(pid, SIGKILL);
        r.parent_killed = true;
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(1ms);
    }
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    r.self_killed = !r.parent_killed && r.signal == SIGKILL;
    return r;
  }

  int pending_ops_raw() {
    SQLite::Database raw(db_, SQLite::OPEN_READWRITE);
    raw.setBusyTimeout(10000);
    return raw.execAndGet("SELECT count(*) FROM file_ops").getInt();
  }

  static bool prefix_matches(const std::string& path, const std::string& body, int64_t n, int64_t* size) {
    const std::string disk = read_file(path);
    *size = static_cast<int64_t>(disk.size());
    if (static_cast<int64_t>(disk.size()) < n || static_cast<int64_t>(body.size()) < n) return false;
    return disk.compare(0, static_cast<size_t>(n), body, 0, static_cast<size_t>(n)) == 0;
  }

  // Reopens the queue (no worker) and checks every invariant. `where` names
  // the kill for messages.
  void check_invariants(const std::string& where) {
    SCOPED_TRACE(where);
    auto q = open_queue(db_, test_options(false));
    ASSERT_TRUE(q) << "the queue does not open after the kill";
    {
      SQLite::Database raw(db_, SQLite::OPEN_READWRITE);
      raw.setBusyTimeout(10000);
      EXPECT_EQ(raw.execAndGet("SELECT count(*) FROM file_ops").getInt(), 0)
          << "pending_file_ops not empty after open";
      EXPECT_EQ(raw.execAndGet("SELECT count(*) FROM jobs WHERE state NOT BETWEEN 0 AND 8").getInt(), 0);
      EXPECT_EQ(raw.execAndGet("PRAGMA integrity_check").getString(), "ok");
    }
    auto infos = q->job_infos(true);
    ASSERT_TRUE(infos.ok()) << infos.error().message();
    std::set<std::string> present, owned_temps;
    for (const JobInfo& info : *infos) {
      SCOPED_TRACE("job " + info.id + " " + std::string(to_string(info.state)));
      present.insert(info.id);
      const int s = static_cast<int>(info.state);
      EXPECT_TRUE(s >= 0 && s <= 8) << s;
      auto it = known_.find(info.id);
      if (it != known_.end() && is_final(it->second.state)) {
        EXPECT_EQ(info.state, it->second.state) << "a final job changed state";
      }
      auto job = q->get_job(info.id);
      ASSERT_TRUE(job.ok());
      auto files = job->files();
      ASSERT_TRUE(files.ok());
      Known& k = known_[info.id];
      k.state = info.state;
      for (const FileInfo& f : *files) {
        SCOPED_TRACE("file " + f.local_path + " temp '" + f.temp_path + "' bytes " +
                     std::to_string(f.bytes_transferred) + " completed " + std::to_string(f.completed));
        const bool have_body = body_.count(f.remote_url) != 0;
        if (info.state == JobState::cancelled) {
          if (!f.temp_path.empty()) {
            EXPECT_FALSE(exists(f.temp_path)) << "cancelled job kept a temp file";
          }
          EXPECT_FALSE(exists(f.local_path)) << "cancelled job has a final file";
        } else if (info.state == JobState::acknowledged) {
          if (!f.temp_path.empty()) {
            EXPECT_FALSE(exists(f.temp_path)) << "acknowledged job kept a temp file";
          }
          if (!k.consumed) {
            if (f.completed) {
              ASSERT_TRUE(have_body);
              EXPECT_EQ(file_content_hash(f.local_path), hash_[f.remote_url]) << "final file wrong or missing";
            } else {
              EXPECT_FALSE(exists(f.local_path)) << "an unfinished file of a partial complete appeared";
            }
          }
        } else {
          EXPECT_FALSE(exists(f.local_path)) << "final file before complete";
          if (!f.temp_path.empty()) owned_temps.insert(f.temp_path);
          if (f.bytes_transferred > 0 || f.completed) {
            ASSERT_FALSE(f.temp_path.empty()) << "bytes claimed without a temp file";
            ASSERT_TRUE(have_body);
            int64_t size = -1;
            EXPECT_TRUE(prefix_matches(f.temp_path, body_[f.remote_url], f.bytes_transferred, &size))
                << "the database claims " << f.bytes_transferred << " bytes; the disk holds " << size
                << " (or they differ from the server's)";
            if (f.completed) {
              EXPECT_EQ(f.bytes_transferred, static_cast<int64_t>(body_[f.remote_url].size()));
              EXPECT_EQ(size, f.bytes_transferred) << "finished temp file of the wrong size";
            }
          }
        }
      }
      // Consume the final files of acknowledged jobs once checked.
      if (info.state == JobState::acknowledged && !k.consumed) {
        for (const FileInfo& f : *files) ::unlink(f.local_path.c_str());
        k.consumed = true;
      }
    }
    for (const auto& [id, k] : known_) EXPECT_TRUE(present.count(id)) << "job " << id << " vanished";
    for (const std::string& name : temp_files_in(data_))
      EXPECT_TRUE(owned_temps.count(data_ + "/" + name)) << "orphan temp file " << name;
  }

  // Runs the worker (in this process) on one interrupted job: it must resume
  // with a Range request and complete byte-identical. False if no candidate.
  bool resume_check(const std::string& where) {
    SCOPED_TRACE(where + " resume check");
    auto q = open_queue(db_, test_options(false));
    if (!q) return false;
    auto infos = q->job_infos(false);
    if (!infos) return false;
    std::string target, range_path;
    int64_t from = 0;
    for (const JobInfo& info : *infos) {
      if (info.state == JobState::transferred) continue;
      auto files = q->get_job(info.id)->files();
      if (!files) continue;
      bool all_good = true;
      const FileInfo* partial = nullptr;
      for (const FileInfo& f : *files) {
        all_good = all_good && good_.count(f.remote_url);
        if (!f.completed && !partial) partial = &f;
      }
      if (!all_good || !partial || partial->bytes_transferred <= 0 ||
          partial->bytes_transferred >= static_cast<int64_t>(body_[partial->remote_url].size()))
        continue;
      target = info.id;
      range_path = path_of_[partial->remote_url];
      from = partial->bytes_transferred;
      break;
    }
    if (target.empty()) return false;
    // Only the target runs: the others are suspended (the next child resumes them).
    for (const JobInfo& info : *infos)
      if (info.id != target) q->get_job(info.id)->suspend();
    Job job = *q->get_job(target);
    const JobState before = *job.state();
    if (before == JobState::suspended || before == JobState::error || before == JobState::transient_error) {
      EXPECT_FALSE(job.resume());
    }
    server_.clear_log();
    q->start_worker();
    EXPECT_TRUE(wait_state(job, JobState::transferred, 30000ms)) << state_name(job);
    bool ranged = false;
    for (const RequestRecord& r : server_.requests_for(range_path))
      ranged = ranged || (r.range == "bytes=" + std::to_string(from) + "-" && r.if_range == "\"v1\"");
    EXPECT_TRUE(ranged) << "no 'Range: bytes=" << from << "-' with If-Range for " << range_path;
    CompleteStatus status = CompleteStatus::partial;
    EXPECT_FALSE(job.complete(&status));
    EXPECT_EQ(status, CompleteStatus::all_files);
    auto files = job.files();
    EXPECT_TRUE(files.ok());
    if (files.ok()) {
      for (const FileInfo& f : *files) {
        EXPECT_EQ(file_content_hash(f.local_path), hash_[f.remote_url]) << f.local_path;
        ::unlink(f.local_path.c_str());
      }
    }
    known_[target] = Known{JobState::acknowledged, true};
    return true;
  }

  struct Known {
    JobState state = JobState::suspended;
    bool consumed = false;
  };

  ScratchDir dir_;
  FixtureServer server_;
  std::string data_, db_;
  std::map<std::string, std::string> body_, hash_, path_of_;
  std::set<std::string> good_;
  std::map<std::string, Known> known_;
};

TEST_F(CrashHarness, SurvivesKillsAtRandomMomentsAndAtEveryCrashPoint) {
  const uint64_t seed = env_u64("XFERQ_CRASH_SEED", std::random_device{}());
  const int iterations = static_cast<int>(env_u64("XFERQ_CRASH_ITERATIONS", 120));
  SCOPED_TRACE("XFERQ_CRASH_SEED=" + std::to_string(seed));
  std::printf("crash test: seed %llu, %d iterations\n", static_cast<unsigned long long>(seed), iterations);
  std::mt19937_64 rng(seed);
  int kills = 0, random_kills = 0, point_hits = 0, point_misses = 0, resume_checks = 0, resume_skipped = 0;
  std::map<std::string, int> hits;
  uint64_t child_seed = seed * 100000;
  int point_round = 0;
  std::chrono::steady_clock::duration check_time{}, resume_time{};

  auto kill_one = [&](const std::string& crash_at, std::chrono::milliseconds after) {
    const pid_t pid = spawn_child(++child_seed, 1 + static_cast<int>(rng() % 4), crash_at);
    if (pid < 0) return ChildResult{};
    ChildResult r = reap(pid, after);
    EXPECT_TRUE(r.signal == SIGKILL) << "child " << (crash_at.empty() ? "random kill" : crash_at)
                                     << " exited with code " << r.exit_code << " / signal " << r.signal;
    ++kills;
    return r;
  };

  for (int i = 0; i < iterations && !HasFailure(); ++i) {
    std::string where = "iteration " + std::to_string(i);
    if (i % 3 == 2) {
      // A crash point, with N cycling through 1..3.
      const int combo = point_round++ % (kCrashPointCount * 3);
      const std::string point = kCrashPoints[combo % kCrashPointCount];
      // The outbox holds one operation at a time here: recovery.between_ops only with N = 1.
      const int n = point == "recovery.between_ops" ? 1 : kNValues[combo / kCrashPointCount];
      const std::string spec = point + ":" + std::to_string(n);
      where += " XFERQ_CRASH_AT=" + spec;
      if (point == "recovery.between_ops") {
        // Leave work in the outbox first: a kill right after a cancel or complete commits.
        const std::string first = (combo / kCrashPointCount) % 2 ? "cancel.after_commit" : "complete.after_commit";
        ChildResult r1 = kill_one(first, 3000ms);
        if (r1.self_killed) {
          ++hits[first];
          ++point_hits;
          EXPECT_GE(pending_ops_raw(), 1) << where << ": killed after commit, but the outbox is empty";
          // Count the first kill as its own point (the check after it is the
          // outbox check above; the full check follows the second kill).
        } else {
          ++random_kills;
          ++point_misses;
        }
      }
      ChildResult r = kill_one(spec, 3000ms);
      if (r.self_killed) {
        ++hits[spec];
        ++point_hits;
      } else {
        ++point_misses;
        ++random_kills;
        where += " (not reached: killed by the parent)";
      }
    } else {
      const auto delay = std::chrono::milliseconds(20 + rng() % 381);
      where += " random kill after " + std::to_string(delay.count()) + " ms";
      ChildResult r = kill_one("", delay);
      if (r.self_killed) ++point_hits;  // cannot happen without XFERQ_CRASH_AT
      ++random_kills;
    }
    auto t0 = std::chrono::steady_clock::now();
    check_invariants(where);
    check_time += std::chrono::steady_clock::now() - t0;
    if (HasFailure()) break;
    if (i % 10 == 9) {
      t0 = std::chrono::steady_clock::now();
      (resume_check(where) ? resume_checks : resume_skipped)++;
      resume_time += std::chrono::steady_clock::now() - t0;
    }
  }
  const int survived = HasFailure() ? 0 : kills;
  std::printf("crash test: %d kill points (%d at a named crash point, %d at a random moment), "
              "%d crash-point runs not reached, %d resume checks (%d without a candidate), %zu jobs\n",
              kills, point_hits, random_kills, point_misses, resume_checks, resume_skipped, known_.size());
  std::printf("  time in checks %.1f s, in resume checks %.1f s\n",
              std::chrono::duration<double>(check_time).count(), std::chrono::duration<double>(resume_time).count());
  for (const auto& [name, n] : hits) std::printf("  %-34s %d\n", name.c_str(), n);
  std::printf("CRASH-SURVIVED %d\n", survived);
  std::fflush(stdout);
  EXPECT_GE(kills, iterations);
}

}  // namespace
}  // namespace xferq::testing
