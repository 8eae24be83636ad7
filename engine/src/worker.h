// worker.h — the thread that carries out transfers with libcurl's multi interface.
//
// One event loop, no thread per transfer. The worker owns every running
// transfer; it learns of in-process calls at once (job_changed wakes its poll)
// and of other processes' commits by polling PRAGMA data_version. Only one
// worker per queue file transfers at a time: it holds an exclusive lock on
// "<queue>-worker.lock"; a second one waits for it.
//
// The rules it keeps (see DESIGN.md):
// - every write is conditional on the job's generation; a stale write drops
//   the transfer and leaves the files to whoever changed the job;
// - a temp path is recorded before the file is created, and the job's
//   generation is checked again after creation: a cancel in between is seen
//   and the worker deletes the file itself;
// - bytes are fdatasync'ed before the count that claims them is committed.
//
// Upload jobs run in the same loop (BITS upload protocol, one BITS_POST at a
// time per job); their progress is what the server acknowledged, committed
// after each Ack. The worker also sends the Cancel-Session packets that the
// outbox holds for cancelled uploads (file_ops kind 3): at start, after any
// change, and every cancel_session_retry_interval, until confirmed or the
// retry budget is spent.
#ifndef XFERQ_WORKER_H_
#define XFERQ_WORKER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace xferq::detail {

class Flusher;
class QueueCore;
struct Transfer;
struct CancelSession;

class Worker {
 public:
  explicit Worker(QueueCore& core);
  ~Worker();
  void start();
  void stop();
  // A call changed this job: look at it now. `may_run`: the change may make
  // a job runnable (resume, add_file, priority), so look for work too; a
  // cancel, suspend or complete only has to stop the job if it is running.
  void job_changed(const std::string& job_id, bool may_run);
  // Worker thread only: has a call made this running transfer stale? Cheap
  // unless a change is pending (then one read of the job's generation).
  bool interrupted(Transfer& t);

 private:
  void run();
  bool acquire_lock();
  void loop();
  void reconcile(const std::set<std::string>& changed, bool everything);
  void schedule();
  void start_job(struct Claim claim);
  int open_temp_guarded(Transfer& t, const std::string& path, int64_t* disk, const char* what);
  bool start_file(Transfer& t);
  void handle_done(Transfer& t, int curl_code);
  void commit_due_progress(bool force);
  void drop(const std::string& job_id);
  void finish(Transfer& t);
  void finish_flushed(Transfer& t);
  void apply_flush_results(bool shutting_down);
  void fail(Transfer& t, uint32_t hresult, int context, const std::string& description, bool transient);
  void restart_from_zero(Transfer& t, const std::string& why);
  void shutdown_transfers();

  // Uploads ([MC-BUP], upload.cc-style section at the end of worker.cc):
  // one request at a time per job — Create-Session, Fragment..., (reply GET),
  // Close-Session — each answered by an Ack before the next is sent.
  void start_upload(Transfer& t);
  void upload_request(Transfer& t, int step);
  void upload_done(Transfer& t, int curl_code);
  void upload_next(Transfer& t);
  void upload_failed(Transfer& t, long status, const std::string& what);
  bool start_reply(Transfer& t);
  // Cancel-Session for cancelled uploads, from the outbox (kind 3).
  void scan_cancel_sessions();
  void cancel_session_done(CancelSession& c, int curl_code);
  void shutdown_cancel_sessions();

  QueueCore& core_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> change_seq_{0};  // bumped by job_changed
  std::mutex mu_;  // guards changed_, multi_ (for wakeup), and the lock wait
  std::condition_variable cv_;
  std::set<std::string> changed_;
  bool changes_may_run_ = false;  // some change in changed_ may have made a job runnable
  void* multi_ = nullptr;  // CURLM*
  int lock_fd_ = -1;
  bool dirty_ = true;      // worth looking for runnable jobs
  int64_t next_retry_us_ = 0;  // when a TRANSIENT_ERROR job is due; 0: look it up
  std::map<std::string, std::unique_ptr<Transfer>> transfers_;
  std::unique_ptr<Flusher> flusher_;  // exists while the worker runs
  // Cancel-Session requests in flight, by easy handle; and when each pending
  // op may be tried again (op id -> time) after a transient failure.
  std::map<void*, std::unique_ptr<CancelSession>> cancels_;
  std::map<int64_t, std::chrono::steady_clock::time_point> cancel_not_before_;
  std::chrono::steady_clock::time_point next_cancel_scan_{};
  std::chrono::steady_clock::time_point last_cancel_scan_{};
  bool cancel_scan_due_ = true;
};

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_H_
