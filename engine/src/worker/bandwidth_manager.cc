// bandwidth_manager.cc — see bandwidth_manager.h.
#include "worker/bandwidth_manager.h"

#include <algorithm>
#include <vector>

namespace xferq::detail {

bool BandwidthManager::any_limit() const {
  if (options_.bandwidth_limit > 0 || (settings_.queue_limit && *settings_.queue_limit > 0)) return true;
  if (!settings_.schedule.empty()) return true;
  for (int64_t p : settings_.priority_limits)
    if (p > 0) return true;
  for (const auto& kv : job_limits_)
    if (kv.second.limit > 0) return true;
  return false;
}

std::error_code BandwidthManager::turn(const std::map<std::string, std::unique_ptr<JobDriver>>& jobs) {
  if (jobs.empty()) {
    // Nothing to pace: the settings are read when a transfer starts (its
    // arrival changes the set of jobs), not on every call an idle worker
    // hears of.
    shares_.clear();
    return {};
  }
  const Clock::time_point now = Clock::now();
  // Jobs that came or went: the new ones' limits are read, and every share
  // changes with the number of transfers. A job whose driver is new (also a
  // job restarted under the same id) has no share yet.
  bool same_jobs = jobs.size() == shares_.size();
  for (auto it = jobs.begin(); same_jobs && it != jobs.end(); ++it)
    same_jobs = shares_.count(it->first) != 0 && it->second->throttle().assigned();
  std::error_code error;
  if (stale_ || !same_jobs) {
    std::vector<std::string> ids;
    for (const auto& kv : jobs) ids.push_back(kv.first);
    auto state = store_.bandwidth_state(ids);
    if (state) {
      settings_ = std::move(state->first);
      job_limits_ = std::move(state->second);
      stale_ = false;
      reallocate(jobs, now);
    } else {
      error = state.error();  // keep the old shares; try again next turn
    }
  } else if (now - last_ >= kPeriod && any_limit()) {
    reallocate(jobs, now);
  }
  // Even on a store error: a request paused for its share of the last turn
  // must go on.
  for (const auto& kv : jobs) kv.second->begin_turn(now);
  return error;
}

void BandwidthManager::reallocate(const std::map<std::string, std::unique_ptr<JobDriver>>& jobs,
                                  Clock::time_point now) {
  const double period_s = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  BandwidthPolicy policy;
  const int64_t base = settings_.queue_limit ? *settings_.queue_limit : options_.bandwidth_limit;
  policy.queue_limit = scheduled_limit_at(settings_.schedule, base, schedule_now_s());
  policy.priority_limits = settings_.priority_limits;
  std::vector<TransferNeed> needs;
  std::vector<JobDriver*> drivers;
  for (const auto& [id, driver] : jobs) {
    TransferNeed need;
    auto it = job_limits_.find(id);
    if (it != job_limits_.end()) {
      need.priority = it->second.priority;
      need.job_limit = it->second.limit;
    }
    // A transfer the bucket never held back over a whole period moved what
    // it could: its pace is its demand, with a quarter more as headroom so
    // that it can show it wants more. Shorter periods say too little.
    bool held_back = false;
    const int64_t bytes = driver->throttle().take_period(&held_back);
    const int64_t rate = driver->throttle().rate();
    if (!held_back && rate > 0 && period_s >= 0.2) {
      const auto pace = static_cast<int64_t>(static_cast<double>(bytes) / period_s);
      if (pace < rate) need.demand = std::max<int64_t>(pace + pace / 4, 16384);
    }
    needs.push_back(need);
    drivers.push_back(driver.get());
  }
  const std::vector<int64_t> shares = allocate_bandwidth(policy, needs);
  BandwidthDecision decision;
  decision.queue_limit = policy.queue_limit;
  shares_.clear();
  for (size_t i = 0; i < drivers.size(); ++i) {
    drivers[i]->throttle().set_rate(shares[i], now);  // the same rate: only a refill
    shares_[drivers[i]->job_id()] = shares[i];
  }
  decision.shares = shares_;
  report_bandwidth_decision(decision);
}

int64_t BandwidthManager::wake_in_ms(const std::map<std::string, std::unique_ptr<JobDriver>>& jobs) const {
  if (jobs.empty()) return -1;
  const Clock::time_point now = Clock::now();
  Clock::time_point next = Clock::time_point::max();
  if (any_limit()) next = last_ + kPeriod;
  for (const auto& kv : jobs)
    if (kv.second->paused()) next = std::min(next, kv.second->throttle().ready_at());
  if (next == Clock::time_point::max()) return -1;
  if (next <= now) return 0;
  // Rounded up: waking a millisecond early would only turn the loop idly.
  return std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
}

}  // namespace xferq::detail
