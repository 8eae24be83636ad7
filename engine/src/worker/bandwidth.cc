// bandwidth.cc — see bandwidth.h.
#include "worker/bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <numeric>

#include "xferq/error.h"

namespace xferq::detail {
namespace {

int64_t min_limit(int64_t a, int64_t b) {
  // 0 means none: the smaller of the limits that exist.
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

// Max-min fair division of `total` among transfers capped at caps[i]
// (0: no cap). Returns each one's share; the sum never exceeds total.
std::vector<int64_t> water_fill(int64_t total, const std::vector<int64_t>& caps) {
  std::vector<size_t> order(caps.size());
  std::iota(order.begin(), order.end(), 0);
  // The most constrained first: each takes min(cap, an equal part of what is
  // left), so what a capped transfer cannot use goes to those after it.
  auto key = [&](size_t i) { return caps[i] == 0 ? INT64_MAX : caps[i]; };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
  std::vector<int64_t> share(caps.size(), 0);
  int64_t left = total;
  size_t remaining = caps.size();
  for (size_t i : order) {
    const int64_t equal = left / static_cast<int64_t>(remaining);
    share[i] = caps[i] == 0 ? equal : std::min(caps[i], equal);
    left -= share[i];
    --remaining;
  }
  return share;
}

std::atomic<ScheduleClock> g_schedule_clock{nullptr};
std::mutex g_observer_mu;
std::function<void(const BandwidthDecision&)>& observer() {
  static std::function<void(const BandwidthDecision&)> f;
  return f;
}

}  // namespace

std::vector<int64_t> allocate_bandwidth(const BandwidthPolicy& policy, const std::vector<TransferNeed>& needs) {
  std::vector<int64_t> shares(needs.size(), 0);
  std::vector<size_t> shared;     // indexes of the transfers under the queue-wide limit
  std::vector<int64_t> hard_caps;  // their job / priority caps
  for (size_t i = 0; i < needs.size(); ++i) {
    const int p = std::clamp(static_cast<int>(needs[i].priority), 0, 3);
    const int64_t cap = min_limit(needs[i].job_limit, policy.priority_limits[p]);
    if (needs[i].priority == JobPriority::foreground || policy.queue_limit == 0) {
      shares[i] = cap;
      continue;
    }
    shared.push_back(i);
    hard_caps.push_back(cap);
  }
  if (shared.empty()) return shares;
  // First pass: demand counts as a cap, so a slow transfer's unused part is
  // shared by the others.
  std::vector<int64_t> soft_caps(hard_caps);
  for (size_t k = 0; k < shared.size(); ++k) soft_caps[k] = min_limit(hard_caps[k], needs[shared[k]].demand);
  std::vector<int64_t> first = water_fill(policy.queue_limit, soft_caps);
  int64_t used = std::accumulate(first.begin(), first.end(), int64_t{0});
  // Second pass: what is still left goes to those below their hard cap.
  std::vector<int64_t> room(shared.size(), 0);
  bool any_room = false;
  for (size_t k = 0; k < shared.size(); ++k) {
    room[k] = hard_caps[k] == 0 ? 0 : hard_caps[k] - first[k];
    if (hard_caps[k] == 0 || room[k] > 0) any_room = true;
    if (hard_caps[k] != 0 && room[k] <= 0) room[k] = -1;  // full: takes nothing more
  }
  if (any_room && used < policy.queue_limit) {
    std::vector<int64_t> caps2;
    std::vector<size_t> who;
    for (size_t k = 0; k < shared.size(); ++k) {
      if (room[k] < 0) continue;
      caps2.push_back(room[k]);
      who.push_back(k);
    }
    std::vector<int64_t> extra = water_fill(policy.queue_limit - used, caps2);
    for (size_t j = 0; j < who.size(); ++j) first[who[j]] += extra[j];
  }
  for (size_t k = 0; k < shared.size(); ++k) shares[shared[k]] = std::max<int64_t>(first[k], 1);
  return shares;
}

int64_t scheduled_limit(const std::vector<BandwidthWindow>& schedule, int64_t default_limit, int wday, int hour) {
  for (const BandwidthWindow& w : schedule) {
    if (!(w.days & (1u << wday))) continue;
    if (hour >= w.start_hour && hour < w.end_hour) return w.bytes_per_sec;
  }
  return default_limit;
}

int64_t scheduled_limit_at(const std::vector<BandwidthWindow>& schedule, int64_t default_limit,
                           int64_t unix_seconds) {
  if (schedule.empty()) return default_limit;
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm local {};
  if (!localtime_r(&t, &local)) return default_limit;
  return scheduled_limit(schedule, default_limit, local.tm_wday, local.tm_hour);
}

void set_schedule_clock_for_testing(ScheduleClock clock) { g_schedule_clock.store(clock); }

int64_t schedule_now_s() {
  if (ScheduleClock c = g_schedule_clock.load()) return c();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::error_code check_bandwidth_limit(int64_t bytes_per_sec) {
  if (bytes_per_sec < 0 || bytes_per_sec > kMaxBandwidthLimit) return make_error_code(Errc::invalid_arg);
  return {};
}

std::error_code check_bandwidth_schedule(const std::vector<BandwidthWindow>& schedule) {
  if (schedule.size() > kMaxBandwidthWindows) return make_error_code(Errc::invalid_arg);
  for (const BandwidthWindow& w : schedule) {
    if ((w.days & kEveryDay) == 0 || (w.days & ~kEveryDay) != 0) return make_error_code(Errc::invalid_arg);
    if (w.start_hour < 0 || w.start_hour > 23 || w.end_hour <= w.start_hour || w.end_hour > 24)
      return make_error_code(Errc::invalid_arg);
    if (auto ec = check_bandwidth_limit(w.bytes_per_sec)) return ec;
  }
  return {};
}

void set_bandwidth_observer_for_testing(std::function<void(const BandwidthDecision&)> f) {
  std::lock_guard<std::mutex> lock(g_observer_mu);
  observer() = std::move(f);
}

void report_bandwidth_decision(const BandwidthDecision& decision) {
  std::lock_guard<std::mutex> lock(g_observer_mu);
  if (observer()) observer()(decision);
}

}  // namespace xferq::detail
