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
//
// Power cuts (CrashHarness.SurvivesSimulatedPowerCuts: synchronous=FULL;
// ...WithSynchronousNormal: NORMAL): the same workload, with
// tests/crash/powercut_shim.c preloaded into the child. After each kill the
// parent rolls every file under the scratch directory back to what a power cut
// would leave (powercut_model.h: content not fsync'd and namespace changes
// whose directory was not fsync'd are lost; PowerCutShim.KeepsOnlyWhatWasSynced
// checks the mechanism) and checks:
//   - FULL: every API call that returned success before the cut survived
//     (the child reports its calls on a pipe, --call-log-fd, never through a
//     file the cut could touch), and each job's state is one its last
//     successful call allows (the call in flight at the cut may or may not
//     have happened);
//   - NORMAL: only the last transactions rolled back: the successful calls
//     that survived are a prefix of those made (a second connection in the
//     child checkpoints at random moments, so cuts roll back to varied
//     points);
//   - both: integrity_check ok, every job in a legal state, the outbox empty
//     after open, no job seen by the parent vanished, no final job changed;
//     no acknowledged file corrupt or missing; no temp file of a cancelled or
//     acknowledged job; the database never claims more bytes than the temp
//     file holds, and no final file of a job not acknowledged — under NORMAL
//     except where a rolled-back Cancel or Complete explains it (its
//     deletions or renames were made durable by a directory fsync after it):
//     then the job must download again and complete (a drain follows at
//     once); no orphan temp file (a temp file belongs to a job that is not
//     final: at its recorded path, or at the path the worker will record and
//     adopt when the job runs again);
//   - every 10 cuts and at the end, a drain: the parent runs the worker (its
//     recovery included) until every job with good resources is transferred,
//     completes them and compares every final file with the server's (a
//     Complete must succeed: never fail, never leave a missing or short
//     file), cancels the others, and then no temp file may be left.
// XFERQ_POWERCUT_ITERATIONS (default 60 per test) and XFERQ_POWERCUT_SECONDS
// (default 100: no new cut starts after it) bound a run; XFERQ_CRASH_SEED
// sets the seed. Each violation names its kind ([orphan-temp-file], ...);
// XFERQ_POWERCUT_TOLERATE=kind,kind... counts those kinds without failing, so
// a run can go on past a known engine bug.
//
// Every failure ends with CRASH-FAILURE lines: the seed, the iteration and
// kill (or cut) point, the first violated invariant, and the command that
// replays the run (same seed, same children, same kill points; the timing of
// a random kill is not reproducible to the microsecond).
#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "crash/crash_resources.h"
#include "crash/powercut_model.h"
#include "crash_points.h"
#include "fs/file_ops.h"
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
    "cancel.after_commit",       "cancel.after_discard",        "complete.after_commit",
    "complete.between_renames",  "worker.after_temp_record",    "worker.after_temp_create",
    "worker.after_progress_commit", "worker.before_file_finish", "recovery.between_ops",
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
  std::string call_log;        // what the child reported on --call-log-fd
};

// How a child is started.
struct ChildSpec {
  uint64_t seed = 1;
  int jobs = 1;
  std::string crash_at;    // XFERQ_CRASH_AT, if not empty
  bool powercut = false;   // preload the power-cut shim over the scratch directory
  bool full_sync = false;  // --synchronous full
};

// Records the first failure of a test, for the CRASH-FAILURE summary.
class FirstFailure : public ::testing::EmptyTestEventListener {
 public:
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    ++count;
    if (!text.empty()) return;
    std::ostringstream o;
    o << (r.file_name() ? r.file_name() : "?") << ":" << r.line_number() << ": " << r.summary();
    text = o.str();
  }
  std::string text;
  int count = 0;
};

// One API call the child reported (crash_child.cc, --call-log-fd).
struct LoggedCall {
  long seq = 0;
  std::string call, job;  // job: "-" for create
  std::vector<std::string> args;
  bool ended = false, ok = false;
  std::string result;  // create: the new job's id
  bool earlier_cut = false;  // made by a child cut before the last one (a chain of two cuts)
  std::string text() const {
    std::string t = std::string(earlier_cut ? "(first child) " : "") + "#" + std::to_string(seq) + " " + call + " " + job;
    for (const auto& a : args) t += " " + a;
    t += !ended ? " (in flight at the cut)" : ok ? " -> ok" : " -> failed";
    if (!result.empty()) t += " " + result;
    return t;
  }
};

std::vector<LoggedCall> parse_call_log(const std::string& text) {
  std::vector<LoggedCall> calls;
  std::map<long, size_t> index;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string kind;
    long seq = 0;
    l >> kind >> seq;
    if (kind == "B") {
      LoggedCall c;
      c.seq = seq;
      l >> c.call >> c.job;
      if (c.call == "create") {  // the rest is the display name
        std::string name;
        std::getline(l, name);
        c.args.push_back(name.empty() ? name : name.substr(1));
      } else {
        for (std::string a; l >> a;) c.args.push_back(a);
      }
      index[seq] = calls.size();
      calls.push_back(c);
    } else if (kind == "E" && index.count(seq)) {
      LoggedCall& c = calls[index[seq]];
      std::string outcome;
      l >> outcome;
      c.ended = true;
      c.ok = outcome == "ok";
      l >> c.result;
    }
  }
  return calls;
}

constexpr uint32_t bit(JobState s) { return 1u << static_cast<int>(s); }
constexpr uint32_t kActive = bit(JobState::queued) | bit(JobState::connecting) | bit(JobState::transferring) |
                             bit(JobState::transient_error) | bit(JobState::error) | bit(JobState::transferred);

// The states a job in state `s` can be in later without another API call (the
// worker's moves only).
uint32_t worker_closure(JobState s) {
  switch (s) {
    case JobState::queued:
    case JobState::connecting:
    case JobState::transferring:
    case JobState::transient_error:
      return kActive;
    default:
      return bit(s);
  }
}

// The states a job can be in after `call` returned success (followed by the
// worker's moves), whatever its state before; 0 for calls that change no state.
uint32_t after_call(const std::string& call) {
  if (call == "create" || call == "add") return bit(JobState::suspended);
  if (call == "suspend") return bit(JobState::suspended) | bit(JobState::error) | bit(JobState::transferred);
  if (call == "resume") return kActive;
  if (call == "cancel") return bit(JobState::cancelled);
  if (call == "complete") return bit(JobState::acknowledged);
  return 0;
}

std::string states_text(uint32_t mask) {
  std::string out;
  for (int s = 0; s <= 8; ++s)
    if (mask & (1u << s)) out += (out.empty() ? "" : "|") + std::string(to_string(static_cast<JobState>(s)));
  return out.empty() ? "(none)" : out;
}

std::set<std::string> split_list(const char* v) {
  std::set<std::string> out;
  std::string cur;
  for (const char* p = v ? v : ""; ; ++p) {
    if (*p == ',' || *p == 0) {
      if (!cur.empty()) out.insert(cur);
      cur.clear();
      if (*p == 0) break;
    } else if (*p != ' ') {
      cur += *p;
    }
  }
  return out;
}

