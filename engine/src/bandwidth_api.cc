// bandwidth_api.cc — the public bandwidth calls (Queue's queue-wide limit,
// priority limits and schedule; Job's own limit): the argument checks here,
// one store transaction each, then the worker told (queue_core.h).
#include "clock.h"
#include "queue_core.h"
#include "worker/bandwidth.h"
#include "xferq/job.h"
#include "xferq/queue.h"

namespace xferq {
namespace {

bool bad_priority(JobPriority priority) {
  const int p = static_cast<int>(priority);
  return p < 0 || p > 3;
}

}  // namespace

std::error_code Queue::set_bandwidth_limit(int64_t bytes_per_sec) {
  if (auto ec = detail::check_bandwidth_limit(bytes_per_sec)) return ec;
  if (auto ec = core_->store().set_queue_bandwidth_limit(bytes_per_sec)) return ec;
  core_->bandwidth_settings_changed();
  return {};
}

Result<int64_t> Queue::bandwidth_limit() {
  auto settings = core_->store().bandwidth_settings();
  if (!settings) return settings.error();
  return settings->queue_limit ? *settings->queue_limit : core_->options().bandwidth_limit;
}

std::error_code Queue::set_priority_bandwidth_limit(JobPriority priority, int64_t bytes_per_sec) {
  if (bad_priority(priority)) return make_error_code(Errc::not_implemented);
  if (auto ec = detail::check_bandwidth_limit(bytes_per_sec)) return ec;
  if (auto ec = core_->store().set_priority_bandwidth_limit(priority, bytes_per_sec)) return ec;
  core_->bandwidth_settings_changed();
  return {};
}

Result<int64_t> Queue::priority_bandwidth_limit(JobPriority priority) {
  if (bad_priority(priority)) return make_error_code(Errc::not_implemented);
  auto settings = core_->store().bandwidth_settings();
  if (!settings) return settings.error();
  return settings->priority_limits[static_cast<int>(priority)];
}

std::error_code Queue::set_bandwidth_schedule(const std::vector<BandwidthWindow>& schedule) {
  if (auto ec = detail::check_bandwidth_schedule(schedule)) return ec;
  if (auto ec = core_->store().set_bandwidth_schedule(schedule)) return ec;
  core_->bandwidth_settings_changed();
  return {};
}

Result<std::vector<BandwidthWindow>> Queue::bandwidth_schedule() {
  auto settings = core_->store().bandwidth_settings();
  if (!settings) return settings.error();
  return std::move(settings->schedule);
}

Result<int64_t> Job::bandwidth_limit() const {
  if (!core_) return make_error_code(Errc::not_found);
  return core_->store().job_bandwidth_limit(id_);
}

std::error_code Job::set_bandwidth_limit(int64_t bytes_per_sec) {
  if (!core_) return make_error_code(Errc::not_found);
  if (auto ec = detail::check_bandwidth_limit(bytes_per_sec)) return ec;
  if (auto ec = core_->store().set_job_bandwidth_limit(id_, bytes_per_sec, detail::now_us())) return ec;
  core_->job_bandwidth_changed(id_);
  return {};
}

}  // namespace xferq
