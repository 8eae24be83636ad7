// fs/spawn.h — the process effects of notifications: starting a program
// without a shell (posix_spawn) and collecting the exit status of the
// programs started, without blocking and without zombies.
#ifndef XFERQ_FS_SPAWN_H_
#define XFERQ_FS_SPAWN_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "xferq/result.h"

namespace xferq::detail {

// Starts `program` (an absolute path; no PATH search, no shell) with argv
// {program, args...}, stdin/stdout/stderr on /dev/null, every other
// descriptor of this process closed, default signal dispositions and an
// empty signal mask, this process's environment and working directory.
// Returns the child's pid, or the error posix_spawn reported
// (ERROR_FILE_NOT_FOUND, E_ACCESSDENIED, ...). The caller must collect it
// (ChildProcesses).
Result<pid_t> spawn_program(const std::string& program, const std::vector<std::string>& args);

// The children one owner started, collected with waitpid(pid, WNOHANG) on
// their own pids only — never waitpid(-1), which would take the exit status
// of the application's other children (a Python subprocess, say).
//
// Thread safety: not synchronized; one owner thread (the worker's).
class ChildProcesses {
 public:
  struct Exit {
    pid_t pid = 0;
    // Exited with status 0 (not killed by a signal), or its status is lost
    // (another waiter took it; SIGCHLD ignored).
    bool success = false;
  };

  ChildProcesses() = default;
  // Children still running are handed to a detached thread that waits for
  // each of them, so none stays a zombie after the owner is gone.
  ~ChildProcesses();
  ChildProcesses(const ChildProcesses&) = delete;
  ChildProcesses& operator=(const ChildProcesses&) = delete;

  void add(pid_t pid) { pids_.push_back(pid); }
  // The children that exited since the last call; never blocks.
  std::vector<Exit> collect();
  bool empty() const { return pids_.empty(); }

 private:
  std::vector<pid_t> pids_;
};

}  // namespace xferq::detail

#endif  // XFERQ_FS_SPAWN_H_
