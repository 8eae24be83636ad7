// worker.cc — the transfer loop; see worker.h.
#include "worker/worker.h"

#include <algorithm>
#include <set>
#include <vector>

#include "clock.h"
#include "job_events.h"
#include "fs/file_ops.h"
#include "outbox.h"
#include "worker/curl_request.h"
#include "worker/scheduler.h"

namespace xferq::detail {

Worker::Worker(WorkerContext context) : ctx_(std::move(context)), lock_(ctx_.lock_path) { curl_init_once(); }

// The full library's worker (worker_handle.h); the control library's
// make_worker() is in no_worker.cc.
std::unique_ptr<WorkerHandle> make_worker(WorkerContext context) {
  return std::make_unique<Worker>(std::move(context));
}

Worker::~Worker() { stop(); }

void Worker::start() {
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Worker::stop() {
  stopping_ = true;
  wake();
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Worker::wake() {
  std::lock_guard<std::mutex> lock(mu_);
  if (multi_) curl_multi_wakeup(multi_);
}

void Worker::job_changed(const std::string& job_id, int64_t generation, bool may_run) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, added] = changed_.emplace(job_id, generation);
  if (!added) it->second = std::max(it->second, generation);
  changes_may_run_ = changes_may_run_ || may_run;
  change_seq_.fetch_add(1, std::memory_order_release);
  if (multi_) curl_multi_wakeup(multi_);
}

void Worker::time_slice_changed() {
  replan_.store(true, std::memory_order_release);
  wake();
}

std::chrono::milliseconds Worker::time_slice() const {
  const int64_t ms = ctx_.time_slice_ms ? ctx_.time_slice_ms->load(std::memory_order_relaxed)
                                        : ctx_.options.time_slice.count();
  // Longer than a year is "never" (and keeps steady_clock arithmetic from overflowing).
  return std::chrono::milliseconds(std::clamp<int64_t>(ms, 0, 365LL * 24 * 3600 * 1000));
}

bool Worker::superseded(const std::string& job_id, int64_t generation, uint64_t* seen) {
  // Other processes' calls too: libcurl may deliver many buffers in one
  // curl_multi_perform(), so the socket is read here (one non-blocking recv a
  // buffer), not only at the top of the loop.
  wake_.drain([this](const WakeMessage& m) { job_changed(m.job_id, m.generation, m.may_run); });
  const uint64_t seq = change_seq_.load(std::memory_order_acquire);
  if (seq == *seen) return false;  // the common case: one load
  *seen = seq;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = changed_.find(job_id);
  // Generations only grow: a call that committed a later one than the
  // transfer's claim has moved the job on. An unknown one waits for the loop.
  return it != changed_.end() && it->second > generation;
}

void Worker::add_request(CurlRequest& request) { curl_multi_add_handle(multi_, request.easy()); }

void Worker::remove_request(CurlRequest& request) { curl_multi_remove_handle(multi_, request.easy()); }

void Worker::flush(Flusher::Request request) { flusher_->submit(std::move(request)); }

bool Worker::store_failed(std::error_code error) {
  if (error == make_error_code(Errc::busy)) return true;  // another process holds the lock: later
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure_) failure_ = error;
  }
  stopping_ = true;
  return false;
}

std::error_code Worker::failure() {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

bool Worker::acquire_lock() {
  while (!stopping_) {
    auto held = lock_.try_acquire();
    if (!held) {
      store_failed(held.error());  // nothing can run without the lock: report it
      return false;
    }
    if (*held) return true;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_.load(); });
  }
  return false;
}

void Worker::run() {
  if (acquire_lock()) {
    // We are the only worker: whatever is CONNECTING / TRANSFERRING was left
    // by one that died. Put it back in the queue; the bytes on disk resume.
    // Listen before recovering: a call another process commits from now on
    // wakes us at once (the change-counter poll covers the rest).
    wake_.listen(ctx_.wake_path);
    serving_.store(true, std::memory_order_release);
    if (ok(ctx_.store.recover_interrupted(now_us()))) {
      ctx_.outbox.apply_pending();
      reopen_lost_files();
    }
    CURLM* multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(ctx_.options.max_concurrent_transfers * 2));
    {
      std::lock_guard<std::mutex> lock(mu_);
      multi_ = multi;
    }
    flusher_ = std::make_unique<Flusher>(2, [this] { wake(); });
    hash_pool_ = std::make_unique<HashPool>(2);
    loop();
    shutdown();
    flusher_.reset();
    hash_pool_.reset();
    {
      std::lock_guard<std::mutex> lock(mu_);
      multi_ = nullptr;
    }
    curl_multi_cleanup(multi);
    serving_.store(false, std::memory_order_release);
    wake_.close();
  }
  lock_.release();
  if (std::error_code error = failure()) ctx_.events.worker_stopped(error);
}

