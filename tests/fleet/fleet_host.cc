// fleet_host.cc — one host of a fleet sharing a PostgreSQL queue, as a process
// of its own, for tests/pg_fleet_test.cc.
//
//   fleet_host --db URL --host ID --shared-dir DIR --host-dir HDIR
//              [--max-transfers N] [--host-lease-s L] [--complete JOB...]
//
// Real hosts of a fleet have disks of their own; on one test machine the
// jobs' files all name the same directory. So before opening the queue the
// process enters a mount namespace of its own and bind-mounts HDIR over DIR:
// what it writes under DIR (temp files, completed files) lands in HDIR, where
// the test sees it, and no other host sees it. Its TMPDIR (the worker's lock
// file and wake-up socket) is HDIR too. It works the queue as host ID
// (QueueOptions::host_id) with a lease of L seconds (QueueOptions::host_lease,
// default 60) and sends "User-Agent: xferq-fleet-host/ID", so the test
// server's log says which host made each request.
//
// Without --complete: serves the queue (its worker runs transfers) until
// SIGTERM or SIGINT, then closes it and exits 0; "ready" on stdout once the
// queue is open. With --complete: completes the jobs named (the test names
// those this host holds, so that the renames happen here, in this host's
// view of the files), prints how many, exits 0.
// Exit codes: 2 bad arguments, 3 open failed, 4 complete failed, 77 no mount
// namespace here (as root: no CAP_SYS_ADMIN; otherwise no unprivileged user
// namespaces either: the test skips).
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "xferq/queue.h"

namespace {

struct Args {
  std::string db, host, shared_dir, host_dir;
  int max_transfers = 2;
  long host_lease_s = 60;
  bool complete = false;
  std::vector<std::string> jobs_to_complete;
};

bool parse(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--complete") {
      a->complete = true;
      a->jobs_to_complete.assign(argv + i + 1, argv + argc);
      break;
    }
    if (i + 1 >= argc) return false;
    const std::string v = argv[++i];
    if (k == "--db") a->db = v;
    else if (k == "--host") a->host = v;
    else if (k == "--shared-dir") a->shared_dir = v;
    else if (k == "--host-dir") a->host_dir = v;
    else if (k == "--max-transfers") a->max_transfers = std::atoi(v.c_str());
    else if (k == "--host-lease-s") a->host_lease_s = std::atol(v.c_str());
    else return false;
  }
  return !a->db.empty() && !a->host.empty() && !a->shared_dir.empty() && !a->host_dir.empty();
}

// Not root: a user namespace of its own, where this user is root (uid and
// gid 0 map to its own), so that it may make a mount namespace.
bool become_root_of_own_user_namespace() {
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if (::unshare(CLONE_NEWUSER) != 0) return false;
  const auto write = [](const char* path, const std::string& text) {
    FILE* f = std::fopen(path, "w");
    if (!f) return false;
    const bool ok = std::fputs(text.c_str(), f) >= 0;
    return std::fclose(f) == 0 && ok;
  };
  return write("/proc/self/setgroups", "deny") && write("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") &&
         write("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
}

// This process's own view of the shared directory: HDIR mounted over it.
bool enter_private_directory(const Args& a) {
  if (::geteuid() != 0 && !become_root_of_own_user_namespace()) return false;
  if (::unshare(CLONE_NEWNS) != 0) return false;
  // Mounts made here must not propagate back to the test's namespace.
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
  return ::mount(a.host_dir.c_str(), a.shared_dir.c_str(), nullptr, MS_BIND, nullptr) == 0;
}

xferq::QueueOptions options_for(const Args& a) {
  xferq::QueueOptions o;
  o.start_worker = !a.complete;
  o.max_concurrent_transfers = a.max_transfers;
  o.progress_interval = std::chrono::milliseconds(100);
  o.poll_interval = std::chrono::milliseconds(10);
  o.minimum_retry_delay_floor = std::chrono::seconds(0);
  o.host_id = a.host;
  o.host_lease = std::chrono::seconds(a.host_lease_s);
  o.user_agent = "xferq-fleet-host/" + a.host;
  return o;
}

int complete_jobs(xferq::Queue& queue, const std::vector<std::string>& ids) {
  int completed = 0;
  for (const std::string& id : ids) {
    auto job = queue.get_job(id);
    const std::error_code ec = job.ok() ? job->complete() : job.error();
    if (ec) {
      std::fprintf(stderr, "complete %s: %s\n", id.c_str(), ec.message().c_str());
      return 4;
    }
    ++completed;
  }
  std::printf("%d\n", completed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, &a)) {
    std::fprintf(stderr, "usage: fleet_host --db URL --host ID --shared-dir DIR --host-dir HDIR [...]\n");
    return 2;
  }
  if (!enter_private_directory(a)) {
    std::fprintf(stderr, "no private mount namespace: %s\n", std::strerror(errno));
    return 77;
  }
  ::setenv("TMPDIR", a.host_dir.c_str(), 1);
  // Block the stop signals before the worker's threads start (they inherit
  // the mask), so that only sigwait() below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  auto queue = xferq::Queue::open(a.db, options_for(a));
  if (!queue.ok()) {
    std::fprintf(stderr, "open: %s\n", queue.error().message().c_str());
    return 3;
  }
  if (a.complete) return complete_jobs(**queue, a.jobs_to_complete);
  std::printf("ready\n");
  std::fflush(stdout);
  int sig = 0;
  ::sigwait(&stop, &sig);
  queue->reset();
  return 0;
}
