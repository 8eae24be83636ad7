// crash_child.cc — the process the crash test kills.
//
//   crash_child --db PATH --dir DIR --base-url URL --seed N --jobs K [--seconds S]
//               [--synchronous full|normal] [--call-log-fd FD] [--checkpoint-ms M]
//   crash_child --powercut-selftest DIR --call-log-fd FD
//
// Opens the queue at PATH with the worker, resumes the jobs it finds there,
// creates K jobs of 1–3 files from the crash resources (crash_resources.h)
// and then, at seeded random moments, cancels some jobs, completes those that
// reached TRANSFERRED (and now and then one that did not: a partial
// complete), suspends and resumes others, changes priorities and creates new
// jobs — until it is killed (SIGKILL from the parent, or XFERQ_CRASH_AT) or S
// seconds (default 10) pass, when it exits 0. It writes nothing but the queue
// and its files. Exit codes: 0 time limit, 2 bad arguments, 3 open failed.
//
// --synchronous opens the queue with QueueOptions::synchronous FULL or NORMAL
// (the default). --call-log-fd FD makes it report every API call it makes on
// FD (a pipe the parent reads; never a file the power cut could touch), one
// line each, written before the call returns to the loop:
//   B <seq> <call> <job id or -> [args...]   before the call
//   E <seq> ok [<new job id>] | E <seq> fail <code>   after it
// so the parent knows which calls returned success before a kill or a power
// cut, and which one (at most one: calls come from this thread only) was in
// flight. Calls: create <display name>, retry <job> <seconds>, add <job>
// <local path>..., prio <job> <0-3>, resume, suspend, cancel, complete <job>.
//
// --checkpoint-ms M (M > 0): a second connection to the queue file runs a
// passive WAL checkpoint at random intervals of up to M ms, as another process
// reading the queue would; under synchronous=NORMAL a checkpoint is what makes
// commits durable, so a power cut then rolls back to varied points.
//
// --powercut-selftest DIR runs a fixed sequence of file operations in DIR
// (which the parent prepared and runs the power-cut shim over), reports
// "ready" on the call log and waits to be killed; crash_test.cc checks that
// the simulated power cut leaves exactly what the durability model says.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include "crash_resources.h"
#include "xferq/xferq.h"

namespace {

using namespace std::chrono_literals;
using xferq::Job;
using xferq::JobPriority;
using xferq::JobState;

struct Args {
  std::string db, dir, base_url;
  uint64_t seed = 1;
  int jobs = 3;
  double seconds = 10;
  bool full_sync = false;
  int call_log_fd = -1;
  int checkpoint_ms = 0;
  std::string selftest_dir;
};

bool parse(int argc, char** argv, Args* a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--db") a->db = v;
    else if (k == "--dir") a->dir = v;
    else if (k == "--base-url") a->base_url = v;
    else if (k == "--seed") a->seed = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--jobs") a->jobs = std::atoi(v.c_str());
    else if (k == "--seconds") a->seconds = std::atof(v.c_str());
    else if (k == "--synchronous" && (v == "full" || v == "normal")) a->full_sync = v == "full";
    else if (k == "--call-log-fd") a->call_log_fd = std::atoi(v.c_str());
    else if (k == "--powercut-selftest") a->selftest_dir = v;
    else if (k == "--checkpoint-ms") a->checkpoint_ms = std::atoi(v.c_str());
    else return false;
  }
  if (!a->selftest_dir.empty()) return a->call_log_fd >= 0;
  return !a->db.empty() && !a->dir.empty() && !a->base_url.empty();
}

// The report of API calls to the parent (see the top of the file).
class CallLog {
 public:
  explicit CallLog(int fd) : fd_(fd) {}
  long begin(const std::string& call, const std::string& job, const std::string& args = "") {
    const long seq = ++seq_;
    put("B " + std::to_string(seq) + " " + call + " " + (job.empty() ? "-" : job) + (args.empty() ? "" : " " + args));
    return seq;
  }
  void end(long seq, std::error_code ec, const std::string& result = "") {
    put("E " + std::to_string(seq) + (ec ? " fail " + std::to_string(ec.value()) : " ok" + (result.empty() ? "" : " " + result)));
  }
  void put(std::string line) {
    if (fd_ < 0) return;
    line += '\n';
    for (size_t done = 0; done < line.size();) {
      const ssize_t w = ::write(fd_, line.data() + done, line.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return;
      done += static_cast<size_t>(w);
    }
  }

 private:
  int fd_;
  long seq_ = 0;
};

class Child {
 public:
  Child(const Args& args, xferq::Queue& q) : args_(args), q_(q), rng_(args.seed), log_(args.call_log_fd) {}