void Worker::reopen_lost_files() {
  // A finished file whose bytes are no longer all on disk is fetched again
  // rather than completed short (a power cut can roll a Cancel back after
  // its deletions were made durable).
  auto finished = ctx_.store.finished_files();
  if (!ok(finished)) return;
  for (const auto& [job_id, f] : *finished) {
    const PathInfo disk = inspect_path(f.temp_path);
    if (disk.regular && disk.size >= f.bytes_total) continue;
    if (!ok(ctx_.store.reopen_lost_file(job_id, f.idx, f.temp_path, now_us()))) return;
    ctx_.events.modified(job_id);
  }
}

void Worker::loop() {
  auto counter = ctx_.store.change_counter();
  last_counter_ = counter ? *counter : 0;
  next_counter_check_ = Steady::now();
  next_housekeeping_ = Steady::now();
  while (!stopping_) {
    bool may_run = false;
    if (take_changes(&may_run)) {
      if (may_run) dirty_ = contended_ = true;
      cancels_.note_change();  // a cancel may have left a Cancel-Session to send
      bandwidth_.invalidate();  // a bandwidth setting may have changed (here or elsewhere)
    }
    if (replan_.exchange(false, std::memory_order_acq_rel)) {
      contended_ = true;  // a new slice length: every slice's end moves
      next_slice_end_ = Steady::time_point::max();
    }
    cancels_.run_due();
    run_timers();
    if (slots_full() && (contended_ || Steady::now() >= next_slice_end_)) rebalance();
    if (dirty_ && !slots_full() && Steady::now() >= claim_not_before_) schedule();
    // Shares are set before libcurl moves bytes: a new transfer starts paced.
    ok(bandwidth_.turn(jobs_));
    perform();
    dispatch_flush_results(false);
    for (auto& kv : jobs_) kv.second->on_turn();
    reap();
    notifier_.on_turn();
    ok(ctx_.store.flush_retired());
    sleep();
  }
}

bool Worker::take_changes(bool* may_run) {
  wake_.drain([this](const WakeMessage& m) { job_changed(m.job_id, m.generation, m.may_run); });
  std::map<std::string, int64_t> changed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    changed.swap(changed_);
    std::swap(*may_run, changes_may_run_);
  }
  bool external = false;
  if (Steady::now() >= next_counter_check_) {
    next_counter_check_ = Steady::now() + ctx_.options.poll_interval;
    auto v = ctx_.store.change_counter();
    if (!ok(v)) return false;
    if (*v != last_counter_) {
      last_counter_ = *v;
      external = true;
    }
  }
  // On a queue shared by hosts, a Cancel or a Complete called elsewhere
  // leaves this host's temp files to this host: delete or rename them now.
  if (external && !ctx_.store.host().empty()) ctx_.outbox.apply_decided_elsewhere();
  if (changed.empty() && !external) return false;
  // Retry timers need no second look: only this worker creates
  // TRANSIENT_ERROR jobs, and a failure resets the timer when it does.
  reconcile(changed, external);
  *may_run = *may_run || external;
  return true;
}

void Worker::reconcile(const std::map<std::string, int64_t>& changed, bool everything) {
  for (auto& [id, driver] : jobs_) {
    if (driver->end() != DriverEnd::running) continue;
    auto it = changed.find(id);
    if (it == changed.end() && !everything) continue;
    bool stale = false;
    if (it != changed.end() && it->second != kGenerationUnknown && !everything) {
      stale = it->second > driver->claim().generation;
    } else {
      auto g = ctx_.store.generation(id);
      if (!ok(g)) continue;  // busy: look again next time
      stale = !*g || **g != driver->claim().generation;
    }
    // The job moved on (cancelled, suspended, completed...): whoever moved
    // it owns its files now. Stop writing and let go.
    if (stale) driver->stop(false);
  }
}

