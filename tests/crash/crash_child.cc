// crash_child.cc — the process the crash test kills.
//
//   crash_child --db PATH --dir DIR --base-url URL --seed N --jobs K [--seconds S]
//
// Opens the queue at PATH with the worker, resumes the jobs it finds there,
// creates K jobs of 1–3 files from the crash resources (crash_resources.h)
// and then, at seeded random moments, cancels some jobs, completes those that
// reached TRANSFERRED (and now and then one that did not: a partial
// complete), suspends and resumes others, changes priorities and creates new
// jobs — until it is killed (SIGKILL from the parent, or XFERQ_CRASH_AT) or S
// seconds (default 10) pass, when it exits 0. It writes nothing but the queue
// and its files. Exit codes: 0 time limit, 2 bad arguments, 3 open failed.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

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
    else return false;
  }
  return !a->db.empty() && !a->dir.empty() && !a->base_url.empty();
}

class Child {
 public:
  Child(const Args& args, xferq::Queue& q) : args_(args), q_(q), rng_(args.seed) {}

  const xferq::crash::CrashResource& pick_resource() {
    // Mostly transferable files; some flaky, a few that never succeed.
    const int r = static_cast<int>(rng_() % 100);
    if (r < 4) return xferq::crash::kCrashResources[8];   // 503
    if (r < 7) return xferq::crash::kCrashResources[9];   // 404
    if (r < 15) return xferq::crash::kCrashResources[7];  // flaky
    return xferq::crash::kCrashResources[rng_() % 7];
  }

  void make_job() {
    auto job = q_.create_job("crash " + std::to_string(args_.seed) + "-" + std::to_string(made_));
    if (!job) return;
    job->set_minimum_retry_delay(1s);
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
      job->add_files(files);
    } else {
      for (const auto& f : files) job->add_file(f.remote_url, f.local_path);
    }
    if (rng_() % 8 == 0) job->set_priority(static_cast<JobPriority>(rng_() % 4));
    job->resume();
  }

  int run() {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<long>(args_.seconds * 1000));
    // Resume what earlier (killed) runs left behind.
    if (auto jobs = q_.jobs(false)) {
      for (Job& j : *jobs) {
        auto st = j.state();
        if (!st) continue;
        if (*st == JobState::transferred) j.complete();
        else if (rng_() % 4 != 0) j.resume();
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
        j.complete();
      } else if (r < 10) {
        j.cancel();
      } else if (r < 25) {
        j.suspend();
      } else if (r < 50) {
        j.resume();
      } else if (r < 53) {
        j.complete();  // partial complete of a job still running
      } else if (r < 60) {
        j.set_priority(static_cast<JobPriority>(rng_() % 4));
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
  int made_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse(argc, argv, &args)) {
    std::fprintf(stderr, "usage: crash_child --db PATH --dir DIR --base-url URL --seed N --jobs K [--seconds S]\n");
    return 2;
  }
  xferq::QueueOptions o;
  o.progress_interval = 30ms;
  o.poll_interval = 10ms;
  o.minimum_retry_delay_floor = 0s;
  o.stall_timeout = 5s;
  o.max_concurrent_transfers = 4;
  auto q = xferq::Queue::open(args.db, o);
  if (!q) {
    std::fprintf(stderr, "crash_child: open %s: %s\n", args.db.c_str(), q.error().message().c_str());
    return 3;
  }
  Child child(args, **q);
  return child.run();
}
