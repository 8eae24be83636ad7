// queue_core.cc — the API's calls: validate, one transaction in the store,
// then the effects (outbox, worker wake-up, callbacks).
#include "queue_core.h"

#include "clock.h"
#include "crash_points.h"
#include "fs/file_ops.h"
#include "fs/wake_socket.h"
#include "validate.h"
#include "worker_handle.h"

namespace xferq::detail {

Result<std::shared_ptr<QueueCore>> QueueCore::open(const std::string& path, const QueueOptions& options) {
  if (path.empty()) return make_error_code(Errc::invalid_arg);
  auto store = Store::open(path, options);
  if (!store) return store.error();
  std::shared_ptr<QueueCore> core(new QueueCore(path, options, std::move(*store)));
  // Finish what a crashed process decided but did not do. Idempotent, so it
  // is safe even while another process applies the same operations.
  core->outbox_.apply_pending();
  return core;
}

QueueCore::QueueCore(std::string path, const QueueOptions& options, std::unique_ptr<Store> store)
    : path_(std::move(path)),
      local_base_(local_files_base(path_, host_identity(options.host_id))),
      options_(options),
      store_(std::move(store)),
      outbox_(*store_),
      time_slice_ms_(std::max<int64_t>(0, options.time_slice.count())) {}

QueueCore::~QueueCore() {
  stop_worker();
  outbox_.stop();
}

Result<Job> QueueCore::create_job(std::string_view display_name, JobType type) {
  if (auto ec = check_text(display_name, kMaxDisplayName, false)) return ec;
  const int t = static_cast<int>(type);
  if (t < 0 || t > 2) return make_error_code(Errc::not_implemented);
  const std::string id = new_guid();
  if (auto ec = store_->create_job(id, display_name, type, now_us())) return ec;
  return handle(id);
}

Result<Job> QueueCore::get_job(std::string_view id) {
  const std::string canonical = canonical_guid(id);
  if (canonical.empty()) return make_error_code(Errc::not_found);
  auto st = store_->job_state(canonical);
  if (!st) return st.error();
  return handle(canonical);
}

Result<std::vector<Job>> QueueCore::jobs(bool include_final) {
  auto ids = store_->job_ids(include_final);
  if (!ids) return ids.error();
  std::vector<Job> out;
  out.reserve(ids->size());
  for (const auto& id : *ids) out.push_back(handle(id));
  return out;
}

std::error_code QueueCore::add_files(const std::string& id, const std::vector<FileSpec>& files) {
  if (files.empty()) return make_error_code(Errc::invalid_arg);
  auto type = store_->job_type(id);
  if (!type) return type.error();
  const bool upload = *type != JobType::download;
  // One file per upload job (checked again in the transaction, which also
  // counts the files already there).
  if (upload && files.size() > 1) return make_error_code(Errc::too_many_files);
  std::vector<FileSpec> checked = files;
  for (FileSpec& f : checked) {
    // AddFileWithRanges: downloads only, then the ranges themselves.
    if (!f.ranges.empty()) {
      if (upload) return make_error_code(Errc::not_implemented);
      if (auto ec = check_ranges(f.ranges)) return ec;
    }
    if (auto ec = check_remote_url(f.remote_url, options_.allow_other_schemes)) return ec;
    // Integrity is checked on what a download receives; an upload sends its own file.
    if (auto ec = canonicalize_integrity(&f.integrity)) return ec;
    if (upload && !f.integrity.empty()) return make_error_code(Errc::invalid_arg);
    // An upload reads local_path: it must be there now.
    if (auto ec = upload ? check_upload_source(f.local_path) : check_local_path(f.local_path)) return ec;
    // Two spellings of one target (a symlinked directory) must compare equal,
    // or two jobs could each finish into the same file. An upload's path too:
    // an upload-reply job's default reply goes beside it.
    auto canonical = canonical_target(f.local_path);
    if (!canonical) return canonical.error();
    f.local_path = std::move(*canonical);
  }
  Decision d;
  if (auto ec = store_->add_files(id, checked, kMaxFilesPerJob, now_us(), &d)) return ec;
  wake_worker(id, d.state_changes ? d.generation : WorkerHandle::kGenerationKept, true);
  events_.modified(id);
  return {};
}

std::error_code QueueCore::invalidate_file(const std::string& id, int64_t idx) {
  Decision d;
  auto temp = store_->invalidate_file(id, idx, now_us(), &d);
  if (!temp) return temp.error();
  wake_worker(id, d.generation, false);
  // The row claims zero bytes already: a deletion that fails (or a crash
  // before it) leaves bytes the next attempt truncates, never claims.
  if (!temp->empty()) delete_file(*temp);
  events_.modified(id);
  JobErrorInfo e{static_cast<uint32_t>(Errc::validation_failed), ErrorContext::local_file,
                 "the application found file " + std::to_string(idx) + " invalid (set_validation_state)",
                 static_cast<uint32_t>(idx)};
  events_.error(id, e);
  return {};
}

std::error_code QueueCore::change_state(const std::string& id, Call call) {
  Decision d;
  if (auto ec = store_->apply_call(id, call, now_us(), &d)) return ec;
  if (d.state_changes) {
    wake_worker(id, d.generation, d.next == JobState::queued);
    events_.modified(id);
  }
  return {};
}

std::error_code QueueCore::cancel(const std::string& id) {
  // Deleting here wants the paths now; the janitor reads them itself later.
  auto op = store_->cancel(id, now_us(), !options_.defer_cancel_deletes);
  if (!op) return op.error();
  crash_point("cancel.after_commit");
  // Stop the transfer first, then delete: unlinking a file the worker still
  // writes is safe on POSIX (the bytes go to an inode with no name).
  wake_worker(id, op->job_generation, false);
  if (options_.defer_cancel_deletes)
    outbox_.defer(std::move(*op));
  else
    outbox_.apply(*op, true);  // a failure leaves the op in the outbox, retried on next open
  events_.modified(id);
  return {};
}

std::error_code QueueCore::complete(const std::string& id, CompleteStatus* status) {
  Decision d;
  JobState previous = JobState::transferred;
  auto op = store_->complete(id, now_us(), &d, &previous);
  if (!op) return op.error();
  crash_point("complete.after_commit");
  wake_worker(id, op->job_generation, false);
  // Another host's files (a shared queue): apply() leaves them to that host's
  // worker, and the call returns with the decision committed (job.h).
  std::error_code ec = outbox_.apply(*op, true);
  events_.modified(id);
  if (ec) return ec;
  if (status) *status = d.complete_status;
  return {};
}

std::error_code QueueCore::set_property(const std::string& id, Property property, int64_t value,
                                        std::string_view text) {
  if (auto ec = store_->set_property(id, property, value, text, now_us())) return ec;
  if (property == Property::priority) wake_worker(id, WorkerHandle::kGenerationKept, true);
  events_.modified(id);
  return {};
}

Result<Queue::HousekeepingReport> QueueCore::housekeep() {
  using std::chrono::microseconds;
  const int64_t now = now_us();
  Queue::HousekeepingReport report;
  const int64_t inactive_before =
      now - std::chrono::duration_cast<microseconds>(options_.job_inactivity_timeout).count();
  auto stale = store_->inactive_jobs(inactive_before);
  if (!stale) return stale.error();
  for (const auto& id : *stale) {
    // The same path as an application's cancel: one transaction, then the files.
    if (!cancel(id)) ++report.jobs_expired;
  }
  const int64_t purge_before =
      now - std::chrono::duration_cast<microseconds>(options_.final_job_retention).count();
  auto purged = store_->purge_final(purge_before);
  if (!purged) return purged.error();
  report.jobs_purged = static_cast<size_t>(*purged);
  return report;
}

void QueueCore::wake_worker(const std::string& id, int64_t generation, bool may_run) {
  {
    std::lock_guard<std::mutex> lock(worker_mu_);
    if (worker_) worker_->job_changed(id, generation, may_run);
    if (worker_ && worker_->serving()) return;
  }
  // The queue is served by another process's worker (or none): tell it now
  // rather than let it find the change at its next poll.
  send_wake(wake_socket_path(local_base_), WakeMessage{id, generation, may_run});
}

std::error_code QueueCore::start_worker() {
  std::lock_guard<std::mutex> lock(worker_mu_);
  if (worker_) return {};
  // `this` outlives the worker: the destructor stops the worker first.
  WorkerContext context{*store_,  options_, local_base_ + "-worker.lock", wake_socket_path(local_base_),
                        events_, outbox_,  [this] { housekeep(); }, &time_slice_ms_};
  worker_ = make_worker(std::move(context));
  // Linked without a worker (the control library): nothing can transfer.
  if (!worker_) return no_worker_ = make_error_code(Errc::not_implemented);
  worker_->start();
  return {};
}

std::error_code QueueCore::set_time_slice(std::chrono::milliseconds slice) {
  if (slice.count() < 0) return make_error_code(Errc::invalid_arg);
  time_slice_ms_.store(slice.count(), std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(worker_mu_);
  if (worker_) worker_->time_slice_changed();
  return {};
}

std::error_code QueueCore::worker_error() {
  std::lock_guard<std::mutex> lock(worker_mu_);
  return worker_ ? worker_->failure() : no_worker_;
}

void QueueCore::stop_worker() {
  std::unique_ptr<WorkerHandle> worker;
  {
    std::lock_guard<std::mutex> lock(worker_mu_);
    worker = std::move(worker_);
  }
  if (worker) worker->stop();
}

void QueueCore::bandwidth_settings_changed() {
  // No job id: the datagram to another process's worker names a job, so
  // that worker finds the commit through its change-counter poll instead.
  std::lock_guard<std::mutex> lock(worker_mu_);
  if (worker_) worker_->job_changed("", WorkerHandle::kGenerationKept, false);
}

void QueueCore::job_bandwidth_changed(const std::string& id) {
  wake_worker(id, WorkerHandle::kGenerationKept, false);
  events_.modified(id);
}

}  // namespace xferq::detail
