// serve_events.cc — see serve_events.h.
#include "serve_events.h"

#include <algorithm>

#include "cli.h"

namespace xferq::cli {

namespace {

using SteadyClock = std::chrono::steady_clock;

// Final jobs stay in snapshots this long after they were seen final.
constexpr auto kKeepFinal = std::chrono::minutes(10);

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

bool progress_differs(const JobProgress& a, const JobProgress& b) {
  return a.bytes_total != b.bytes_total || a.bytes_transferred != b.bytes_transferred ||
         a.files_total != b.files_total || a.files_transferred != b.files_transferred;
}

nlohmann::json progress_event(const JobInfo& info) {
  nlohmann::json j = progress_json(info.progress);
  j["id"] = info.id;
  return j;
}

}  // namespace

EventHub::EventHub(Queue& queue, std::chrono::milliseconds progress_interval, std::chrono::milliseconds poll_interval)
    : queue_(queue), progress_interval_(progress_interval), poll_interval_(poll_interval) {}

EventHub::~EventHub() { stop(); }

void EventHub::start() {
  if (auto infos = queue_.job_infos(false)) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const JobInfo& i : *infos) {
      jobs_[i.id].info = i;
      sampled_bytes_[i.id] = i.progress.bytes_transferred;
    }
  }
  last_sample_ = SteadyClock::now();
  thread_ = std::thread([this] { loop(); });
}

void EventHub::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  events_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

JobCallbacks EventHub::callbacks() {
  JobCallbacks cb;
  // Read the job right away (on the thread that changed it), so each step of
  // a quick sequence is seen in order.
  cb.modified = [this](const std::string& id) { observe_job(id); };
  cb.transferred = [this](const std::string& id) { observe_job(id); };
  cb.error = [this](const std::string& id, const JobErrorInfo&) { observe_job(id); };
  cb.worker_stopped = [this](std::error_code ec) { note_worker_stopped(ec); };
  return cb;
}

EventHub::Wait EventHub::wait(uint64_t after, std::chrono::milliseconds timeout, size_t max,
                              std::vector<ServeEvent>* out) {
  std::unique_lock<std::mutex> lock(mu_);
  events_cv_.wait_for(lock, timeout, [&] { return stopping_ || next_event_id_ - 1 > after; });
  if (stopping_) return Wait::stopped;
  if (next_event_id_ - 1 <= after) return Wait::timeout;
  if (events_.empty() || events_.front().id > after + 1) return Wait::gap;
  for (size_t k = static_cast<size_t>(after + 1 - events_.front().id); k < events_.size() && max > 0; ++k, --max)
    out->push_back(events_[k]);
  return Wait::events;
}

nlohmann::json EventHub::snapshot(uint64_t* as_of) const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json jobs = nlohmann::json::array();
  for (const auto& [id, seen] : jobs_) jobs.push_back(job_json(seen.info, nullptr));
  std::sort(jobs.begin(), jobs.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a["creation_time"].get<std::string>() < b["creation_time"].get<std::string>();
  });
  nlohmann::json throughput = nlohmann::json::array();
  for (const auto& [at, rate] : throughput_) throughput.push_back({{"at", at}, {"bytes_per_sec", rate}});
  *as_of = next_event_id_ - 1;
  nlohmann::json worker = nullptr;
  if (worker_error_)
    worker = {{"name", hresult_name(to_hresult(worker_error_))}, {"message", worker_error_.message()}};
  return {{"jobs", std::move(jobs)}, {"throughput", std::move(throughput)}, {"worker_error", worker}};
}

bool EventHub::can_resume_after(uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (id > next_event_id_ - 1) return false;
  if (id == next_event_id_ - 1) return true;
  return !events_.empty() && events_.front().id <= id + 1;
}

void EventHub::loop() {
  auto next_poll = SteadyClock::now();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      stop_cv_.wait_until(lock, next_poll, [&] { return stopping_; });
      if (stopping_) return;
    }
    poll_queue();
    next_poll = SteadyClock::now() + poll_interval_;
    std::lock_guard<std::mutex> lock(mu_);
    flush_due_progress_locked(SteadyClock::now());
    sample_throughput_locked(SteadyClock::now());
    forget_old_final_locked(SteadyClock::now());
  }
}

void EventHub::poll_queue() {
  if (auto ec = queue_.worker_error()) note_worker_stopped(ec);
  auto infos = queue_.job_infos(false);
  if (!infos) return;  // busy or failing: the next poll tries again
  std::set<std::string> active;
  for (const JobInfo& i : *infos) {
    active.insert(i.id);
    observe(i);
  }
  // Jobs that left the active list became final (or were purged): read them
  // one by one.
  std::vector<std::string> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, seen] : jobs_)
      if (!is_final(seen.info.state) && active.count(id) == 0) gone.push_back(id);
  }
  for (const std::string& id : gone) observe_job(id);
}