void Worker::run_timers() {
  if (Steady::now() >= next_housekeeping_) {
    next_housekeeping_ = Steady::now() + ctx_.options.housekeeping_interval;
    if (ctx_.housekeep) ctx_.housekeep();
  }
  if (!ctx_.store.host().empty() && Steady::now() >= next_lease_renewal_) renew_leases();
  const int64_t now = now_us();
  if (next_retry_us_ == 0 || now >= next_retry_us_) requeue_due();
}

void Worker::renew_leases() {
  // Every third of the lease: two renewals may fail (a slow database, a
  // reconnect) before another host may take the jobs over.
  next_lease_renewal_ = Steady::now() + ctx_.options.host_lease / 3;
  std::vector<std::string> held;
  for (const auto& kv : jobs_) held.push_back(kv.first);
  ok(ctx_.store.renew_leases(held));
}

void Worker::requeue_due() {
  const int64_t now = now_us();
  std::vector<std::string> expired;
  auto requeued = ctx_.store.requeue_due(now, &expired);
  if (!ok(requeued)) return;
  for (const auto& id : expired) {
    auto info = ctx_.store.job_info(id);
    if (info && info->error) ctx_.events.error(id, *info->error);
    notifier_.job_ended(id, JobState::error);
  }
  auto next = ctx_.store.next_retry_us();
  if (!ok(next)) return;
  // Nothing due: look again in an hour. On a queue shared by hosts, another
  // host may claim a job any moment (no notification resets this timer) and
  // die with it; its lease then ends one lease after its claim at the
  // soonest (a fleet's hosts use one host_lease), so looking again one lease
  // from now finds that end in time. An hour would leave its jobs stranded
  // for up to an hour.
  constexpr int64_t kHourUs = 3600 * 1000000LL;
  const int64_t lease_us = std::chrono::duration_cast<std::chrono::microseconds>(ctx_.options.host_lease).count();
  const int64_t idle_us = ctx_.store.host().empty() ? kHourUs : std::clamp<int64_t>(lease_us, 1000000LL, kHourUs);
  next_retry_us_ = *next ? **next : now + idle_us;
  if (*requeued > 0) dirty_ = contended_ = true;
}

void Worker::schedule() {
  dirty_ = false;
  const int free = ctx_.options.max_concurrent_transfers - static_cast<int>(jobs_.size());
  if (free <= 0) return;
  std::vector<std::string> held;
  for (const auto& kv : jobs_) held.push_back(kv.first);
  auto claims = ctx_.store.claim_next(free, held, now_us());
  if (!claims) {
    // Busy: try again after a poll interval, not in a tight loop.
    if (ok(claims)) {
      dirty_ = true;
      claim_not_before_ = Steady::now() + ctx_.options.poll_interval;
    }
    return;
  }
  for (Claim& c : *claims) {
    ctx_.events.modified(c.job_id);
    start_job(std::move(c));
  }
}

void Worker::rebalance() {
  contended_ = false;
  next_slice_end_ = Steady::time_point::max();
  std::vector<std::string> held;
  for (const auto& kv : jobs_)
    if (kv.second->end() == DriverEnd::running) held.push_back(kv.first);
  auto view = ctx_.store.scheduling_view(held);
  if (!view) {
    if (ok(view)) contended_ = true;  // busy: ask again next turn
    return;
  }
  std::vector<RunningSlot> running;
  for (const auto& [id, priority] : view->running) running.push_back(RunningSlot{id, priority, slot_since_[id]});
  // A driver that ended but is not reaped yet, or whose job is gone, holds
  // its slot until reap(): it is neither running nor free here.
  const int slots = ctx_.options.max_concurrent_transfers - static_cast<int>(jobs_.size() - running.size());
  const SlotPlan plan = plan_slots(running, view->queued, slots, time_slice(), Steady::now());
  if (plan.next_slice_end) next_slice_end_ = *plan.next_slice_end;
  for (const SlotYield& y : plan.yields) {
    auto it = jobs_.find(y.job_id);
    if (it == jobs_.end()) continue;
    if (!it->second->give_slot_back(y.event)) contended_ = true;  // busy: ask again next turn
  }
  // The freed slots go to the waiting jobs in this turn's schedule().
  if (!plan.yields.empty()) reap();
}