// The sanitizer runtimes loaded in this process ("" in a plain build), as an
// LD_PRELOAD prefix: "/.../libasan.so.8:/.../libubsan.so.1:".
std::string sanitizer_runtimes() {
  std::ifstream maps("/proc/self/maps");
  std::vector<std::string> found;
  for (std::string line; std::getline(maps, line);) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    for (const char* lib : {"/libasan.so", "/libtsan.so", "/libubsan.so"})
      if (path.find(lib) != std::string::npos && std::find(found.begin(), found.end(), path) == found.end())
        found.push_back(path);
  }
  // ASan insists on being first.
  std::stable_sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
    return (a.find("/libasan.so") != std::string::npos) > (b.find("/libasan.so") != std::string::npos);
  });
  std::string out;
  for (const std::string& p : found) out += p + ":";
  return out;
}

// This process's environment without XFERQ_CRASH_AT; with the power-cut shim
// preloaded over `cut_dir` if `powercut`.
std::vector<std::string> child_env(bool powercut, const std::string& cut_dir) {
  std::vector<std::string> env;
  std::string preload, asan = "ASAN_OPTIONS=verify_asan_link_order=0";
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "XFERQ_CRASH_AT=", 15) == 0 || std::strncmp(*e, "XFERQ_POWERCUT_", 15) == 0) continue;
    if (powercut && std::strncmp(*e, "LD_PRELOAD=", 11) == 0) {
      preload = *e + 11;
      continue;
    }
    if (powercut && std::strncmp(*e, "ASAN_OPTIONS=", 13) == 0) {
      asan = std::string(*e) + ":verify_asan_link_order=0";
      continue;
    }
    env.emplace_back(*e);
  }
  if (powercut) {
    // A sanitized child (this process is built like it) wants its runtime
    // loaded first, before any interposer runs: it comes first, then the
    // shim (never sanitized), which passes every call on to the next
    // definition (libc's).
    env.push_back("LD_PRELOAD=" + sanitizer_runtimes() + std::string(XFERQ_POWERCUT_SHIM) +
                  (preload.empty() ? "" : ":" + preload));
    env.push_back(asan);
    env.push_back("XFERQ_POWERCUT_DIR=" + cut_dir);
    env.push_back("XFERQ_POWERCUT_STATE=" + cut_dir + "/.powercut");
  }
  return env;
}

// Starts crash_child with `args` and `env`; `log_fd` (if >= 0) becomes its fd 3.
pid_t spawn(std::vector<std::string> args, std::vector<std::string> env, int log_fd) {
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (log_fd >= 0) posix_spawn_file_actions_adddup2(&actions, log_fd, 3);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, XFERQ_CRASH_CHILD, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << std::strerror(rc);
  return rc == 0 ? pid : -1;
}

// A pipe for the child's call log: {read end (non-blocking), write end},
// both above 3 and close-on-exec (dup2 onto 3 clears it in the child).
std::pair<int, int> call_log_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return {-1, -1};
  const int r = ::fcntl(p[0], F_DUPFD_CLOEXEC, 10), w = ::fcntl(p[1], F_DUPFD_CLOEXEC, 10);
  ::close(p[0]);
  ::close(p[1]);
  ::fcntl(w, F_SETFL, 0);  // the child writes blocking
  return {r, w};
}

void drain_pipe(int fd, std::string* out) {
  if (fd < 0) return;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return;  // EAGAIN (nothing yet) or EOF
  }
}


