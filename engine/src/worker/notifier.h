// worker/notifier.h — the worker's notifications beyond the plain callbacks
// of job_events.h: it runs a job's notify command line
// (Job::set_notify_command_line) when the job reaches TRANSFERRED or ERROR,
// collects the programs' exit statuses each turn of the loop, and reruns a
// failed one after the job's minimum retry delay while the job stays where
// it was; and it throttles the progress callback (JobCallbacks::progress).
//
// Thread safety: worker thread only, like the loop that owns it.
#ifndef XFERQ_WORKER_NOTIFIER_H_
#define XFERQ_WORKER_NOTIFIER_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fs/spawn.h"
#include "xferq/types.h"

namespace xferq::detail {

class TransferLoop;

class Notifier {
 public:
  explicit Notifier(TransferLoop& loop) : loop_(loop) {}
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // The job reached `state` (TRANSFERRED or ERROR): start its command line,
  // if it has one. Replaces a rerun pending for the job.
  void job_ended(const std::string& job_id, JobState state);
  // The job's committed progress changed: call the progress callback unless
  // the throttle says not yet. `final`: the job reached TRANSFERRED; call it
  // regardless, and forget the job's throttle.
  void progressed(const std::string& job_id, bool final);
  // Once per turn of the loop: collect the programs that exited; schedule a
  // rerun for a failed one; start the reruns that are due.
  void on_turn();

  // "{job}" in each argument replaced by `job_id`.
  static std::vector<std::string> substitute(const std::vector<std::string>& args, const std::string& job_id);

 private:
  using Steady = std::chrono::steady_clock;
  // A program started for a job, or waiting to be started again.
  struct Run {
    std::string job_id;
    JobState state = JobState::transferred;  // the state that started it
  };
  struct Rerun {
    JobState state = JobState::transferred;
    Steady::time_point due;
  };
  struct Throttle {
    Steady::time_point last;
    int64_t bucket = -1;  // the percent step of the last call; -1: unknown total
  };

  // Starts the job's program; false if it could not be started (or the
  // job has none any more, or the store failed).
  bool start(const std::string& job_id, JobState state);
  // The program ended without success: try again after the retry delay if
  // the job is still in `state`.
  void schedule_rerun(const std::string& job_id, JobState state);

  TransferLoop& loop_;
  ChildProcesses children_;
  std::map<pid_t, Run> running_;
  std::map<std::string, Rerun> reruns_;      // by job id
  std::map<std::string, Throttle> throttle_; // by job id
};

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_NOTIFIER_H_
