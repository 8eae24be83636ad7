// job_events.h — the application's callbacks (xferq/callbacks.h), held where
// both the API's calls and the worker can reach them.
//
// Thread safety: every method may be called from any thread. set_callbacks()
// swaps a shared pointer, so a callback already running finishes with the set
// it started with.
#ifndef XFERQ_JOB_EVENTS_H_
#define XFERQ_JOB_EVENTS_H_

#include <chrono>
#include <memory>
#include <optional>
#include <mutex>
#include <string>

#include "xferq/callbacks.h"

namespace xferq::detail {

class JobEvents {
 public:
  JobEvents() = default;
  JobEvents(const JobEvents&) = delete;
  JobEvents& operator=(const JobEvents&) = delete;

  void set_callbacks(JobCallbacks callbacks);
  void transferred(const std::string& id);
  void error(const std::string& id, const JobErrorInfo& error);
  void modified(const std::string& id);
  void worker_stopped(std::error_code error);
  void file_transferred(const std::string& id, uint32_t file_index);
  void progress(const std::string& id, const JobProgress& progress);

  // The progress callback's throttle, if one is registered (nullopt: none,
  // so the worker need not read the progress at all).
  struct ProgressThrottle {
    std::chrono::milliseconds interval{0};
    uint32_t percent = 0;
  };
  std::optional<ProgressThrottle> progress_throttle();

 private:
  std::shared_ptr<const JobCallbacks> current();

  std::mutex mu_;
  std::shared_ptr<const JobCallbacks> callbacks_;
};

}  // namespace xferq::detail

#endif  // XFERQ_JOB_EVENTS_H_
