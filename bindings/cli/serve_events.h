// serve_events.h — the live events of `xferq serve` (Server-Sent Events):
// job created / state / progress / error / properties changed / removed,
// the queue's throughput once a second, and the worker stopping.
//
// Where changes come from: this process's callbacks (the worker's transfers
// and the API's calls; the callback reads the job at once, so quick
// QUEUED -> CONNECTING -> TRANSFERRED steps are each seen) and a poll of
// Queue::job_infos() every poll interval (changes made by other processes,
// e.g. the `xferq` command, which fire no callback here). Snapshots older
// than the one already seen for a job (by modification time) are dropped, so
// the two sources never make a job's state go backwards.
#ifndef XFERQ_BINDINGS_CLI_SERVE_EVENTS_H_
#define XFERQ_BINDINGS_CLI_SERVE_EVENTS_H_

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "xferq/xferq.h"

namespace xferq::cli {

// One event as sent: "id: <id>\nevent: <type>\ndata: <data>\n\n".
// Thread safety: a plain value type; not synchronized.
struct ServeEvent {
  uint64_t id = 0;
  std::string type;
  std::string data;  // one line of JSON
};

// Thread safety: internally synchronized; every method may be called from
// any thread (the callbacks from callbacks() run on the worker and on API
// threads). start() and stop() are called once each by the owner.
class EventHub {
 public:
  // Events kept for followers that fall behind or reconnect (Last-Event-ID).
  static constexpr size_t kRetainedEvents = 16384;
  // Throughput samples kept: one a second for ten minutes.
  static constexpr size_t kThroughputSamples = 600;

  EventHub(Queue& queue, std::chrono::milliseconds progress_interval,
           std::chrono::milliseconds poll_interval = std::chrono::milliseconds(250));
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Reads the queue once (no events for what is already there) and starts
  // the polling thread.
  void start();
  // Stops the thread and wakes every waiting follower (wait() answers
  // stopped). The queue's callbacks must be replaced before the hub dies.
  void stop();

  // Callbacks for Queue::set_callbacks(): they report to this hub.
  JobCallbacks callbacks();

  // What wait() found.
  enum class Wait { events, timeout, gap, stopped };
  // Waits up to `timeout` for events after `after`, then appends them (at
  // most `max`) to *out. gap: `after` is older than the oldest event kept
  // (the follower must start again from a snapshot).
  Wait wait(uint64_t after, std::chrono::milliseconds timeout, size_t max, std::vector<ServeEvent>* out);

  // The jobs as last seen (active ones and recently final ones) and the
  // throughput history, with the id of the last event they include.
  nlohmann::json snapshot(uint64_t* as_of) const;
  // Whether `id` is an event id a follower may resume after.
  bool can_resume_after(uint64_t id) const;

 private:
  struct Seen {
    JobInfo info;
    std::chrono::steady_clock::time_point progress_sent{};
    bool progress_pending = false;
    std::chrono::steady_clock::time_point final_at{};  // when it was seen final
  };

  void loop();
  void poll_queue();
  void observe_job(const std::string& id);
  void observe(const JobInfo& info);                          // takes mu_
  void diff_locked(Seen& seen, const JobInfo& now);           // mu_ held
  void flush_due_progress_locked(std::chrono::steady_clock::time_point now);
  void sample_throughput_locked(std::chrono::steady_clock::time_point now);
  void forget_old_final_locked(std::chrono::steady_clock::time_point now);
  void emit_locked(const std::string& type, const nlohmann::json& data);
  void note_worker_stopped(std::error_code ec);

  Queue& queue_;
  const std::chrono::milliseconds progress_interval_;
  const std::chrono::milliseconds poll_interval_;

  mutable std::mutex mu_;
  std::condition_variable events_cv_;  // followers wait on it
  std::condition_variable stop_cv_;    // the poller sleeps on it between polls
  std::map<std::string, Seen> jobs_;
  std::deque<ServeEvent> events_;
  uint64_t next_event_id_ = 1;
  bool stopping_ = false;
  bool worker_stop_reported_ = false;
  std::error_code worker_error_;
  // Throughput: bytes each job had at the last sample, and the samples.
  std::map<std::string, int64_t> sampled_bytes_;
  std::deque<std::pair<int64_t, double>> throughput_;  // (unix ms, bytes/s)
  std::chrono::steady_clock::time_point last_sample_{};
  std::thread thread_;
};

}  // namespace xferq::cli

#endif  // XFERQ_BINDINGS_CLI_SERVE_EVENTS_H_
