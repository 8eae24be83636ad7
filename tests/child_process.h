// child_process.h — running a program as a user would, for the CLI tests:
// fork + exec only (nothing of gtest or the fixture server runs in a child),
// stdout and stderr to files.
#ifndef XFERQ_TESTS_CHILD_PROCESS_H_
#define XFERQ_TESTS_CHILD_PROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace xferq::testing {

// Starts `prog` with `args` (argv[0] is prog), stdout/stderr to the files,
// in directory `cwd` ("" = the current one).
inline pid_t spawn(const std::string& prog, const std::vector<std::string>& args, const std::string& out_file,
                   const std::string& err_file, const std::string& cwd = "") {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(prog.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int o = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int e = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(o, 1);
    ::dup2(e, 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execv(prog.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// The exit status (128 + signal if killed), -1 if it ran past `timeout`
// (then it is killed).
inline int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  int st = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > end) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -2;
}

}  // namespace xferq::testing

#endif  // XFERQ_TESTS_CHILD_PROCESS_H_
