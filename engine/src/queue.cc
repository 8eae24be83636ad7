// queue.cc — Queue forwards to the shared core.
#include "xferq/queue.h"

#include "queue_core.h"

namespace xferq {

Result<std::unique_ptr<Queue>> Queue::open(const std::string& path, const QueueOptions& options) {
  auto core = detail::QueueCore::open(path, options);
  if (!core) return core.error();
  std::unique_ptr<Queue> q(new Queue(std::move(*core)));
  // A program linked without the worker (the control library) cannot serve.
  if (options.start_worker)
    if (auto ec = q->core_->start_worker()) return ec;
  return q;
}

Queue::Queue(std::shared_ptr<detail::QueueCore> core) : core_(std::move(core)) {}
Queue::~Queue() { core_->stop_worker(); }

Result<Job> Queue::create_job(std::string_view display_name, JobType type) {
  return core_->create_job(display_name, type);
}
Result<Job> Queue::get_job(std::string_view id) { return core_->get_job(id); }
Result<std::vector<Job>> Queue::jobs(bool include_final) { return core_->jobs(include_final); }
Result<std::vector<JobInfo>> Queue::job_infos(bool include_final) {
  return core_->store().job_infos(include_final);
}
Result<Queue::HousekeepingReport> Queue::housekeep() { return core_->housekeep(); }
void Queue::set_callbacks(JobCallbacks callbacks) { core_->set_callbacks(std::move(callbacks)); }
void Queue::start_worker() { core_->start_worker(); }
void Queue::stop_worker() { core_->stop_worker(); }
std::error_code Queue::worker_error() const { return core_->worker_error(); }
std::error_code Queue::set_time_slice(std::chrono::milliseconds slice) { return core_->set_time_slice(slice); }
std::chrono::milliseconds Queue::time_slice() const { return core_->time_slice(); }
const std::string& Queue::path() const noexcept { return core_->path(); }

}  // namespace xferq
