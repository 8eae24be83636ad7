// queue_core.h — what a Queue and its Job handles share: the store, the
// worker, the callbacks, and the carrying-out of the outbox.
#ifndef XFERQ_QUEUE_CORE_H_
#define XFERQ_QUEUE_CORE_H_

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "store.h"
#include "xferq/callbacks.h"
#include "xferq/job.h"
#include "xferq/options.h"
#include "xferq/queue.h"

namespace xferq::detail {

class Worker;

class QueueCore : public std::enable_shared_from_this<QueueCore> {
 public:
  static Result<std::shared_ptr<QueueCore>> open(const std::string& path, const QueueOptions& options);
  ~QueueCore();

  const std::string& path() const { return path_; }
  const QueueOptions& options() const { return options_; }
  Store& store() { return *store_; }

  Result<Job> create_job(std::string_view display_name, JobType type);
  Result<Job> get_job(std::string_view id);
  Result<std::vector<Job>> jobs(bool include_final);
  Job handle(const std::string& id) { return Job(shared_from_this(), id); }

  // The calls behind Job's methods.
  std::error_code add_files(const std::string& id, const std::vector<FileSpec>& files);
  std::error_code change_state(const std::string& id, Call call);
  std::error_code cancel(const std::string& id);
  std::error_code complete(const std::string& id, CompleteStatus* status);
  std::error_code set_property(const std::string& id, Property property, int64_t value,
                               std::string_view text);

  // Expires inactive jobs and purges old final ones.
  Result<Queue::HousekeepingReport> housekeep();

  // Carries out one outbox operation, idempotently. `by_caller`: the call
  // that decided it is waiting (Complete may then fail and keep the job);
  // otherwise it is recovery, which never takes a committed decision back.
  std::error_code apply_op(const FileOp& op, bool by_caller);
  // Carries out every pending operation (recovery).
  void apply_pending_ops();

  void set_callbacks(JobCallbacks callbacks);
  void notify_transferred(const std::string& id);
  void notify_error(const std::string& id, const JobErrorInfo& error);
  void notify_modified(const std::string& id);

  void start_worker();
  void stop_worker();

 private:
  QueueCore(std::string path, const QueueOptions& options, std::unique_ptr<Store> store);
  void wake_worker(const std::string& id, bool may_run);
  std::shared_ptr<const JobCallbacks> callbacks();

  std::string path_;
  QueueOptions options_;
  std::unique_ptr<Store> store_;
  std::mutex callbacks_mu_;
  std::shared_ptr<const JobCallbacks> callbacks_;
  std::mutex worker_mu_;
  std::unique_ptr<Worker> worker_;

  // The janitor applies deferred deletions (options_.defer_cancel_deletes).
  void janitor_loop();
  void defer(FileOp op);
  void stop_janitor();
  std::mutex janitor_mu_;
  std::condition_variable janitor_cv_;
  std::deque<FileOp> janitor_queue_;
  bool janitor_stopping_ = false;
  std::thread janitor_;
};

int64_t now_us();

}  // namespace xferq::detail

#endif  // XFERQ_QUEUE_CORE_H_
