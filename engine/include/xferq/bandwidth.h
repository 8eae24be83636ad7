// xferq/bandwidth.h — bandwidth limits and their schedule (BITS's group
// policy "limit the maximum network bandwidth for BITS background transfers",
// with its work / non-work schedule).
//
// Three limits, in bytes per second, 0 meaning none:
// - the queue-wide limit (Queue::set_bandwidth_limit, or the schedule window
//   in force), shared by every running transfer but FOREGROUND ones;
// - a per-priority limit (Queue::set_priority_bandwidth_limit), a cap on each
//   transfer of that priority — FOREGROUND's included, so FOREGROUND is
//   unthrottled unless its priority limit (or its job's limit) is set;
// - a per-job limit (Job::set_bandwidth_limit).
// The worker re-divides the queue-wide limit among its running transfers at
// least every 250 ms: equal shares, each capped by its job's and its
// priority's limits, and what a capped or slow transfer leaves is given to
// the others. Bytes in both directions count (uploads too).
#ifndef XFERQ_BANDWIDTH_H_
#define XFERQ_BANDWIDTH_H_

#include <cstdint>
#include <vector>

namespace xferq {

// Largest limit accepted anywhere (1 TB/s); larger values are
// E_INVALIDARG rather than silently meaning "none".
inline constexpr int64_t kMaxBandwidthLimit = int64_t{1} << 40;

// Days for BandwidthWindow::days: bit N is day N of struct tm's tm_wday.
inline constexpr uint8_t kSunday = 1 << 0;
inline constexpr uint8_t kMonday = 1 << 1;
inline constexpr uint8_t kTuesday = 1 << 2;
inline constexpr uint8_t kWednesday = 1 << 3;
inline constexpr uint8_t kThursday = 1 << 4;
inline constexpr uint8_t kFriday = 1 << 5;
inline constexpr uint8_t kSaturday = 1 << 6;
inline constexpr uint8_t kWeekdays = kMonday | kTuesday | kWednesday | kThursday | kFriday;
inline constexpr uint8_t kEveryDay = 0x7f;

// One entry of a bandwidth schedule: on the days in `days`, from start_hour
// (0-23) up to end_hour (1-24, after start_hour) local time, the queue-wide
// limit is `bytes_per_sec` (0: none). A window over midnight is two entries.
// Outside every window the queue's own limit (Queue::bandwidth_limit())
// applies. Where windows overlap, the first in the list wins, as in a
// firewall's rule list: the caller orders them.
// Thread safety: a plain value type; not synchronized.
struct BandwidthWindow {
  uint8_t days = kEveryDay;
  int start_hour = 0;
  int end_hour = 24;
  int64_t bytes_per_sec = 0;

  bool operator==(const BandwidthWindow& o) const {
    return days == o.days && start_hour == o.start_hour && end_hour == o.end_hour &&
           bytes_per_sec == o.bytes_per_sec;
  }
};

// Most windows a schedule may hold.
inline constexpr size_t kMaxBandwidthWindows = 64;

}  // namespace xferq

#endif  // XFERQ_BANDWIDTH_H_
