// worker/notifier.cc — see notifier.h.
#include "worker/notifier.h"

#include <algorithm>

#include "job_events.h"
#include "worker/transfer_driver.h"

namespace xferq::detail {

namespace {
// A rerun waits at least this long, whatever the job's retry delay (the
// queue's floor may be 0 in tests): never a tight loop of failing programs.
constexpr std::chrono::seconds kMinRerunDelay{1};
}  // namespace

std::vector<std::string> Notifier::substitute(const std::vector<std::string>& args, const std::string& job_id) {
  static const std::string kToken = "{job}";
  std::vector<std::string> out;
  out.reserve(args.size());
  for (const std::string& a : args) {
    std::string s;
    size_t from = 0;
    for (size_t at; (at = a.find(kToken, from)) != std::string::npos; from = at + kToken.size())
      s.append(a, from, at - from).append(job_id);
    s.append(a, from, std::string::npos);
    out.push_back(std::move(s));
  }
  return out;
}

void Notifier::job_ended(const std::string& job_id, JobState state) {
  reruns_.erase(job_id);
  throttle_.erase(job_id);
  if (!start(job_id, state)) schedule_rerun(job_id, state);
}

bool Notifier::start(const std::string& job_id, JobState state) {
  auto command = loop_.store().notify_command_line(job_id);
  if (!command) {
    loop_.store_failed(command.error());
    return true;  // a purged job, or a failed store: nothing to run again
  }
  if (command->program.empty()) return true;
  auto pid = spawn_program(command->program, substitute(command->args, job_id));
  if (!pid) return false;  // e.g. the program was deleted since it was set
  children_.add(*pid);
  running_[*pid] = Run{job_id, state};
  return true;
}

void Notifier::schedule_rerun(const std::string& job_id, JobState state) {
  auto info = loop_.store().job_info(job_id);
  if (!info) {
    loop_.store_failed(info.error());
    return;
  }
  if (info->state != state) return;  // completed, cancelled, resumed: BITS stops too
  const auto delay = std::max<std::chrono::seconds>(info->minimum_retry_delay, kMinRerunDelay);
  reruns_[job_id] = Rerun{state, Steady::now() + delay};
}

void Notifier::on_turn() {
  if (!children_.empty()) {
    for (const ChildProcesses::Exit& e : children_.collect()) {
      auto it = running_.find(e.pid);
      if (it == running_.end()) continue;
      const Run run = it->second;
      running_.erase(it);
      // A newer end of the same job (it was resumed and ended again) owns
      // the job's rerun: an older program's failure does not add one.
      if (!e.success && !reruns_.count(run.job_id)) schedule_rerun(run.job_id, run.state);
    }
  }
  const auto now = Steady::now();
  for (auto it = reruns_.begin(); it != reruns_.end();) {
    if (now < it->second.due) {
      ++it;
      continue;
    }
    const std::string job_id = it->first;
    const JobState state = it->second.state;
    it = reruns_.erase(it);
    auto current = loop_.store().job_state(job_id);
    if (!current) {
      if (loop_.store_failed(current.error())) reruns_[job_id] = Rerun{state, now + kMinRerunDelay};
      continue;
    }
    if (*current != state) continue;
    if (!start(job_id, state)) schedule_rerun(job_id, state);
  }
}

void Notifier::progressed(const std::string& job_id, bool final) {
  const auto throttle = loop_.events().progress_throttle();
  if (!throttle) return;
  const auto now = Steady::now();
  auto found = throttle_.find(job_id);
  if (!final && found != throttle_.end() && now - found->second.last < throttle->interval) return;
  auto info = loop_.store().job_info(job_id);
  if (!info) {
    loop_.store_failed(info.error());
    return;
  }
  const JobProgress& p = info->progress;
  int64_t bucket = -1;
  if (throttle->percent > 0 && p.bytes_total > 0)
    bucket = p.bytes_transferred * 100 / p.bytes_total / static_cast<int64_t>(throttle->percent);
  if (!final && found != throttle_.end() && bucket >= 0 && bucket == found->second.bucket) return;
  if (final)
    throttle_.erase(job_id);
  else
    throttle_[job_id] = Throttle{now, bucket};
  loop_.events().progress(job_id, p);
}

}  // namespace xferq::detail
