// outbox.cc — see outbox.h.
#include "outbox.h"

#include <algorithm>
#include <iterator>

#include "clock.h"
#include "crash_points.h"
#include "fs/file_ops.h"
#include "xferq/error.h"

namespace xferq::detail {

namespace {

// Applies `remove` to every path, even after a failure; the first error.
std::error_code remove_each(const std::vector<std::string>& paths, std::error_code (*remove)(const std::string&)) {
  std::error_code first_error;
  for (const std::string& p : paths) {
    std::error_code ec = remove(p);
    if (ec && !first_error) first_error = ec;
  }
  return first_error;
}

// Moves up to `n` items from the front of `from`.
template <typename T>
std::vector<T> take_front(std::deque<T>& from, size_t n) {
  n = std::min(from.size(), n);
  std::vector<T> taken(std::make_move_iterator(from.begin()), std::make_move_iterator(from.begin() + n));
  from.erase(from.begin(), from.begin() + n);
  return taken;
}

}  // namespace

Outbox::~Outbox() { stop(); }

std::error_code Outbox::delete_paths(const FileOp& op, const std::vector<std::string>& paths, bool sync_later) {
  // A caller waiting (in-call Cancel) sees the names gone; a janitor deletes
  // the blocks.
  std::error_code first_error = remove_each(paths, sync_later ? discard_file : delete_file);
  if (!first_error && sync_later) {
    crash_point("cancel.after_discard");
    retire_after_sync(op.id, paths);
    return {};
  }
  if (!first_error) first_error = make_removals_durable(paths);
  if (!first_error) {
    store_.retire_op(op.id);
    return {};
  }
  store_.note_op_failure(op.id, first_error.message());
  return first_error;
}

bool Outbox::here(const FileOp& op) const { return op.host.empty() || op.host == store_.host(); }

std::error_code Outbox::apply(const FileOp& op, bool by_caller) {
  // Another host's files: its worker carries the row out (apply_decided_elsewhere).
  if (!here(op)) return {};
  // Cancel's fast path: the paths came with its transaction; the directory
  // sync is the janitor's, shared by the cancels that come meanwhile.
  if (op.temp_paths) return delete_paths(op, *op.temp_paths, by_caller);
  if (op.kind == OpKind::finalize && !by_caller) {
    // Recovery takes the operation first, so that the Complete that made it
    // (still running, in this process or another) no longer takes it back.
    auto taken = store_.take_op_for_recovery(op.id);
    if (!taken) return taken.error();
    if (!*taken) return {};  // that Complete failed its checks and withdrew it
  }
  auto files = store_.job_files(op.job_id);
  if (!files) return files.error();
  if (op.kind == OpKind::delete_temps) {
    std::vector<std::string> paths;
    for (const FileRow& f : *files) paths.push_back(f.temp_path);
    return delete_paths(op, paths, false);
  }
  // Upload-reply jobs: the only temp file is the reply's, and it goes to the
  // reply file name (the upload file itself is never touched).
  auto reply_target = store_.reply_target(op.job_id);
  if (!reply_target) return reply_target.error();
  auto final_path = [&](const FileRow& f) { return *reply_target ? **reply_target : f.local_path; };
  if (by_caller) {
    // Complete either takes effect or fails without one (docs/bits-behaviour.md):
    // every rename is checked before the first is made. A failed check puts
    // the job back in its state with nothing renamed; Complete may be retried.
    for (const FileRow& f : *files) {
      if (!f.completed || f.temp_path.empty()) continue;
      std::error_code ec = check_rename(f.temp_path, final_path(f));
      if (!ec) continue;
      auto previous = store_.op_previous_state(op);
      auto withdrawn = store_.complete_failed(op, previous ? *previous : JobState::transferred, now_us());
      if (!withdrawn) return withdrawn.error();
      if (*withdrawn) return ec;
      break;  // recovery has taken the operation: the decision stands, carry it out
    }
  }
  return finalize(op, *files, final_path, by_caller);
}

std::error_code Outbox::finalize(const FileOp& op, const std::vector<FileRow>& files,
                                 const std::function<std::string(const FileRow&)>& final_path, bool by_caller) {
  // Finished files go to their final paths; the temp files of unfinished
  // ones (partial completion) are deleted.
  std::error_code first_error;
  std::vector<std::string> removed;
  for (const FileRow& f : files) {
    std::error_code ec;
    if (f.completed) {
      if (f.temp_path.empty()) continue;  // renamed by an earlier Complete
      ec = rename_into_place(f.temp_path, final_path(f));  // durable: it syncs the directory
      if (!ec) crash_point("complete.between_renames");
    } else {
      ec = delete_file(f.temp_path);
      removed.push_back(f.temp_path);
    }
    if (ec && !first_error) first_error = ec;
  }
  if (!first_error) first_error = make_removals_durable(removed);
  if (!first_error) {
    store_.retire_op(op.id);
    return {};
  }
  // A temp file that is gone during recovery was renamed before the crash
  // (or lost): nothing more can be done.
  if (!by_caller && first_error == make_error_code(Errc::path_not_found)) {
    store_.retire_op(op.id);
    return {};
  }
  // The checks passed but an effect failed (a race with another process, an
  // I/O error): the job stays ACKNOWLEDGED, as the committed decision says,
  // and the operation stays in the outbox, retried on the next open.
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

void Outbox::apply_decided_elsewhere() {
  auto ops = store_.pending_ops();
  if (!ops) return;
  for (const FileOp& op : *ops) {
    // A Complete of this host still deciding (attempts 0) may withdraw its
    // row: leave it to that call, or to recovery if the call died.
    if (op.kind == OpKind::finalize && op.attempts == 0) continue;
    apply(op, false);
  }
  store_.flush_retired();
}

void Outbox::defer(FileOp op) {
  if (!here(op)) return;  // another host's files: its worker carries it out
  std::lock_guard<std::mutex> lock(mu_);
  start_janitors_locked();
  queue_.push_back(std::move(op));
  cv_.notify_one();
}

void Outbox::start_janitors_locked() {
  if (!janitors_.empty()) return;
  for (int i = 0; i < kJanitors; ++i) janitors_.emplace_back([this] { janitor_loop(); });
}

void Outbox::retire_after_sync(int64_t op_id, const std::vector<std::string>& paths) {
  std::lock_guard<std::mutex> lock(mu_);
  start_janitors_locked();
  discarded_.push_back(OpPaths{op_id, paths});
  cv_.notify_one();
}

void Outbox::janitor_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty() || !discarded_.empty(); });
    if (queue_.empty() && discarded_.empty()) return;  // stopping, and nothing left to do
    // Take up to a batch of each: one read for all their temp paths, one
    // sync per directory and one retirement, so a janitor visits the store
    // twice per batch, not per job.
    std::vector<FileOp> batch = take_front(queue_, kBatch);
    std::vector<OpPaths> discarded = take_front(discarded_, kBatch);
    if (!queue_.empty() || !discarded_.empty()) cv_.notify_one();  // more for another janitor
    lock.unlock();
    if (!batch.empty()) delete_batch(batch);
    if (!discarded.empty()) delete_and_retire(discarded);
    lock.lock();
  }
}

