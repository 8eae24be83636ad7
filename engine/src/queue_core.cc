// queue_core.cc — the API's calls: validate, one transaction in the store,
// then the effects (outbox, worker wake-up, callbacks).
#include "queue_core.h"

#include "crash_points.h"
#include "file_ops.h"
#include "validate.h"
#include "worker.h"

namespace xferq::detail {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}

Result<std::shared_ptr<QueueCore>> QueueCore::open(const std::string& path, const QueueOptions& options) {
  if (path.empty()) return make_error_code(Errc::invalid_arg);
  auto store = Store::open(path, options);
  if (!store) return store.error();
  std::shared_ptr<QueueCore> core(new QueueCore(path, options, std::move(*store)));
  // Finish what a crashed process decided but did not do. Idempotent, so it
  // is safe even while another process applies the same operations.
  core->apply_pending_ops();
  return core;
}

QueueCore::QueueCore(std::string path, const QueueOptions& options, std::unique_ptr<Store> store)
    : path_(std::move(path)), options_(options), store_(std::move(store)) {}

QueueCore::~QueueCore() {
  stop_worker();
  stop_janitor();
}

void QueueCore::defer(FileOp op) {
  std::lock_guard<std::mutex> lock(janitor_mu_);
  if (!janitor_.joinable()) janitor_ = std::thread([this] { janitor_loop(); });
  janitor_queue_.push_back(std::move(op));
  janitor_cv_.notify_one();
}

void QueueCore::janitor_loop() {
  std::unique_lock<std::mutex> lock(janitor_mu_);
  for (;;) {
    janitor_cv_.wait(lock, [this] { return janitor_stopping_ || !janitor_queue_.empty(); });
    if (janitor_queue_.empty()) return;  // stopping, and nothing left to do
    // Take everything queued: one read for all their temp paths and one
    // retirement, so the janitor visits the store twice per batch, not per job.
    std::vector<FileOp> batch(std::make_move_iterator(janitor_queue_.begin()),
                              std::make_move_iterator(janitor_queue_.end()));
    janitor_queue_.clear();
    lock.unlock();
    std::vector<std::string> ids;
    for (const FileOp& op : batch) ids.push_back(op.job_id);
    auto paths = store_->temp_paths(ids);
    if (!paths) {
      for (const FileOp& op : batch) apply_op(op, true);  // one by one; failures stay in the outbox
    } else {
      std::vector<int64_t> done;
      for (size_t i = 0; i < batch.size(); ++i) {
        std::error_code first_error;
        for (const std::string& p : (*paths)[i]) {
          std::error_code ec = delete_file(p);
          if (ec && !first_error) first_error = ec;
        }
        if (first_error)
          store_->note_op_failure(batch[i].id, first_error.message());
        else
          done.push_back(batch[i].id);
      }
      store_->retire_ops(done);
    }
    lock.lock();
  }
}

void QueueCore::stop_janitor() {
  {
    std::lock_guard<std::mutex> lock(janitor_mu_);
    janitor_stopping_ = true;
    janitor_cv_.notify_one();
  }
  // It finishes the queue first; what a crash would interrupt stays in the outbox.
  if (janitor_.joinable()) janitor_.join();
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
  for (const FileSpec& f : files) {
    if (auto ec = check_remote_url(f.remote_url, options_.allow_other_schemes)) return ec;
    // An upload reads local_path: it must be there now.
    if (auto ec = upload ? check_upload_source(f.local_path) : check_local_path(f.local_path)) return ec;
  }
  Decision d;
  if (auto ec = store_->add_files(id, files, kMaxFilesPerJob, now_us(), &d)) return ec;
  wake_worker(id, true);
  notify_modified(id);
  return {};
}

