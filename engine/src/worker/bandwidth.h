// bandwidth.h — the pure parts of bandwidth limiting: which queue-wide limit
// a schedule puts in force at a given local time, how a limit is divided
// among running transfers, and the checks every API's input goes through.
// The worker's use of them (reading the queue file, applying shares to the
// transfers' throttles) is bandwidth_manager.h; the public types are
// xferq/bandwidth.h.
//
// Thread safety: the functions are pure (or read only the process's clock
// seam, an atomic); safe from any thread.
#ifndef XFERQ_WORKER_BANDWIDTH_H_
#define XFERQ_WORKER_BANDWIDTH_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "xferq/bandwidth.h"
#include "xferq/types.h"

namespace xferq::detail {

// The limits in force at one moment (the schedule already evaluated).
struct BandwidthPolicy {
  int64_t queue_limit = 0;                   // shared by non-FOREGROUND transfers; 0: none
  std::array<int64_t, 4> priority_limits{};  // cap per transfer, by JobPriority; 0: none
};

// One running transfer, as the allocator sees it.
struct TransferNeed {
  JobPriority priority = JobPriority::normal;
  int64_t job_limit = 0;  // the job's own limit; 0: none
  // What the transfer moved per second when nothing held it back (it was
  // slower than its share: a slow server or disk); 0: unknown, or it used
  // all it was given. Lets the allocator give the unused rest to others.
  int64_t demand = 0;
};

// Each transfer's share in bytes per second (0: unthrottled), in the order of
// `needs`. FOREGROUND transfers stand outside the queue-wide limit (BITS
// limits background transfers only) and get their caps; the others divide
// queue_limit by max-min fairness: equal shares, except that a transfer
// capped below its share (by its job's or its priority's limit, or by its
// measured demand) keeps only what it can use and the rest is shared among
// the others. What demand-capped transfers leave unused at the end goes
// back to them in equal parts, so a transfer that speeds up is not held to
// its old pace. The shares never add up to more than queue_limit.
std::vector<int64_t> allocate_bandwidth(const BandwidthPolicy& policy, const std::vector<TransferNeed>& needs);

// The queue-wide limit in force on day `wday` (0 = Sunday, as tm_wday) at
// `hour` (0-23): the first window that covers it, else `default_limit`.
int64_t scheduled_limit(const std::vector<BandwidthWindow>& schedule, int64_t default_limit, int wday, int hour);
// The same at `unix_seconds`, in the process's local time zone.
int64_t scheduled_limit_at(const std::vector<BandwidthWindow>& schedule, int64_t default_limit,
                           int64_t unix_seconds);

// The wall clock the schedule is evaluated against (seconds since the
// epoch). Tests replace it to cross window boundaries without waiting;
// nullptr restores the system clock. The retry and progress timers do not
// read it.
using ScheduleClock = int64_t (*)();
void set_schedule_clock_for_testing(ScheduleClock clock);
int64_t schedule_now_s();

// Input checks: E_INVALIDARG for a negative limit, one above
// kMaxBandwidthLimit, a window with no day, hours outside 0-24 or not
// increasing, or more than kMaxBandwidthWindows windows.
std::error_code check_bandwidth_limit(int64_t bytes_per_sec);
std::error_code check_bandwidth_schedule(const std::vector<BandwidthWindow>& schedule);

// Test seam: called on the worker thread after each reallocation with each
// running job's applied share (0: unthrottled) and the queue-wide limit in
// force. Empty by default; set before starting the worker.
struct BandwidthDecision {
  int64_t queue_limit = 0;
  std::map<std::string, int64_t> shares;  // job id -> bytes per second
};
void set_bandwidth_observer_for_testing(std::function<void(const BandwidthDecision&)> observer);
void report_bandwidth_decision(const BandwidthDecision& decision);

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_BANDWIDTH_H_
