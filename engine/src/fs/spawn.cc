// fs/spawn.cc — see spawn.h.
#include "fs/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <thread>

#include "fs/file_ops.h"
#include "xferq/error.h"

extern char** environ;

namespace xferq::detail {

namespace {

// posix_spawn's attribute and file-action objects, destroyed on every path.
struct SpawnSetup {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnSetup() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

}  // namespace

Result<pid_t> spawn_program(const std::string& program, const std::vector<std::string>& args) {
  SpawnSetup s;
  // The worker thread's mask and an embedder's ignored signals (Python
  // ignores SIGPIPE) would otherwise be inherited by the program.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&s.attr, &none);
  posix_spawnattr_setsigdefault(&s.attr, &all);
  posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawn_file_actions_addopen(&s.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&s.actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&s.actions, 2, "/dev/null", O_WRONLY, 0);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Nothing else of ours: not the queue file, not a transfer's socket, above
  // all not the worker lock's descriptor (a program outliving the worker
  // would hold the lock), whatever their close-on-exec flag.
  posix_spawn_file_actions_addclosefrom_np(&s.actions, 3);
#endif
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, program.c_str(), &s.actions, &s.attr, argv.data(), environ);
  // ENOENT names the program here, not a directory on the way to it.
  if (rc == ENOENT) return make_error_code(Errc::file_not_found);
  if (rc != 0) return errno_error(rc);
  return pid;
}

std::vector<ChildProcesses::Exit> ChildProcesses::collect() {
  std::vector<Exit> exited;
  for (auto it = pids_.begin(); it != pids_.end();) {
    int status = 0;
    const pid_t r = ::waitpid(*it, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) {
      ++it;
      continue;
    }
    // r < 0 (ECHILD): it is gone, and its status with it — someone else
    // collected it (an application that waits for every child, or SIGCHLD
    // set to SIG_IGN, which reaps children by itself). Counted as a success:
    // a failure there would rerun every program forever.
    const bool unknown = r < 0;
    exited.push_back({*it, unknown || (WIFEXITED(status) && WEXITSTATUS(status) == 0)});
    it = pids_.erase(it);
  }
  return exited;
}

ChildProcesses::~ChildProcesses() {
  if (pids_.empty()) return;
  std::thread([pids = pids_] {
    for (const pid_t pid : pids) {
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }).detach();
}

}  // namespace xferq::detail