std::error_code QueueCore::change_state(const std::string& id, Call call) {
  Decision d;
  if (auto ec = store_->apply_call(id, call, now_us(), &d)) return ec;
  if (d.state_changes) {
    wake_worker(id, d.next == JobState::queued);
    notify_modified(id);
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
  wake_worker(id, false);
  if (options_.defer_cancel_deletes)
    defer(std::move(*op));
  else
    apply_op(*op, true);  // a failure leaves the op in the outbox, retried on next open
  notify_modified(id);
  return {};
}

std::error_code QueueCore::complete(const std::string& id, CompleteStatus* status) {
  Decision d;
  JobState previous = JobState::transferred;
  auto op = store_->complete(id, now_us(), &d, &previous);
  if (!op) return op.error();
  crash_point("complete.after_commit");
  wake_worker(id, false);
  std::error_code ec = apply_op(*op, true);
  notify_modified(id);
  if (ec) return ec;
  if (status) *status = d.complete_status;
  return {};
}

std::error_code QueueCore::set_property(const std::string& id, Property property, int64_t value,
                                        std::string_view text) {
  if (auto ec = store_->set_property(id, property, value, text, now_us())) return ec;
  if (property == Property::priority) wake_worker(id, true);
  notify_modified(id);
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

std::error_code QueueCore::apply_op(const FileOp& op, bool by_caller) {
  if (op.temp_paths) {
    // Cancel's fast path: the paths came with its transaction.
    std::error_code first_error;
    for (const std::string& p : *op.temp_paths) {
      std::error_code ec = delete_file(p);
      if (ec && !first_error) first_error = ec;
    }
    if (!first_error) {
      store_->retire_op(op.id);
      return {};
    }
    store_->note_op_failure(op.id, first_error.message());
    return first_error;
  }
  auto files = store_->job_files(op.job_id);
  if (!files) return files.error();
  // Upload-reply jobs: the only temp file is the reply's, and it goes to the
  // reply file name (the upload file itself is never touched).
  std::optional<std::string> reply_target;
  if (op.kind == OpKind::finalize) {
    auto r = store_->reply_target(op.job_id);
    if (!r) return r.error();
    reply_target = *r;
  }
  std::error_code first_error;
  std::vector<int64_t> renamed;
  for (const FileRow& f : *files) {
    std::error_code ec;
    if (op.kind == OpKind::finalize && f.completed) {
      if (f.temp_path.empty()) continue;  // renamed by an earlier, partly failed Complete
      ec = rename_into_place(f.temp_path, reply_target ? *reply_target : f.local_path);
      if (!ec) {
        renamed.push_back(f.idx);
        crash_point("complete.between_renames");
      }
    } else {
      ec = delete_file(f.temp_path);
    }
    if (ec && !first_error) first_error = ec;
  }
  if (!first_error) {
    store_->retire_op(op.id);
    return {};
  }
  if (op.kind == OpKind::finalize && !by_caller) {
    // Recovery: the job is ACKNOWLEDGED and stays so. A temp file that is gone
    // was renamed before the crash (or lost): nothing more can be done. Other
    // failures stay in the outbox and are retried on the next open.
    if (first_error == make_error_code(Errc::path_not_found)) {
      store_->retire_op(op.id);
      return {};
    }
    store_->note_op_failure(op.id, first_error.message());
    return first_error;
  }
  if (op.kind == OpKind::finalize) {
    // BITS: the job stays where it was, renamed files stay available, and
    // Complete can be retried.
    auto previous = store_->op_previous_state(op);
    store_->complete_failed(op, previous ? *previous : JobState::transferred, renamed,
                            first_error.message(), now_us());
    return first_error;
  }
  store_->note_op_failure(op.id, first_error.message());
  return first_error;
}

void QueueCore::apply_pending_ops() {
  auto ops = store_->pending_ops();
  if (!ops) return;
  for (const FileOp& op : *ops) {
    crash_point("recovery.between_ops");
    apply_op(op, false);
  }
  store_->flush_retired();
}

void QueueCore::set_callbacks(JobCallbacks callbacks) {
  auto p = std::make_shared<const JobCallbacks>(std::move(callbacks));
  std::lock_guard<std::mutex> lock(callbacks_mu_);
  callbacks_ = std::move(p);
}

std::shared_ptr<const JobCallbacks> QueueCore::callbacks() {
  std::lock_guard<std::mutex> lock(callbacks_mu_);
  return callbacks_;
}

void QueueCore::notify_transferred(const std::string& id) {
  if (auto cb = callbacks(); cb && cb->transferred) cb->transferred(id);
}

void QueueCore::notify_error(const std::string& id, const JobErrorInfo& error) {
  if (auto cb = callbacks(); cb && cb->error) cb->error(id, error);
}

void QueueCore::notify_modified(const std::string& id) {
  if (auto cb = callbacks(); cb && cb->modified) cb->modified(id);
}

void QueueCore::wake_worker(const std::string& id, bool may_run) {
  std::lock_guard<std::mutex> lock(worker_mu_);
  if (worker_) worker_->job_changed(id, may_run);
}

void QueueCore::start_worker() {
  std::lock_guard<std::mutex> lock(worker_mu_);
  if (worker_) return;
  worker_ = std::make_unique<Worker>(*this);
  worker_->start();
}

void QueueCore::stop_worker() {
  std::unique_ptr<Worker> worker;
  {
    std::lock_guard<std::mutex> lock(worker_mu_);
    worker = std::move(worker_);
  }
  if (worker) worker->stop();
}

}  // namespace xferq::detail
