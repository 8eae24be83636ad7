// job_events.cc — see job_events.h.
#include "job_events.h"

#include <algorithm>

namespace xferq::detail {

void JobEvents::set_callbacks(JobCallbacks callbacks) {
  auto p = std::make_shared<const JobCallbacks>(std::move(callbacks));
  std::lock_guard<std::mutex> lock(mu_);
  callbacks_ = std::move(p);
}

std::shared_ptr<const JobCallbacks> JobEvents::current() {
  std::lock_guard<std::mutex> lock(mu_);
  return callbacks_;
}

void JobEvents::transferred(const std::string& id) {
  if (auto cb = current(); cb && cb->transferred) cb->transferred(id);
}

void JobEvents::error(const std::string& id, const JobErrorInfo& error) {
  if (auto cb = current(); cb && cb->error) cb->error(id, error);
}

void JobEvents::worker_stopped(std::error_code error) {
  if (auto cb = current(); cb && cb->worker_stopped) cb->worker_stopped(error);
}

void JobEvents::modified(const std::string& id) {
  if (auto cb = current(); cb && cb->modified) cb->modified(id);
}

void JobEvents::file_transferred(const std::string& id, uint32_t file_index) {
  if (auto cb = current(); cb && cb->file_transferred) cb->file_transferred(id, file_index);
}

void JobEvents::progress(const std::string& id, const JobProgress& progress) {
  if (auto cb = current(); cb && cb->progress) cb->progress(id, progress);
}

std::optional<JobEvents::ProgressThrottle> JobEvents::progress_throttle() {
  auto cb = current();
  if (!cb || !cb->progress) return std::nullopt;
  return ProgressThrottle{std::max(cb->progress_interval, std::chrono::milliseconds(0)),
                          std::min<uint32_t>(cb->progress_percent, 100)};
}

}  // namespace xferq::detail