  // Each API call that changes something goes through one of these, which
  // report it on the call log.
  std::error_code call(const char* what, Job& j, const std::function<std::error_code()>& fn,
                       const std::string& args = "") {
    const long seq = log_.begin(what, j.id(), args);
    const std::error_code ec = fn();
    log_.end(seq, ec);
    return ec;
  }
  std::error_code suspend(Job& j) { return call("suspend", j, [&] { return j.suspend(); }); }
  std::error_code resume(Job& j) { return call("resume", j, [&] { return j.resume(); }); }
  std::error_code cancel(Job& j) { return call("cancel", j, [&] { return j.cancel(); }); }
  std::error_code complete(Job& j) { return call("complete", j, [&] { return j.complete(); }); }
  std::error_code set_priority(Job& j, JobPriority p) {
    return call("prio", j, [&] { return j.set_priority(p); }, std::to_string(static_cast<int>(p)));
  }

  const xferq::crash::CrashResource& pick_resource() {
    // Mostly transferable files; some flaky, a few that never succeed.
    const int r = static_cast<int>(rng_() % 100);
    if (r < 4) return xferq::crash::kCrashResources[8];   // 503
    if (r < 7) return xferq::crash::kCrashResources[9];   // 404
    if (r < 15) return xferq::crash::kCrashResources[7];  // flaky
    return xferq::crash::kCrashResources[rng_() % 7];
  }

  void make_job() {
    const std::string name = "crash " + std::to_string(args_.seed) + "-" + std::to_string(made_);
    const long seq = log_.begin("create", "", name);
    auto job = q_.create_job(name);
    log_.end(seq, job ? std::error_code() : job.error(), job ? job->id() : "");
    if (!job) return;
    call("retry", *job, [&] { return job->set_minimum_retry_delay(1s); }, "1");
    const int n = 1 + static_cast<int>(rng_() % 3);
    std::vector<xferq::FileSpec> files;
    for (int i = 0; i < n; ++i) {
      const auto& r = pick_resource();
      // Unique per child run (the seed) and job: never two jobs on one path.
      files.push_back({args_.base_url + r.path, args_.dir + "/s" + std::to_string(args_.seed) + "-j" +
                                                    std::to_string(made_) + "-f" + std::to_string(i) + ".bin"});
    }
    ++made_;
    // Half of the jobs get their files one by one, half at once.
    if (rng_() % 2) {
      std::string paths;
      for (const auto& f : files) paths += (paths.empty() ? "" : " ") + f.local_path;
      call("add", *job, [&] { return job->add_files(files); }, paths);
    } else {
      for (const auto& f : files) call("add", *job, [&] { return job->add_file(f.remote_url, f.local_path); }, f.local_path);
    }
    if (rng_() % 8 == 0) set_priority(*job, static_cast<JobPriority>(rng_() % 4));
    resume(*job);
  }

  int run() {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<long>(args_.seconds * 1000));
    // Resume what earlier (killed) runs left behind.
    if (auto jobs = q_.jobs(false)) {
      for (Job& j : *jobs) {
        auto st = j.state();
        if (!st) continue;
        if (*st == JobState::transferred) complete(j);
        else if (rng_() % 4 != 0) resume(j);
      }
    }
    for (int i = 0; i < args_.jobs; ++i) make_job();
    std::vector<Job> active;
    int since_refresh = 1000;
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1 + rng_() % 25));
      if (++since_refresh > 5) {
        since_refresh = 0;
        if (auto jobs = q_.jobs(false)) active = std::move(*jobs);
      }
      if (active.size() < 3) {
        make_job();
        since_refresh = 1000;
        continue;
      }
      Job& j = active[rng_() % active.size()];
      auto st = j.state();
      if (!st) continue;
      const int r = static_cast<int>(rng_() % 100);
      if (*st == JobState::transferred && r < 70) {
        complete(j);
      } else if (r < 10) {
        cancel(j);
      } else if (r < 25) {
        suspend(j);
      } else if (r < 50) {
        resume(j);
      } else if (r < 53) {
        complete(j);  // partial complete of a job still running
      } else if (r < 60) {
        set_priority(j, static_cast<JobPriority>(rng_() % 4));
      } else if (r < 68 && active.size() < 14) {
        make_job();
        since_refresh = 1000;
      }
    }
    return 0;
  }

 private:
  const Args& args_;
  xferq::Queue& q_;
  std::mt19937_64 rng_;
  CallLog log_;
  int made_ = 0;
};

