// outbox.h — carrying out the outbox: the filesystem effects that Cancel and
// Complete decided in their transactions (store.h, FileOp rows).
//
// An operation is applied idempotently and then retired (its row removed with
// the store's next write), so a crash between the effect and the retirement
// only repeats the effect. Operations left by a crash are applied on the next
// open and when a worker starts (apply_pending()). With
// QueueOptions::defer_cancel_deletes, cancel's deletions go to the janitor
// threads instead of being done in the call (defer()). Without it, cancel
// unlinks in the call and the janitor makes the removals durable (one
// directory sync for every cancel that came meanwhile) before it retires
// their rows: a power cut before that sync leaves the row, and recovery
// deletes again whatever came back. On a queue shared by hosts
// (Store::host() not empty), an operation on another host's files is left
// to that host (FileOp::host).
//
// Thread safety: every method may be called from any thread.
#ifndef XFERQ_OUTBOX_H_
#define XFERQ_OUTBOX_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <string>
#include <vector>
#include <mutex>
#include <system_error>
#include <thread>

#include "storage/store.h"

namespace xferq::detail {

class Outbox {
 public:
  explicit Outbox(Store& store) : store_(store) {}
  // Finishes the janitor's queue, then joins it.
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Carries out one operation. `by_caller`: the call that decided it is
  // waiting: Complete's renames are all checked first, and a failed check
  // withdraws the operation and puts the job back in its state with nothing
  // renamed (docs/bits-behaviour.md). Otherwise it is recovery, which first
  // takes the operation (Store::take_op_for_recovery) so that the Complete
  // that made it can no longer withdraw it, and never takes a decision back.
  std::error_code apply(const FileOp& op, bool by_caller);
  // Carries out every pending filesystem operation (recovery).
  void apply_pending();
  // On a queue shared by hosts, carries out the pending operations on this
  // host's files that a call on another host decided: a Cancel's deletions
  // and a Complete's renames (the worker calls it when another host
  // committed). Deletions and taken renames are idempotent, so racing their
  // own caller or recovery is harmless; a Complete of this host still
  // deciding (its row not yet taken) is left to it.
  void apply_decided_elsewhere();
  // Hands a delete_temps operation to the janitor threads (started on first use).
  void defer(FileOp op);
  // Stops the janitors after they finished the queue.
  void stop();

 private:
  // Deletes the paths, or with `sync_later` (an in-call Cancel) moves them
  // aside (discard_file) and leaves their twins' deletion and the directory
  // sync to a janitor. The op is retired once all are gone and their removal
  // is durable, else its failure noted.
  std::error_code delete_paths(const FileOp& op, const std::vector<std::string>& paths, bool sync_later);
  // An operation and the temp paths it deletes.
  struct OpPaths {
    int64_t op_id;
    std::vector<std::string> paths;
  };
  // Hands an in-call Cancel's moved-aside files to the janitors.
  void retire_after_sync(int64_t op_id, const std::vector<std::string>& paths);
  // Deletes each op's paths (and their twins), syncs their directories once,
  // and retires the ops that succeeded; the others' failures are noted.
  void delete_and_retire(const std::vector<OpPaths>& ops);
  std::error_code finalize(const FileOp& op, const std::vector<FileRow>& files,
                           const std::function<std::string(const FileRow&)>& final_path, bool by_caller);
  // Whether this process reaches the operation's files.
  bool here(const FileOp& op) const;
  void janitor_loop();
  void start_janitors_locked();
  void delete_batch(const std::vector<FileOp>& batch);

  // Janitors unlink in parallel: on ext4 mounted with `discard`, an unlink
  // of freshly written blocks waits for the device, and several in flight
  // overlap those waits (one thread deleted half as fast as the callers did).
  static constexpr int kJanitors = 4;
  // Operations a janitor takes at a time: it holds the store's lock for one
  // read of their paths, and a cancel's commit deletes their retired rows,
  // so a bounded batch keeps both short for the callers waiting behind them.
  static constexpr size_t kBatch = 64;

  Store& store_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<FileOp> queue_;
  std::deque<OpPaths> discarded_;  // in-call Cancels' twins, for the janitors
  bool stopping_ = false;
  std::vector<std::thread> janitors_;
};

}  // namespace xferq::detail

#endif  // XFERQ_OUTBOX_H_