class CrashHarness : public ::testing::Test {
 protected:
  void SetUp() override {
    ::testing::UnitTest::GetInstance()->listeners().Append(&first_failure_);
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

  void TearDown() override {
    ::testing::UnitTest::GetInstance()->listeners().Release(&first_failure_);
    if (!HasFailure()) return;
    // What it takes to replay the failure, on every failure path.
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string test = std::string(info->test_suite_name()) + "." + info->name();
    std::printf("CRASH-FAILURE test %s, mode %s, seed %llu\n", test.c_str(), mode_.c_str(),
                static_cast<unsigned long long>(seed_));
    std::printf("CRASH-FAILURE at %s\n", where_.empty() ? "(before the first kill)" : where_.c_str());
    std::printf("CRASH-FAILURE invariant (first of %d failures): %s\n", first_failure_.count,
                first_failure_.text.c_str());
    if (!violation_.empty()) std::printf("CRASH-FAILURE violation kind: %s\n", violation_.c_str());
    if (!last_calls_.empty()) {
      std::printf("CRASH-FAILURE the child's last API calls before the %s:\n", mode_ == "kill" ? "kill" : "cut");
      const size_t from = last_calls_.size() > 25 ? last_calls_.size() - 25 : 0;
      for (size_t i = from; i < last_calls_.size(); ++i) std::printf("    %s\n", last_calls_[i].text().c_str());
    }
    if (!last_cut_actions_.empty())
      std::printf("CRASH-FAILURE what the power cut did: %s\n%s", last_cut_summary_.c_str(), last_cut_actions_.c_str());
    std::printf("CRASH-FAILURE replay: %s=%d XFERQ_CRASH_SEED=%llu %s --gtest_filter=%s\n", iterations_var_.c_str(),
                iteration_ + 1, static_cast<unsigned long long>(seed_), XFERQ_CRASH_TEST_BINARY, test.c_str());
    std::fflush(stdout);
  }

  // Starts crash_child; XFERQ_CRASH_AT is set to `crash_at` (if not empty).
  pid_t spawn_child(uint64_t seed, int jobs, const std::string& crash_at) {
    ChildSpec spec;
    spec.seed = seed;
    spec.jobs = jobs;
    spec.crash_at = crash_at;
    return spawn_child(spec, -1);
  }

  // Starts crash_child as `spec` says; `log_fd` (if >= 0) becomes its --call-log-fd 3.
  pid_t spawn_child(const ChildSpec& spec, int log_fd) {
    std::vector<std::string> args = {XFERQ_CRASH_CHILD, "--db", db_, "--dir", data_,
                                     "--base-url", server_.url(""), "--seed", std::to_string(spec.seed),
                                     "--jobs", std::to_string(spec.jobs), "--seconds", "10"};
    if (spec.powercut) {
      args.insert(args.end(), {"--synchronous", spec.full_sync ? "full" : "normal"});
      // Under NORMAL, checkpoints make commits durable: a second connection
      // runs them at random moments, so cuts roll back to varied points.
      if (!spec.full_sync) args.insert(args.end(), {"--checkpoint-ms", "150"});
    }
    if (log_fd >= 0) args.insert(args.end(), {"--call-log-fd", "3"});
    std::vector<std::string> env = child_env(spec.powercut, dir_.path());
    if (!spec.crash_at.empty()) env.push_back("XFERQ_CRASH_AT=" + spec.crash_at);
    return spawn(args, env, log_fd);
  }

  // Waits for the child; SIGKILLs it at `kill_after` if still alive. Reads
  // its call log from `log_fd` (if >= 0) meanwhile and to the end.
  ChildResult reap(pid_t pid, std::chrono::milliseconds kill_after, int log_fd = -1) {
    ChildResult r;
    const auto deadline = std::chrono::steady_clock::now() + kill_after;
    int status = 0;
    for (;;) {
      drain_pipe(log_fd, &r.call_log);
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
    drain_pipe(log_fd, &r.call_log);
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    r.self_killed = !r.parent_killed && r.signal == SIGKILL;
    return r;
  }

  int pending_ops_raw() {
    SQLite::Database raw(db_, SQLite::OPEN_READWRITE);
    raw.setBusyTimeout(10000);
    return raw.execAndGet("SELECT count(*) FROM file_ops WHERE kind != 0").getInt();
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
      EXPECT_EQ(raw.execAndGet("SELECT count(*) FROM file_ops WHERE kind != 0").getInt(), 0)
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
    // A kill loses no commit: every file a Cancel moved aside has its outbox
    // row, and opening the queue carried the row out.
    for (const std::string& name : discarded_files_in(data_))
      ADD_FAILURE() << "a discarded temp file outlived recovery: " << name;
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

  // Power cuts: the harness's declarations (definitions below the fixture).
  struct Expect {
    uint32_t states = 0;                // the states the job may be in
    std::optional<int> priority;        // set by the last successful set_priority
    std::set<std::string> files;        // local paths added with success
  };
  void run_power_cuts(bool full_sync, const char* test_tag);
  ChildResult cut_one(const ChildSpec& spec, std::chrono::milliseconds after, crash::PowerCutResult* cut);
  void check_after_cut(const std::string& where, bool full_sync, const std::vector<LoggedCall>& calls,
                       std::set<std::string>* must_redownload);
  void drain(const std::string& where);
  void violation(const std::string& kind, const std::string& what);

  ScratchDir dir_;
  FixtureServer server_;
  std::string data_, db_;
  std::map<std::string, std::string> body_, hash_, path_of_;
  std::set<std::string> good_;
  std::map<std::string, Known> known_;

  // Diagnostics (TearDown prints them when the test failed).
  FirstFailure first_failure_;
  std::string mode_ = "kill", where_, violation_, iterations_var_ = "XFERQ_CRASH_ITERATIONS";
  uint64_t seed_ = 0;
  int iteration_ = 0;
  std::vector<LoggedCall> last_calls_;
  std::string last_cut_summary_, last_cut_actions_;

  // Power cuts.
  std::map<std::string, Expect> expect_;
  int64_t calls_kept_ = 0, calls_lost_ = 0, cuts_with_partial_rollback_ = 0;  // decidable successful calls
  std::set<std::string> stray_finals_;  // final files a rolled-back Complete renamed (NORMAL)
  std::map<std::string, std::string> hex_to_id_;  // the job id as temp file names spell it
  std::map<std::string, std::vector<std::string>> history_;  // per job: its calls and what cuts did to its files
  void note(const std::string& id, const std::string& what) { history_[id].push_back(what); }
  std::string history(const std::string& id) const {
    auto it = history_.find(id);
    if (it == history_.end()) return " (no history)";
    std::string out;
    const size_t from = it->second.size() > 30 ? it->second.size() - 30 : 0;
    for (size_t i = from; i < it->second.size(); ++i) out += "\n      " + it->second[i];
    return out;
  }
  // The job a temp file (or its twin) is named after; "" if unknown.
  std::string job_of_file(const std::string& name) const {
    auto it = hex_to_id_.find(name.substr(name.find(".xferq-") + 7, 32));
    return it == hex_to_id_.end() ? std::string() : it->second;
  }
  // The history of the job a temp file is named after.
  std::string history_of_file(const std::string& name) const {
    const std::string id = job_of_file(name);
    return id.empty() ? std::string(" (unknown job)") : history(id);
  }
  std::string files_text(Queue& q, const std::string& id) {
    auto files = q.get_job(id)->files();
    if (!files.ok()) return " (files unreadable)";
    std::string out;
    for (const FileInfo& f : *files) {
      const std::string temp = f.temp_path.empty() ? std::string("(none recorded)")
                               : f.temp_path + (exists(f.temp_path) ? " (" + std::to_string(read_file(f.temp_path).size()) +
                                                                          " bytes on disk)"
                                                                    : std::string(" (gone)"));
      out += "\n      " + f.local_path + (exists(f.local_path) ? " (final file exists)" : "") + ": claims " +
             std::to_string(f.bytes_transferred) + "/" + std::to_string(f.bytes_total) + " bytes, completed " +
             std::to_string(f.completed) + ", temp " + temp;
    }
    return out;
  }
  std::set<std::string> tolerate_ = split_list(std::getenv("XFERQ_POWERCUT_TOLERATE"));
  std::map<std::string, int> violations_, tolerated_;
};

TEST_F(CrashHarness, SurvivesKillsAtRandomMomentsAndAtEveryCrashPoint) {
  if (!detail::crash_points_compiled()) GTEST_SKIP() << "the library has no crash points (XFERQ_CRASH_POINTS=OFF)";
  const uint64_t seed = env_u64("XFERQ_CRASH_SEED", std::random_device{}());
  const int iterations = static_cast<int>(env_u64("XFERQ_CRASH_ITERATIONS", 120));
  seed_ = seed;
  SCOPED_TRACE("XFERQ_CRASH_SEED=" + std::to_string(seed));
  std::printf("crash test: seed %llu, %d iterations\n", static_cast<unsigned long long>(seed), iterations);
  std::mt19937_64 rng(seed);
  int kills = 0, random_kills = 0, point_hits = 0, point_misses = 0, resume_checks = 0, resume_skipped = 0;
  int outbox_applied_early = 0;
  std::map<std::string, int> hits;
  uint64_t child_seed = seed * 100000;
  int point_round = 0;
  std::chrono::steady_clock::duration check_time{}, resume_time{};

  auto kill_one = [&](const std::string& crash_at, std::chrono::milliseconds after) {
    ChildSpec spec;
    spec.seed = ++child_seed;
    spec.jobs = 1 + static_cast<int>(rng() % 4);
    spec.crash_at = crash_at;
    // The child reports its API calls (for the diagnostics of a failure).
    const auto [rfd, wfd] = call_log_pipe();
    const pid_t pid = spawn_child(spec, wfd);
    ::close(wfd);
    ChildResult r;
    if (pid >= 0) r = reap(pid, after, rfd);
    ::close(rfd);
    if (pid < 0) return r;
    last_calls_ = parse_call_log(r.call_log);
    EXPECT_TRUE(r.signal == SIGKILL) << where_ << ": child " << (crash_at.empty() ? "random kill" : crash_at)
                                     << " exited with code " << r.exit_code << " / signal " << r.signal;
    ++kills;
    return r;
  };

  for (int i = 0; i < iterations && !HasFailure(); ++i) {
    std::string where = "iteration " + std::to_string(i);
    iteration_ = i;
    where_ = where + " (child seed " + std::to_string(child_seed + 1) + ")";
    if (i % 3 == 2) {
      // A crash point, with N cycling through 1..3.
      const int combo = point_round++ % (kCrashPointCount * 3);
      const std::string point = kCrashPoints[combo % kCrashPointCount];
      // The outbox holds one operation at a time here: recovery.between_ops only with N = 1.
      const int n = point == "recovery.between_ops" ? 1 : kNValues[combo / kCrashPointCount];
      const std::string spec = point + ":" + std::to_string(n);
      where += " XFERQ_CRASH_AT=" + spec;
      where_ += " kill point XFERQ_CRASH_AT=" + spec;
      if (point == "recovery.between_ops") {
        // Leave work in the outbox first: a kill right after a cancel or complete commits.
        const std::string first = (combo / kCrashPointCount) % 2 ? "cancel.after_commit" : "complete.after_commit";
        where_ += " (first a kill at XFERQ_CRASH_AT=" + first + ")";
        ChildResult r1 = kill_one(first, 3000ms);
        if (r1.self_killed) {
          ++hits[first];
          ++point_hits;
          // The operation is in the outbox — unless the worker's start-up
          // recovery (Outbox::apply_pending, on its own thread) took and
          // carried it out between the commit and the kill: a Complete of a
          // job left TRANSFERRED is the child's first call. The full check
          // after the second kill covers the outcome either way.
          if (pending_ops_raw() == 0) {
            // Then the call killed at the crash point took effect in full.
            const LoggedCall* killed = nullptr;
            for (const LoggedCall& c : last_calls_)
              if (!c.ended) killed = &c;
            const JobState want = first == "cancel.after_commit" ? JobState::cancelled : JobState::acknowledged;
            std::string state = "(no call in flight)";
            if (killed) {
              SQLite::Database raw(db_, SQLite::OPEN_READONLY);
              SQLite::Statement st(raw, "SELECT state FROM jobs WHERE id = ?");
              st.bind(1, killed->job);
              state = st.executeStep() ? std::string(to_string(static_cast<JobState>(st.getColumn(0).getInt())))
                                       : std::string("(no such job)");
            }
            EXPECT_TRUE(killed && state == to_string(want))
                << where << ": killed right after " << first << " committed, the outbox is empty, and the call "
                << (killed ? killed->text() : std::string("?")) << " left the job " << state;
            ++outbox_applied_early;
            where += " (" + first + " left no outbox row: recovery had applied it)";
          }
          // Count the first kill as its own point (the full check follows the second kill).
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
      where_ += " kill point: a random kill after " + std::to_string(delay.count()) + " ms";
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
      where_ += ", then the resume check";
      (resume_check(where) ? resume_checks : resume_skipped)++;
      resume_time += std::chrono::steady_clock::now() - t0;
    }
  }
  const int survived = HasFailure() ? 0 : kills;
  std::printf("crash test: %d kill points (%d at a named crash point, %d at a random moment), "
              "%d crash-point runs not reached, %d resume checks (%d without a candidate), %zu jobs\n",
              kills, point_hits, random_kills, point_misses, resume_checks, resume_skipped, known_.size());
  if (outbox_applied_early)
    std::printf("  %d kills after a commit found the outbox already applied by the worker's start-up recovery\n",
                outbox_applied_early);
  std::printf("  time in checks %.1f s, in resume checks %.1f s\n",
              std::chrono::duration<double>(check_time).count(), std::chrono::duration<double>(resume_time).count());
  for (const auto& [name, n] : hits) std::printf("  %-34s %d\n", name.c_str(), n);
  std::printf("CRASH-SURVIVED %d\n", survived);
  std::fflush(stdout);
  EXPECT_GE(kills, iterations);
}

// ---- Power cuts ---------------------------------------------------------------------

std::string state_dir_of(const std::string& scratch) { return scratch + "/.powercut"; }

void CrashHarness::violation(const std::string& kind, const std::string& what) {
  if (tolerate_.count(kind)) {
    if (++tolerated_[kind] <= 3)
      std::printf("tolerated violation [%s] at %s: %s\n", kind.c_str(), where_.c_str(), what.c_str());
    return;
  }
  ++violations_[kind];
  if (violation_.empty()) violation_ = kind;
  ADD_FAILURE() << "[" << kind << "] " << what;
}

// Runs one child under the shim, kills it (it may kill itself at a crash
// point first) and cuts the power: every file under the scratch directory
// goes back to its durable state.
ChildResult CrashHarness::cut_one(const ChildSpec& spec, std::chrono::milliseconds after, crash::PowerCutResult* cut) {
  const auto [rfd, wfd] = call_log_pipe();
  const pid_t pid = spawn_child(spec, wfd);
  ::close(wfd);
  ChildResult r;
  if (pid >= 0) r = reap(pid, after, rfd);
  ::close(rfd);
  EXPECT_EQ(r.signal, SIGKILL) << where_ << ": the child exited with code " << r.exit_code << " / signal "
                               << r.signal;
  const std::string state = state_dir_of(dir_.path());
  *cut = crash::power_cut(dir_.path(), state);
  crash::clear_powercut_state(state);
  last_cut_summary_ = cut->summary();
  last_cut_actions_ = cut->details();
  for (const std::string& x : cut->unsupported) violation("shim-unsupported", "the power-cut model does not cover: " + x);
  return r;
}

// The invariants after one power cut (see the top of the file).
void CrashHarness::check_after_cut(const std::string& where, bool full_sync, const std::vector<LoggedCall>& calls,
                                   std::set<std::string>* must_redownload) {
  SCOPED_TRACE(where);
  auto q = open_queue(db_, test_options(false));
  if (!q) return violation("queue-does-not-open", "the queue does not open after the power cut");
  {
    SQLite::Database raw(db_, SQLite::OPEN_READWRITE);
    raw.setBusyTimeout(10000);
    const int ops = raw.execAndGet("SELECT count(*) FROM file_ops WHERE kind != 0").getInt();
    if (ops != 0) violation("outbox-not-empty", std::to_string(ops) + " file operations pending after open");
    const int illegal = raw.execAndGet("SELECT count(*) FROM jobs WHERE state NOT BETWEEN 0 AND 8").getInt();
    if (illegal != 0) violation("illegal-state", std::to_string(illegal) + " jobs in a state outside 0..8");
    const std::string integrity = raw.execAndGet("PRAGMA integrity_check").getString();
    if (integrity != "ok") violation("database-corrupt", "integrity_check: " + integrity);
  }
  auto infos = q->job_infos(true);
  if (!infos.ok()) return violation("queue-unreadable", infos.error().message());
  std::map<std::string, JobInfo> by_id;
  std::map<std::string, std::vector<FileInfo>> files_of;
  for (const JobInfo& info : *infos) {
    by_id[info.id] = info;
    auto files = q->get_job(info.id)->files();
    if (!files.ok()) {
      violation("queue-unreadable", "files of job " + info.id + ": " + files.error().message());
      continue;
    }
    files_of[info.id] = *files;
  }

  // -- The API calls the child made before the cut.
  auto job_of = [](const LoggedCall& c) { return c.call == "create" ? c.result : c.job; };
  // +1: its effect is there; -1: it is not; 0: cannot tell; 2: part of it is there.
  auto survived = [&](const LoggedCall& c) -> int {
    const std::string id = job_of(c);
    auto it = by_id.find(id);
    if (c.call == "create") return it != by_id.end() ? 1 : -1;
    if (it == by_id.end()) return -1;
    if (c.call == "add") {
      size_t present = 0;
      for (const std::string& path : c.args)
        for (const FileInfo& f : files_of[id]) present += f.local_path == path;
      return present == c.args.size() ? 1 : present == 0 ? -1 : 2;
    }
    if (c.call == "cancel") return it->second.state == JobState::cancelled ? 1 : -1;
    if (c.call == "complete") return it->second.state == JobState::acknowledged ? 1 : -1;
    return 0;
  };
  std::vector<const LoggedCall*> ok_calls;
  for (const LoggedCall& c : calls)
    if (c.ended && c.ok) ok_calls.push_back(&c);
  // The prefix rule holds within the last child's calls: an earlier cut of a
  // chain may have rolled back some of its calls before the last child ran.
  int last_survivor = -1;
  for (size_t i = 0; i < ok_calls.size(); ++i)
    if (!ok_calls[i]->earlier_cut && survived(*ok_calls[i]) == 1) last_survivor = static_cast<int>(i);
  std::set<std::string> lost_cancel, lost_complete;  // jobs whose Cancel / Complete rolled back
  int cut_lost = 0, cut_kept = 0;
  for (const LoggedCall* c : ok_calls) {
    const int st = survived(*c);
    cut_kept += st == 1;
    cut_lost += st == -1;
  }
  calls_kept_ += cut_kept;
  calls_lost_ += cut_lost;
  cuts_with_partial_rollback_ += cut_lost > 0 && cut_kept > 0;
  for (size_t i = 0; i < ok_calls.size(); ++i) {
    const LoggedCall& c = *ok_calls[i];
    const int st = survived(c);
    if (st == 2) violation("torn-call", "part of one call's effect survived: " + c.text());
    if (st != -1) continue;
    if (c.call == "cancel") lost_cancel.insert(c.job);
    if (c.call == "complete") lost_complete.insert(c.job);
    if (full_sync) {
      violation("acknowledged-call-lost", "synchronous=FULL, yet a call that returned success before the cut is "
                                          "gone after it: " + c.text());
    } else if (!c.earlier_cut && static_cast<int>(i) < last_survivor) {
      violation("rollback-not-a-prefix", "a call that returned success rolled back: " + c.text() +
                                             ", but a later one survived: " + ok_calls[last_survivor]->text());
    }
  }
  for (const LoggedCall& c : calls)  // the call in flight may or may not have committed
    if (!c.ended && c.call == "cancel") lost_cancel.insert(c.job);
  for (const LoggedCall& c : calls)
    if (!c.ended && c.call == "complete") lost_complete.insert(c.job);

  // -- Each job's state against what the calls allow.
  std::set<std::string> ids;
  for (const auto& [id, e] : expect_) ids.insert(id);
  for (const LoggedCall& c : calls)
    if (!job_of(c).empty()) ids.insert(job_of(c));
  for (const std::string& id : ids) {
    auto it = by_id.find(id);
    if (it == by_id.end()) continue;  // a lost create, or a vanished job: reported above / below
    const JobInfo& info = it->second;
    const uint32_t base = expect_.count(id) ? expect_[id].states : 0;
    uint32_t allowed = base, cur = base;
    int prio = -1;  // -1: nothing known
    if (expect_.count(id) && expect_[id].priority) prio = *expect_[id].priority;
    bool prio_in_flight = false;
    std::string history;
    for (const LoggedCall& c : calls) {
      if (job_of(c) != id) continue;
      history += "\n      " + c.text();
      const uint32_t m = after_call(c.call);
      if (!full_sync) {
        allowed |= m;  // any prefix may have survived
        continue;
      }
      if (c.ended && c.ok) {
        if (m) cur = m;
        if (c.call == "prio" && !c.args.empty()) prio = std::atoi(c.args[0].c_str());
      } else if (!c.ended) {
        allowed = cur | m;  // in flight: before or after
        prio_in_flight = prio_in_flight || c.call == "prio";
        cur = allowed;
      }
    }
    if (full_sync) allowed = cur;
    if (allowed != 0 && !(allowed & bit(info.state)))
      violation("state-not-allowed", "job " + id + " is " + std::string(to_string(info.state)) +
                                         "; after the calls that returned success it can only be " +
                                         states_text(allowed) + "; its calls:" + history);
    if (full_sync && prio >= 0 && !prio_in_flight && static_cast<int>(info.priority) != prio)
      violation("acknowledged-call-lost", "job " + id + " has priority " + std::to_string(static_cast<int>(info.priority)) +
                                              ", but set_priority(" + std::to_string(prio) + ") returned success");
  }

  // -- Jobs seen before, final jobs, and the files on disk.
  std::set<std::string> owned_temps, reported_temps;
  for (const auto& [id, info] : by_id) {
    SCOPED_TRACE("job " + id + " " + std::string(to_string(info.state)));
    auto kn = known_.find(id);
    if (kn != known_.end() && is_final(kn->second.state) && info.state != kn->second.state)
      violation("final-job-changed", "job " + id + " was " + std::string(to_string(kn->second.state)) + ", now " +
                                         std::string(to_string(info.state)));
    Known& k = known_[id];
    k.state = info.state;
    const std::vector<FileInfo>& job_files = files_of[id];
    for (size_t idx = 0; idx < job_files.size(); ++idx) {
      const FileInfo& f = job_files[idx];  // files() lists them by index
      const std::string file = "job " + id + " (" + std::string(to_string(info.state)) + ") file " + f.local_path +
                               " temp '" + f.temp_path + "' claims " + std::to_string(f.bytes_transferred) +
                               " bytes, completed " + std::to_string(f.completed);
      const bool have_body = body_.count(f.remote_url) != 0;
      if (info.state == JobState::cancelled) {
        if (!f.temp_path.empty() && exists(f.temp_path)) {
          violation("cancelled-job-kept-temp-file", file + ": the temp file is back after the cut; its history:" + history(id));
          reported_temps.insert(f.temp_path);
          ::unlink(f.temp_path.c_str());  // reported: later checks are not about it
        }
        if (exists(f.local_path)) {
          if (!full_sync && stray_finals_.count(f.local_path)) {
            // The rename of a rolled-back Complete survived, then the job was
            // cancelled (Cancel leaves final paths alone): not the engine's to undo.
            note(id, "iteration " + std::to_string(iteration_) + ", check: cancelled with the final file a rolled-back "
                     "Complete renamed: " + f.local_path);
            ::unlink(f.local_path.c_str());
          } else {
            violation("cancelled-job-has-final-file", file + "; its history:" + history(id));
          }
        }
      } else if (info.state == JobState::acknowledged) {
        if (!f.temp_path.empty() && exists(f.temp_path)) {
          violation("acknowledged-job-kept-temp-file", file + ": the temp file is back after the cut; its history:" + history(id));
          reported_temps.insert(f.temp_path);
          ::unlink(f.temp_path.c_str());  // reported: later checks are not about it
        }
        if (k.consumed) continue;
        if (f.completed) {
          if (!have_body || file_content_hash(f.local_path) != hash_[f.remote_url])
            violation("acknowledged-file-corrupt", file + ": the final file is " +
                                                       (exists(f.local_path) ? std::to_string(read_file(f.local_path).size()) +
                                                                                   " bytes, not the server's"
                                                                             : std::string("missing")) +
                                                       "; its history:" + history(id));
        } else if (exists(f.local_path)) {
          violation("unfinished-file-appeared", file + ": a partial complete's unfinished file is at its final path");
        }
      } else {
        const std::string det = detail::temp_path_for(f.local_path, id, static_cast<int64_t>(idx));
        owned_temps.insert(det);  // the path the worker will record (and adopt) when it resumes
        if (!f.temp_path.empty()) owned_temps.insert(f.temp_path);
        const bool final_there = exists(f.local_path);
        if (final_there) {
          // Under NORMAL a Complete may roll back (and with it the commits
          // before it) while its renames, made durable by the directory's
          // fsync, survive: the server's file at its final path, the job
          // not acknowledged. The engine must still be able to complete it.
          if (!full_sync && lost_complete.count(id) && have_body &&
              file_content_hash(f.local_path) == hash_[f.remote_url]) {
            must_redownload->insert(id);  // a rolled-back Complete's rename survived: Complete must work again
            stray_finals_.insert(f.local_path);
            note(id, "iteration " + std::to_string(iteration_) + ", check: Complete rolled back, its rename survived: " + file);
          } else {
            violation("final-file-before-complete", file + ": the final file exists" +
                                                        std::string(lost_complete.count(id) ? " (its Complete rolled back)" : "") +
                                                        "; its history:" + history(id));
          }
        }
        if (f.bytes_transferred > 0 || f.completed) {
          int64_t size = -1;
          const bool ok = !f.temp_path.empty() && have_body &&
                          prefix_matches(f.temp_path, body_[f.remote_url], f.bytes_transferred, &size);
          const bool whole = !f.completed || size == f.bytes_transferred;
          if (!ok || !whole) {
            const std::string what = file + ": the temp file holds " +
                                     (exists(f.temp_path) ? std::to_string(size) + " bytes" : std::string("nothing (gone)")) +
                                     (ok ? ", more than a finished file's size" : ", or other bytes than the server's");
            if (!full_sync && lost_cancel.count(id)) {
              must_redownload->insert(id);  // a rolled-back Cancel deleted the bytes: the engine must fetch them again
              note(id, "iteration " + std::to_string(iteration_) + ", check: Cancel rolled back, " + what);
            } else if (!full_sync && lost_complete.count(id)) {
              // A rolled-back Complete renamed its finished files and deleted
              // the unfinished ones' temp files before the cut.
              must_redownload->insert(id);
              note(id, "iteration " + std::to_string(iteration_) + ", check: Complete rolled back, " + what);
            } else {
              violation("database-claims-more-than-disk", what + "; its history:" + history(id));
            }
          }
        }
      }
    }
    if (info.state == JobState::acknowledged && !k.consumed) {
      for (const FileInfo& f : files_of[id]) ::unlink(f.local_path.c_str());
      k.consumed = true;
    }
  }
  for (const auto& [id, k] : known_)
    if (!by_id.count(id)) violation("job-vanished", "job " + id + " (" + std::string(to_string(k.state)) +
                                                        " when last seen) is gone after the cut; its history:" + history(id));
  for (const std::string& name : temp_files_in(data_))
    if (!owned_temps.count(data_ + "/" + name) && !reported_temps.count(data_ + "/" + name))
    {
      const std::string path = data_ + "/" + name;
      violation("orphan-temp-file", name + " (" + std::to_string(read_file(path).size()) +
                                        " bytes) belongs to no job that is not final, nor to any job's next attempt; "
                                        "its job's history:" + history_of_file(name));
      ::unlink(path.c_str());  // reported: later checks are not about it
    }
  // A Cancel moves its temp files aside only after its commit, and opening
  // the queue carries out the commit's outbox row; a twin survives only a
  // Cancel that rolled back (under NORMAL, in this cut or an earlier one),
  // and its job, live again, removes it when it ends (Complete's rename or
  // a later Cancel). A final job must have none.
  for (const std::string& name : discarded_files_in(data_)) {
    auto job = by_id.find(job_of_file(name));
    if (!full_sync && job != by_id.end() && !is_final(job->second.state)) continue;
    violation("orphan-discarded-file", name + " is left after recovery; its job's history:" + history_of_file(name));
    ::unlink((data_ + "/" + name).c_str());
  }
  for (const auto& [id, info] : by_id) {
    Expect e;
    e.states = worker_closure(info.state);
    e.priority = static_cast<int>(info.priority);
    expect_[id] = e;
  }
}

// Runs the worker until every job is final: jobs whose files all come from
// good resources must transfer and complete with byte-identical files; the
// others are cancelled. Then no temp file may be left.
void CrashHarness::drain(const std::string& where) {
  SCOPED_TRACE(where + ": drain");
  auto q = open_queue(db_, test_options(true));
  if (!q) return violation("queue-does-not-open", "the queue does not open for the drain");
  auto infos = q->job_infos(false);
  if (!infos.ok()) return violation("queue-unreadable", infos.error().message());
  std::vector<Job> targets;
  for (const JobInfo& info : *infos) {
    Job job = *q->get_job(info.id);
    auto files = job.files();
    bool all_good = files.ok() && !files->empty();
    if (files.ok())
      for (const FileInfo& f : *files) all_good = all_good && good_.count(f.remote_url);
    if (!all_good) {
      if (auto ec = job.cancel()) violation("drain-call-failed", "cancel " + info.id + ": " + ec.message());
      continue;
    }
    job.set_minimum_retry_delay(1s);
    if (info.state == JobState::suspended || info.state == JobState::error ||
        info.state == JobState::transient_error) {
      if (auto ec = job.resume()) violation("drain-call-failed", "resume " + info.id + ": " + ec.message());
    }
    targets.push_back(job);
  }
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (Job& job : targets) {
    const bool done = wait_for(
        [&] {
          auto st = job.state();
          return st.ok() && (*st == JobState::transferred || *st == JobState::error);
        },
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::max(deadline - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration(1ms))));
    auto st = job.state();
    if (!done || !st.ok() || *st != JobState::transferred) {
      auto e = job.error();
      violation("drain-no-transfer", "job " + job.id() + " with good resources did not transfer again: " +
                                         state_name(job) + (e.ok() ? " (" + e->description + ")" : "") +
                                         "; its files:" + files_text(*q, job.id()) + "\n    its history:" + history(job.id()));
      continue;
    }
    CompleteStatus status = CompleteStatus::partial;
    const std::string before = files_text(*q, job.id());
    if (auto ec = job.complete(&status)) {
      violation("complete-failed", "Complete of transferred job " + job.id() + " failed: " + ec.message() +
                                       "; its files before Complete:" + before + "\n    its history:" + history(job.id()));
      // Reported: take the job out of later checks (its final files go, it is cancelled).
      if (auto files = job.files(); files.ok())
        for (const FileInfo& f : *files) ::unlink(f.local_path.c_str());
      job.cancel();
      continue;
    }
    if (status != CompleteStatus::all_files)
      violation("complete-failed", "Complete of transferred job " + job.id() + " was partial");
    auto files = job.files();
    if (files.ok()) {
      for (const FileInfo& f : *files) {
        if (file_content_hash(f.local_path) != hash_[f.remote_url])
          violation("complete-missing-or-short-file",
                    "job " + job.id() + " file " + f.local_path + " after Complete: " +
                        (exists(f.local_path) ? std::to_string(read_file(f.local_path).size()) + " bytes, not the server's " +
                                                    std::to_string(body_[f.remote_url].size())
                                              : std::string("missing")) +
                        "; its files before Complete:" + before + "\n    its history:" + history(job.id()));
        ::unlink(f.local_path.c_str());
      }
    }
    known_[job.id()] = Known{JobState::acknowledged, true};
  }
  q.reset();  // stops the worker
  auto q2 = open_queue(db_, test_options(false));
  if (!q2) return;
  auto after = q2->job_infos(true);
  if (!after.ok()) return;
  std::set<std::string> owned;
  for (const JobInfo& info : *after) {
    known_[info.id].state = info.state;
    Expect e;
    e.states = worker_closure(info.state);
    e.priority = static_cast<int>(info.priority);
    expect_[info.id] = e;
    if (is_final(info.state)) continue;
    auto files = q2->get_job(info.id)->files();
    if (!files.ok()) continue;
    for (size_t idx = 0; idx < files->size(); ++idx) {
      const FileInfo& f = (*files)[idx];
      owned.insert(detail::temp_path_for(f.local_path, info.id, static_cast<int64_t>(idx)));
      if (!f.temp_path.empty()) owned.insert(f.temp_path);
    }
  }
  for (const std::string& name : temp_files_in(data_))
    if (!owned.count(data_ + "/" + name)) {
      violation("orphan-temp-file",
                name + " is left after the drain made every job final; its job's history:" + history_of_file(name));
      ::unlink((data_ + "/" + name).c_str());
    }
  // Every job ran again or became final: each removed its discarded twins.
  for (const std::string& name : discarded_files_in(data_)) {
    violation("orphan-discarded-file", name + " is left after the drain; its job's history:" + history_of_file(name));
    ::unlink((data_ + "/" + name).c_str());
  }
}

void CrashHarness::run_power_cuts(bool full_sync, const char* test_tag) {
  const uint64_t seed = env_u64("XFERQ_CRASH_SEED", std::random_device{}());
  const int iterations = static_cast<int>(env_u64("XFERQ_POWERCUT_ITERATIONS", 60));
  const double cap_s = static_cast<double>(env_u64("XFERQ_POWERCUT_SECONDS", 100));
  seed_ = seed;
  mode_ = std::string("power cut, synchronous=") + (full_sync ? "FULL" : "NORMAL");
  iterations_var_ = "XFERQ_POWERCUT_ITERATIONS";
  SCOPED_TRACE("XFERQ_CRASH_SEED=" + std::to_string(seed));
  std::printf("power-cut test (%s): seed %llu, %d iterations, at most %.0f s\n", test_tag,
              static_cast<unsigned long long>(seed), iterations, cap_s);
  std::mt19937_64 rng(seed);
  uint64_t child_seed = seed * 100000 + (full_sync ? 0 : 50000);
  const auto start = std::chrono::steady_clock::now();
  int cuts = 0, point_cuts = 0, random_cuts = 0, misses = 0, drains = 0, redownloads = 0, journals = 0;
  int64_t dropped = 0, rolled_back = 0, deleted = 0, file_syncs = 0, dir_syncs = 0, calls_ok = 0;
  std::map<std::string, int> hits;
  int point_round = 0, done = 0;
  std::chrono::steady_clock::duration check_time{}, drain_time{};

  auto run_one = [&](const std::string& crash_at, std::chrono::milliseconds after) {
    ChildSpec spec;
    spec.seed = ++child_seed;
    spec.jobs = 1 + static_cast<int>(rng() % 4);
    spec.crash_at = crash_at;
    spec.powercut = true;
    spec.full_sync = full_sync;
    crash::PowerCutResult cut;
    ChildResult r = cut_one(spec, after, &cut);
    ++cuts;
    journals += cut.log_found;
    dropped += cut.bytes_dropped;
    rolled_back += cut.restored;
    deleted += cut.deleted;
    file_syncs += cut.file_syncs;
    dir_syncs += cut.dir_syncs;
    last_calls_ = parse_call_log(r.call_log);
    for (const LoggedCall& c : last_calls_) {
      calls_ok += c.ended && c.ok;
      const std::string id = c.call == "create" ? c.result : c.job;
      if (!id.empty()) note(id, "iteration " + std::to_string(iteration_) + ", child " + std::to_string(spec.seed) + ": " + c.text());
      if (c.call == "create" && !c.result.empty()) {
        std::string hex;
        for (char ch : c.result)
          if (std::isxdigit(static_cast<unsigned char>(ch))) hex.push_back(ch);
        hex_to_id_[hex] = c.result;
      }
    }
    for (const std::string& a : cut.actions) {
      const auto x = a.find(".xferq-");
      if (x == std::string::npos) continue;
      const auto dash = a.find('-', x + 7);
      auto it = hex_to_id_.find(a.substr(x + 7, dash == std::string::npos ? std::string::npos : dash - x - 7));
      if (it != hex_to_id_.end()) note(it->second, "iteration " + std::to_string(iteration_) + ", the cut: " + a);
    }
    return r;
  };

  for (int i = 0; i < iterations && !HasFailure(); ++i) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > cap_s) {
      std::printf("power-cut test: time cap of %.0f s reached after %d iterations\n", cap_s, i);
      break;
    }
    iteration_ = i;
    where_ = "iteration " + std::to_string(i) + " (child seed " + std::to_string(child_seed + 1) + ")";
    ChildResult r;
    std::vector<LoggedCall> chain_calls;
    if (i % 3 == 2 && detail::crash_points_compiled()) {  // without crash points: random cuts only
      const int combo = point_round++ % (kCrashPointCount * 3);
      const std::string point = kCrashPoints[combo % kCrashPointCount];
      const int n = point == "recovery.between_ops" ? 1 : kNValues[combo / kCrashPointCount];
      const std::string spec = point + ":" + std::to_string(n);
      if (point == "recovery.between_ops") {
        // Work left in the outbox first (a cut right after a Cancel or Complete commits), then a
        // child cut while recovering it. No check between the two: opening the queue would recover.
        const std::string first = (combo / kCrashPointCount) % 2 ? "cancel.after_commit" : "complete.after_commit";
        where_ += " cut point XFERQ_CRASH_AT=" + first + ", then";
        ChildResult r1 = run_one(first, 3000ms);
        chain_calls = last_calls_;
        for (LoggedCall& c : chain_calls) c.earlier_cut = true;
        if (r1.self_killed) {
          ++hits[first + " (cut)"];
          ++point_cuts;
          // Under FULL the operation is durable — unless the worker's
          // start-up recovery carried it out before the cut (see the kill
          // test); the full check after the second cut covers the outcome.
          if (full_sync && pending_ops_raw() < 1) where_ += " (the outbox was empty: recovery had applied it)";
        } else {
          ++misses;
          ++random_cuts;
        }
        where_ += " (child seed " + std::to_string(child_seed + 1) + ")";
      }
      where_ += " cut point XFERQ_CRASH_AT=" + spec;
      r = run_one(spec, 3000ms);
      if (r.self_killed) {
        ++hits[spec + " (cut)"];
        ++point_cuts;
      } else {
        ++misses;
        ++random_cuts;
        where_ += " (not reached: cut by the parent at 3000 ms)";
      }
    } else {
      const auto delay = std::chrono::milliseconds(20 + rng() % 381);
      where_ += " cut point: a random cut after " + std::to_string(delay.count()) + " ms";
      r = run_one("", delay);
      ++random_cuts;
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::set<std::string> must_redownload;
    last_calls_.insert(last_calls_.begin(), chain_calls.begin(), chain_calls.end());
    check_after_cut(where_, full_sync, last_calls_, &must_redownload);
    check_time += std::chrono::steady_clock::now() - t0;
    ++done;
    if (HasFailure()) break;
    redownloads += static_cast<int>(must_redownload.size());
    if (i % 10 == 9 || !must_redownload.empty()) {
      const auto t1 = std::chrono::steady_clock::now();
      where_ += must_redownload.empty() ? ", then the drain" : ", then the drain (jobs that must download again)";
      drain(where_);
      drain_time += std::chrono::steady_clock::now() - t1;
      ++drains;
    }
  }
  if (!HasFailure()) {
    where_ = "the final drain, after iteration " + std::to_string(iteration_);
    const auto t1 = std::chrono::steady_clock::now();
    drain(where_);
    drain_time += std::chrono::steady_clock::now() - t1;
    ++drains;
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int survived = HasFailure() ? 0 : cuts;
  std::printf("power-cut test (%s): %d cuts in %d iterations (%d at a named crash point, %d at a random moment, "
              "%d crash-point runs not reached), %d drains (%d jobs that had to download again), %zu jobs, "
              "%lld successful API calls, %.1f s\n",
              test_tag, cuts, done, point_cuts, random_cuts, misses, drains, redownloads, known_.size(),
              static_cast<long long>(calls_ok), wall);
  std::printf("  the cuts: %lld file syncs and %lld directory syncs seen, %lld files rolled back, %lld deleted, "
              "%lld unsynced bytes dropped; shim journal in %d of %d cuts\n",
              static_cast<long long>(file_syncs), static_cast<long long>(dir_syncs),
              static_cast<long long>(rolled_back), static_cast<long long>(deleted), static_cast<long long>(dropped),
              journals, cuts);
  std::printf("  successful calls whose effect can be told: %lld survived the cut, %lld rolled back "
              "(%lld cuts kept some and lost some)\n",
              static_cast<long long>(calls_kept_), static_cast<long long>(calls_lost_),
              static_cast<long long>(cuts_with_partial_rollback_));
  std::printf("  time in checks %.1f s, in drains %.1f s\n", std::chrono::duration<double>(check_time).count(),
              std::chrono::duration<double>(drain_time).count());
  for (const auto& [name, n] : hits) std::printf("  %-40s %d\n", name.c_str(), n);
  for (const auto& [kind, n] : violations_) std::printf("  violations [%s]: %d\n", kind.c_str(), n);
  for (const auto& [kind, n] : tolerated_) std::printf("  tolerated violations [%s]: %d\n", kind.c_str(), n);
  std::printf("POWERCUT-SURVIVED %d\n", survived);
  std::fflush(stdout);
  EXPECT_GT(journals, 0) << "the shim never wrote a journal: is it loaded?";
  EXPECT_GE(file_syncs, 1) << "no fsync seen by the shim";
}

TEST_F(CrashHarness, SurvivesSimulatedPowerCuts) { run_power_cuts(true, "synchronous=FULL"); }

TEST_F(CrashHarness, SurvivesSimulatedPowerCutsWithSynchronousNormal) { run_power_cuts(false, "synchronous=NORMAL"); }

// The mechanism itself: crash_child --powercut-selftest runs a fixed sequence
// of file operations; after the kill and the cut, exactly what the model says
// must be left (see powercut_selftest() in crash_child.cc).
TEST(PowerCutShim, KeepsOnlyWhatWasSynced) {
  ScratchDir dir;
  for (const char* n : {"d", "e", "f", "g", "h"}) write_file(dir / n, std::string(4, n[0]));
  ASSERT_EQ(::mkdir((dir / "sub").c_str(), 0755), 0);
  const auto [rfd, wfd] = call_log_pipe();
  std::vector<std::string> args = {XFERQ_CRASH_CHILD, "--powercut-selftest", dir.path(), "--call-log-fd", "3"};
  const pid_t pid = spawn(args, child_env(true, dir.path()), wfd);
  ::close(wfd);
  ASSERT_GT(pid, 0);
  std::string log;
  const bool ready = wait_for([&] {
    drain_pipe(rfd, &log);
    return log.find("ready") != std::string::npos;
  }, 10000ms);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(rfd);
  ASSERT_TRUE(ready) << "the self-test child did not report ready";
  const crash::PowerCutResult cut = crash::power_cut(dir.path(), dir / ".powercut");
  std::printf("%s\n%s", cut.summary().c_str(), cut.details().c_str());
  EXPECT_TRUE(cut.log_found);
  EXPECT_TRUE(cut.unsupported.empty()) << cut.unsupported.front();
  const std::map<std::string, std::optional<std::string>> want = {
      {"a", "AAAA"},   {"b", std::nullopt},  {"c", ""},       {"d", "dddd"},       {"e", "eeee"},
      {"f", std::nullopt}, {"g", "gggg"},    {"g2", std::nullopt}, {"h", std::nullopt}, {"h2", "HHhh"},
      {"h3", "TT"},    {"t", std::nullopt},  {"sub/k", std::nullopt}, {"queue.db-shm", std::nullopt},
      {"m", "mmmmMM"}, {"m2", std::nullopt},
  };
  for (const auto& [name, content] : want) {
    if (!content) {
      EXPECT_FALSE(exists(dir / name)) << name << " should be gone after the cut";
    } else {
      EXPECT_TRUE(exists(dir / name)) << name << " should survive the cut";
      EXPECT_EQ(read_file(dir / name), *content) << name;
    }
  }
  crash::clear_powercut_state(dir / ".powercut");
  EXPECT_FALSE(exists(dir / ".powercut"));
}

}  // namespace
}  // namespace xferq::testing