// The power-cut shim's self-test (crash_test.cc, PowerCutShim.*): each step
// names what a power cut must leave. The parent created d, e, f, g, h (their
// content is their name four times) and the directory sub/ before.
int powercut_selftest(const std::string& dir, int log_fd) {
  auto put = [&](const std::string& name, const std::string& data, int extra_flags = 0) {
    const int fd = ::open((dir + "/" + name).c_str(), O_WRONLY | O_CREAT | extra_flags, 0644);
    if (fd < 0 || ::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) std::abort();
    return fd;
  };
  auto sync_dir = [&](const std::string& d) {
    const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0 || ::fsync(fd) != 0) std::abort();
    ::close(fd);
  };
  // Made durable by the directory fsync below.
  ::close(put("c", "ccc"));  // its name (the directory's fsync), not its content (never synced): empty
  ::unlink((dir + "/f").c_str());  // f: gone
  int fd = ::open((dir + "/h").c_str(), O_RDWR);
  if (fd < 0 || ::pwrite(fd, "HH", 2, 0) != 2 || ::fsync(fd) != 0) std::abort();
  ::close(fd);
  ::rename((dir + "/h").c_str(), (dir + "/h2").c_str());  // h2: "HHhh", h: gone
  fd = put("t", "TT");
  if (::fdatasync(fd) != 0) std::abort();
  ::close(fd);
  ::rename((dir + "/t").c_str(), (dir + "/h3").c_str());  // h3: "TT", t: gone
  ::close(put("sub/k", "kk"));  // k's directory is never synced: gone
  fd = put("m", "mmmm");  // durable; renamed and changed below
  if (::fsync(fd) != 0) std::abort();
  ::close(fd);
  sync_dir(dir);
  // Not made durable by anything after them.
  fd = put("a", "AAAA");
  if (::fdatasync(fd) != 0) std::abort();  // a: "AAAA", its name with it (a new file)
  if (::write(fd, "BBBB", 4) != 4) std::abort();  // dropped
  if (::sync_file_range(fd, 0, 8, SYNC_FILE_RANGE_WRITE) != 0) std::abort();  // not a sync
  ::close(fd);
  ::close(put("b", "b"));  // b: gone
  ::close(put("d", "D2", O_TRUNC));  // d: "dddd"
  ::unlink((dir + "/e").c_str());  // e: "eeee"
  ::rename((dir + "/g").c_str(), (dir + "/g2").c_str());  // g: "gggg", g2: gone
  ::close(put("queue.db-shm", "shm"));  // never tracked; deleted by the power cut
  ::rename((dir + "/m").c_str(), (dir + "/m2").c_str());
  fd = ::open((dir + "/m2").c_str(), O_WRONLY | O_APPEND);
  if (fd < 0 || ::write(fd, "MM", 2) != 2 || ::fsync(fd) != 0) std::abort();  // m: "mmmmMM"; m2: gone
  ::close(fd);
  CallLog(log_fd).put("ready");
  for (;;) ::pause();
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: crash_child --db PATH --dir DIR --base-url URL --seed N --jobs K [--seconds S]\n"
                 "                   [--synchronous full|normal] [--call-log-fd FD]\n"
                 "       crash_child --powercut-selftest DIR --call-log-fd FD\n");
    return 2;
  }
  if (!args.selftest_dir.empty()) return powercut_selftest(args.selftest_dir, args.call_log_fd);
  xferq::QueueOptions o;
  o.progress_interval = 30ms;
  o.poll_interval = 10ms;
  o.minimum_retry_delay_floor = 0s;
  o.stall_timeout = 5s;
  o.max_concurrent_transfers = 4;
  o.synchronous = args.full_sync ? xferq::Synchronous::full : xferq::Synchronous::normal;
  auto q = xferq::Queue::open(args.db, o);
  if (!q) {
    std::fprintf(stderr, "crash_child: open %s: %s\n", args.db.c_str(), q.error().message().c_str());
    return 3;
  }
  if (args.checkpoint_ms > 0) {
    // Never joined: the process ends by a kill or by _Exit() below.
    std::thread([db = args.db, ms = args.checkpoint_ms, seed = args.seed] {
      std::mt19937_64 rng(seed ^ 0xc0ffee);
      sqlite3* c = nullptr;
      if (sqlite3_open_v2(db.c_str(), &c, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) return;
      sqlite3_busy_timeout(c, 1000);
      for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1 + rng() % static_cast<unsigned>(ms)));
        // Through the pager (a bare sqlite3_wal_checkpoint_v2 on a connection
        // that has read nothing yet does not know the file is in WAL mode).
        sqlite3_exec(c, "PRAGMA wal_checkpoint(PASSIVE)", nullptr, nullptr, nullptr);
      }
    }).detach();
  }
  Child child(args, **q);
  const int rc = child.run();
  if (args.checkpoint_ms > 0) {
    std::fflush(nullptr);
    std::_Exit(rc);  // not through the destructors: the checkpoint thread still runs
  }
  return rc;
}