void Outbox::delete_and_retire(const std::vector<OpPaths>& ops) {
  std::vector<std::string> removed;
  std::vector<int64_t> done;
  for (const OpPaths& op : ops) {
    // delete_file takes a discarded twin too (an in-call Cancel's).
    if (std::error_code ec = remove_each(op.paths, delete_file)) {
      store_.note_op_failure(op.op_id, ec.message());  // retried on the next open
      continue;
    }
    removed.insert(removed.end(), op.paths.begin(), op.paths.end());
    done.push_back(op.op_id);
  }
  // One directory sync for the whole batch, before any row is retired.
  if (std::error_code ec = make_removals_durable(removed)) {
    for (int64_t id : done) store_.note_op_failure(id, ec.message());  // retried on the next open
    return;
  }
  store_.retire_ops(done);
}

void Outbox::delete_batch(const std::vector<FileOp>& batch) {
  std::vector<std::string> ids;
  for (const FileOp& op : batch) ids.push_back(op.job_id);
  auto paths = store_.temp_paths(ids);
  if (!paths) {
    for (const FileOp& op : batch) apply(op, true);  // one by one; failures stay in the outbox
    return;
  }
  std::vector<OpPaths> ops;
  for (size_t i = 0; i < batch.size(); ++i) ops.push_back(OpPaths{batch[i].id, std::move((*paths)[i])});
  delete_and_retire(ops);
}

void Outbox::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  // They finish the queue first; what a crash would interrupt stays in the outbox.
  for (std::thread& t : janitors_) t.join();
  janitors_.clear();
}

}  // namespace xferq::detail