void Worker::start_job(Claim claim) {
  auto next = ctx_.store.next_file(claim.job_id);
  if (!next) {
    if (ok(next)) ctx_.store.release(claim, now_us());
    return;
  }
  const std::string id = claim.job_id;
  const Steady::time_point now = Steady::now();
  slot_since_[id] = now;
  if (time_slice().count() > 0) next_slice_end_ = std::min(next_slice_end_, now + time_slice());
  auto driver = make_job_driver(*this, std::move(claim), *next);
  JobDriver& ref = *driver;
  jobs_[id] = std::move(driver);
  ref.start();
}

void Worker::perform() {
  int running = 0;
  curl_multi_perform(multi_, &running);
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CurlRequest* request = CurlRequest::of(msg->easy_handle);
    // The driver may remove and destroy the request: touch neither after.
    if (request) request->owner()->done(*request, msg->data.result);
  }
}

void Worker::dispatch_flush_results(bool shutting_down) {
  for (const Flusher::Result& r : flusher_->take_results()) {
    // Shutting down: keep what was made durable, but finish no file (the
    // next worker finds its bytes on disk and finishes it without a request).
    if (shutting_down && r.finishing) continue;
    auto it = jobs_.find(r.job_id);
    if (it != jobs_.end()) it->second->on_flushed(r);
  }
}

void Worker::reap() {
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    const DriverEnd end = it->second->end();
    if (end == DriverEnd::running) {
      ++it;
      continue;
    }
    if (end == DriverEnd::failed) next_retry_us_ = 0;  // a new TRANSIENT_ERROR job may be due sooner
    dirty_ = true;
    slot_since_.erase(it->first);
    it = jobs_.erase(it);
  }
  cancels_.reap();
}

void Worker::sleep() {
  // Until a socket is ready, a call wakes us, or a timer is due.
  const auto& opt = ctx_.options;
  int64_t timeout_ms = opt.poll_interval.count();
  if (!jobs_.empty()) timeout_ms = std::min<int64_t>(timeout_ms, opt.progress_interval.count());
  const int64_t until_retry_ms = (next_retry_us_ - now_us()) / 1000;
  timeout_ms = std::max<int64_t>(0, std::min(timeout_ms, until_retry_ms));
  if (slots_full() && next_slice_end_ != Steady::time_point::max()) {
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_slice_end_ - Steady::now());
    timeout_ms = std::min<int64_t>(timeout_ms, std::max<int64_t>(0, wait.count() + 1));
  }
  if (dirty_ && !slots_full()) {
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(claim_not_before_ - Steady::now());
    timeout_ms = std::min<int64_t>(timeout_ms, std::max<int64_t>(0, wait.count()));
  }
  // A request paused by its bandwidth throttle is resumed on time.
  const int64_t bandwidth_ms = bandwidth_.wake_in_ms(jobs_);
  if (bandwidth_ms >= 0) timeout_ms = std::min(timeout_ms, bandwidth_ms);
  // Besides libcurl's sockets: calls of other processes on this machine (the
  // wake-up socket) and, on a shared database, other hosts' commits.
  curl_waitfd extra[2];
  unsigned n = 0;
  if (wake_.fd() >= 0) extra[n++] = curl_waitfd{wake_.fd(), CURL_WAIT_POLLIN, 0};
  const int change_fd = ctx_.store.change_fd();
  const unsigned change_slot = n;
  if (change_fd >= 0) extra[n++] = curl_waitfd{change_fd, CURL_WAIT_POLLIN, 0};
  curl_multi_poll(multi_, n ? extra : nullptr, n, static_cast<int>(timeout_ms), nullptr);
  // A notification arrived: read the change counter on this turn, not at
  // the next poll_interval.
  if (change_fd >= 0 && (extra[change_slot].revents & CURL_WAIT_POLLIN)) next_counter_check_ = Steady::now();
}

void Worker::shutdown() {
  // Let the flusher finish and keep what it made durable; then each driver
  // commits the rest and gives its job back to the queue.
  flusher_->drain();
  dispatch_flush_results(true);
  for (auto& kv : jobs_) kv.second->stop(true);
  jobs_.clear();
  slot_since_.clear();
  cancels_.stop_all();
}

}  // namespace xferq::detail
