// outbox.cc — see outbox.h.
#include "outbox.h"

#include "clock.h"
#include "crash_points.h"
#include "fs/file_ops.h"
#include "xferq/error.h"

namespace xferq::detail {

Outbox::~Outbox() { stop(); }

std::error_code Outbox::delete_listed(const FileOp& op) {
  std::error_code first_error;
  for (const std::string& p : *op.temp_paths) {
    std::error_code ec = delete_file(p);
    if (ec && !first_error) first_error = ec;
  }
  if (!first_error) {
    store_.retire_op(op.id);
    return {};
  }
  store_.note_op_failure(op.id, first_error.message());
  return first_error;
}

std::error_code Outbox::apply(const FileOp& op, bool by_caller) {
  // Cancel's fast path: the paths came with its transaction.
  if (op.temp_paths) return delete_listed(op);
  auto files = store_.job_files(op.job_id);
  if (!files) return files.error();
  // Upload-reply jobs: the only temp file is the reply's, and it goes to the
  // reply file name (the upload file itself is never touched).
  std::optional<std::string> reply_target;
  if (op.kind == OpKind::finalize) {
    auto r = store_.reply_target(op.job_id);
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
    store_.retire_op(op.id);
    return {};
  }
  if (op.kind == OpKind::finalize && !by_caller) {
    // Recovery: the job is ACKNOWLEDGED and stays so. A temp file that is gone
    // was renamed before the crash (or lost): nothing more can be done. Other
    // failures stay in the outbox and are retried on the next open.
    if (first_error == make_error_code(Errc::path_not_found)) {
      store_.retire_op(op.id);
      return {};
    }
    store_.note_op_failure(op.id, first_error.message());
    return first_error;
  }
  if (op.kind == OpKind::finalize) {
    // BITS: the job stays where it was, renamed files stay available, and
    // Complete can be retried.
    auto previous = store_.op_previous_state(op);
    store_.complete_failed(op, previous ? *previous : JobState::transferred, renamed, now_us());
    return first_error;
  }
  store_.note_op_failure(op.id, first_error.message());
  return first_error;
}

void Outbox::apply_pending() {
  auto ops = store_.pending_ops();
  if (!ops) return;
  for (const FileOp& op : *ops) {
    crash_point("recovery.between_ops");
    apply(op, false);
  }
  store_.flush_retired();
}

void Outbox::defer(FileOp op) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!janitor_.joinable()) janitor_ = std::thread([this] { janitor_loop(); });
  queue_.push_back(std::move(op));
  cv_.notify_one();
}

void Outbox::janitor_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to do
    // Take everything queued: one read for all their temp paths and one
    // retirement, so the janitor visits the store twice per batch, not per job.
    std::vector<FileOp> batch(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    lock.unlock();
    delete_batch(batch);
    lock.lock();
  }
}

void Outbox::delete_batch(const std::vector<FileOp>& batch) {
  std::vector<std::string> ids;
  for (const FileOp& op : batch) ids.push_back(op.job_id);
  auto paths = store_.temp_paths(ids);
  if (!paths) {
    for (const FileOp& op : batch) apply(op, true);  // one by one; failures stay in the outbox
    return;
  }
  std::vector<int64_t> done;
  for (size_t i = 0; i < batch.size(); ++i) {
    std::error_code first_error;
    for (const std::string& p : (*paths)[i]) {
      std::error_code ec = delete_file(p);
      if (ec && !first_error) first_error = ec;
    }
    if (first_error)
      store_.note_op_failure(batch[i].id, first_error.message());
    else
      done.push_back(batch[i].id);
  }
  store_.retire_ops(done);
}

void Outbox::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_one();
  }
  // It finishes the queue first; what a crash would interrupt stays in the outbox.
  if (janitor_.joinable()) janitor_.join();
}

}  // namespace xferq::detail
