// bandwidth_manager.h — the worker loop's bandwidth allocator: it keeps the
// queue file's bandwidth settings, re-divides the limit in force among the
// running transfers (bandwidth.h's allocate_bandwidth) and sets each
// transfer's throttle (throttle.h) to its share, and unpauses the requests
// whose throttle has refilled or that paused for their share of a loop turn
// (a download takes at most one receive buffer per turn; curl_request.h).
//
// When: the settings are re-read when the loop reports a change (an API call
// of this process, or another process's commit seen by the change-counter
// poll) or the set of running jobs changed; the shares are recomputed then,
// and every kPeriod while transfers run, so a schedule boundary or a slow
// transfer's unused share is acted on within a quarter second. So a limit
// changed anywhere reaches a running transfer well within a second.
//
// Thread safety: worker thread only.
#ifndef XFERQ_WORKER_BANDWIDTH_MANAGER_H_
#define XFERQ_WORKER_BANDWIDTH_MANAGER_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <system_error>

#include "storage/store.h"
#include "worker/bandwidth.h"
#include "worker/job_driver.h"
#include "xferq/options.h"

namespace xferq::detail {

class BandwidthManager {
 public:
  using Clock = std::chrono::steady_clock;
  // How often shares are recomputed while transfers run: often enough that
  // a change lands within a second, seldom enough to cost nothing.
  static constexpr std::chrono::milliseconds kPeriod{250};

  BandwidthManager(Store& store, const QueueOptions& options) : store_(store), options_(options) {}

  // The settings may have changed: re-read them at the next turn.
  void invalidate() { stale_ = true; }
  // Once per loop turn, before libcurl runs: re-reads and re-divides when
  // due, then begins each request's turn (CurlRequest::begin_turn: unpauses
  // the requests whose share or throttle allows). A store error is returned
  // (a busy store is retried next turn).
  std::error_code turn(const std::map<std::string, std::unique_ptr<JobDriver>>& jobs);
  // How long the loop may sleep before the next turn is needed here (a
  // paused request to resume, or the next period); -1: no need.
  int64_t wake_in_ms(const std::map<std::string, std::unique_ptr<JobDriver>>& jobs) const;

 private:
  bool any_limit() const;
  void reallocate(const std::map<std::string, std::unique_ptr<JobDriver>>& jobs, Clock::time_point now);

  Store& store_;
  const QueueOptions& options_;
  bool stale_ = true;                            // settings to be read again
  BandwidthSettings settings_;
  std::map<std::string, JobBandwidth> job_limits_;  // running jobs, as last read
  Clock::time_point last_{};                     // last reallocation
  std::map<std::string, int64_t> shares_;        // applied, by job id
};

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_BANDWIDTH_MANAGER_H_
