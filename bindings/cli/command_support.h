// command_support.h — what every `xferq` subcommand shares: opening the queue,
// finding a job by GUID or name, turning errors into a reported failure and an
// exit status, and taking SIGINT/SIGTERM. Private to bindings/cli.
#ifndef XFERQ_BINDINGS_CLI_COMMAND_SUPPORT_H_
#define XFERQ_BINDINGS_CLI_COMMAND_SUPPORT_H_

#include <signal.h>

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "cli.h"

namespace xferq::cli {

// SIGINT and SIGTERM for a long-running command (run, serve, monitor,
// transfer): blocked in the constructing thread and so in every thread it
// starts afterwards, and taken only by that thread's wait(). A handler would
// run on whichever thread the kernel picks, and under a sanitizer that thread
// may hold the signal until its next intercepted call: a worker or checkpoint
// thread asleep on a condition variable held a monitor's SIGINT past 10 s.
// Construct it before the queue is opened (before any thread starts). Not
// copyable; used by one thread. The mask stays for the process's life: a
// command that took its signal returns and the process exits.
class StopSignals {
 public:
  StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Waits up to `timeout` (zero: only looks) for SIGINT or SIGTERM; true once
  // one has been taken, by this call or an earlier one.
  bool wait(std::chrono::nanoseconds timeout);
  bool taken() const { return taken_; }

 private:
  sigset_t set_;
  bool taken_ = false;
};

// Thrown inside a command to stop it with a reported failure.
struct Fail {
  Failure f;
};
[[noreturn]] void fail(const std::error_code& ec, const std::string& text = "");
[[noreturn]] void fail_arg(const std::string& text);

// `create`: the command may create the queue (create, transfer, run); the
// others read or steer an existing one and never make a file or directory.
std::unique_ptr<Queue> open_queue(const Globals& g, bool worker, bool create = false);
// A GUID, or a display name unique among active jobs.
Job find_job(Queue& q, const std::string& ref);
// The job's state by name ("UNKNOWN" if it cannot be read).
std::string state_of(const Job& job);
// Reports a call's error; DO_E_INVALID_STATE says which call and state.
void check(const std::error_code& ec, const Job& job, const std::string& verb);
std::string absolute_path(const std::string& p);
// Reads a secret given as "-" from standard input (one line; a trailing CR
// dropped), so that it never shows in the process list. A usage error if
// there is none.
std::string secret_from_stdin(const char* what);
int64_t parse_seconds(const std::string& s);
void print_json(const nlohmann::json& j);
nlohmann::json full_json(const Job& job);
// One line per job and a count, as `list` and `monitor` print them.
void print_job_lines(const std::vector<JobInfo>& infos);
// `info --verbose`: a file's progress and names, then what its server last
// answered; the TLS options (paths; whether a passphrase is stored).
void print_file_lines(const FileInfo& f);
void print_tls_lines(const TlsOptions& tls);

template <typename T>
T get(Result<T> r) {
  if (!r) fail(r.error());
  return std::move(*r);
}

// Runs a command body: a Fail or an exception becomes its report and status.
template <typename F>
int guarded(F&& f) {
  try {
    return f();
  } catch (const Fail& e) {
    return report(e.f);
  } catch (const std::exception& e) {
    return report(Failure{kExitFailure, std::string("E_FAIL: ") + e.what()});
  }
}

}  // namespace xferq::cli

#endif  // XFERQ_BINDINGS_CLI_COMMAND_SUPPORT_H_