void EventHub::observe_job(const std::string& id) {
  auto job = queue_.get_job(id);
  Result<JobInfo> info = job ? job->info() : Result<JobInfo>(job.error());
  if (info) {
    observe(*info);
    return;
  }
  // Busy or failing now: the poller reads it again on its next turn.
  if (info.error() != make_error_code(Errc::not_found)) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (jobs_.erase(id) != 0) {
    sampled_bytes_.erase(id);
    emit_locked("removed", {{"id", id}});
  }
}

void EventHub::observe(const JobInfo& info) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  auto it = jobs_.find(info.id);
  if (it == jobs_.end()) {
    Seen& seen = jobs_[info.id];
    seen.info = info;
    seen.progress_sent = SteadyClock::now();
    if (is_final(info.state)) seen.final_at = SteadyClock::now();
    sampled_bytes_[info.id] = info.progress.bytes_transferred;
    emit_locked("created", {{"job", job_json(info, nullptr)}});
    return;
  }
  // An older read than the one already seen (callbacks and the poll race):
  // dropped, so a job's state never goes backwards.
  if (info.times.modification < it->second.info.times.modification) return;
  diff_locked(it->second, info);
}

void EventHub::diff_locked(Seen& seen, const JobInfo& now) {
  const JobInfo before = seen.info;
  seen.info = now;
  const auto t = SteadyClock::now();
  if (now.state != before.state) {
    seen.progress_pending = false;
    seen.progress_sent = t;
    if (is_final(now.state)) seen.final_at = t;
    emit_locked("state", {{"id", now.id},
                          {"state", std::string(to_string(now.state))},
                          {"previous", std::string(to_string(before.state))},
                          {"job", job_json(now, nullptr)}});
    if ((now.state == JobState::error || now.state == JobState::transient_error) && now.error)
      emit_locked("error", {{"id", now.id}, {"state", std::string(to_string(now.state))}, {"error", error_json(*now.error)}});
    return;
  }
  if (progress_differs(now.progress, before.progress)) {
    if (t - seen.progress_sent >= progress_interval_) {
      seen.progress_sent = t;
      seen.progress_pending = false;
      emit_locked("progress", progress_event(now));
    } else {
      seen.progress_pending = true;  // sent by flush_due_progress_locked when due
    }
    return;
  }
  if (now.priority != before.priority || now.display_name != before.display_name ||
      now.description != before.description || now.minimum_retry_delay != before.minimum_retry_delay ||
      now.no_progress_timeout != before.no_progress_timeout || now.error_count != before.error_count)
    emit_locked("changed", {{"job", job_json(now, nullptr)}});
}

void EventHub::flush_due_progress_locked(SteadyClock::time_point now) {
  for (auto& [id, seen] : jobs_) {
    if (seen.progress_pending && now - seen.progress_sent >= progress_interval_) {
      seen.progress_pending = false;
      seen.progress_sent = now;
      emit_locked("progress", progress_event(seen.info));
    }
  }
}

void EventHub::sample_throughput_locked(SteadyClock::time_point now) {
  if (now - last_sample_ < std::chrono::seconds(1)) return;
  const double seconds = std::chrono::duration<double>(now - last_sample_).count();
  last_sample_ = now;
  int64_t moved = 0;
  for (const auto& [id, seen] : jobs_) {
    const int64_t bytes = seen.info.progress.bytes_transferred;
    auto prev = sampled_bytes_.find(id);
    if (prev != sampled_bytes_.end() && bytes > prev->second) moved += bytes - prev->second;
    sampled_bytes_[id] = bytes;
  }
  const double rate = static_cast<double>(moved) / seconds;
  const int64_t at = unix_ms_now();
  throughput_.emplace_back(at, rate);
  while (throughput_.size() > kThroughputSamples) throughput_.pop_front();
  emit_locked("throughput", {{"at", at}, {"bytes_per_sec", rate}});
}

void EventHub::forget_old_final_locked(SteadyClock::time_point now) {
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (is_final(it->second.info.state) && now - it->second.final_at > kKeepFinal) {
      sampled_bytes_.erase(it->first);
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
}

void EventHub::emit_locked(const std::string& type, const nlohmann::json& data) {
  ServeEvent e;
  e.id = next_event_id_++;
  e.type = type;
  e.data = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  events_.push_back(std::move(e));
  while (events_.size() > kRetainedEvents) events_.pop_front();
  events_cv_.notify_all();
}

void EventHub::note_worker_stopped(std::error_code ec) {
  std::lock_guard<std::mutex> lock(mu_);
  if (worker_stop_reported_ || !ec) return;
  worker_stop_reported_ = true;
  worker_error_ = ec;
  emit_locked("worker", {{"error", {{"name", hresult_name(to_hresult(ec))},
                                    {"hresult", hresult_hex(to_hresult(ec))},
                                    {"message", ec.message()}}}});
}

}  // namespace xferq::cli
