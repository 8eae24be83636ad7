// flusher.h — fdatasync off the worker's event loop.
//
// The worker must flush a temp file's bytes before it commits the count that
// claims them, but an fdatasync can take milliseconds (a whole journal commit
// on ext4): done on the event-loop thread it stalls every transfer. The
// flusher runs the fdatasyncs on its own threads and hands the results back;
// the worker, on its own thread, then commits — so every database decision
// about a transfer is still taken where the transfer lives.
//
// Thread safety: submit(), take_results() and drain() may be called from any
// thread; results are delivered to the thread that takes them.
#ifndef XFERQ_WORKER_FLUSHER_H_
#define XFERQ_WORKER_FLUSHER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "fs/temp_file.h"

namespace xferq::detail {

class Flusher {
 public:
  struct Request {
    std::string job_id;
    uint64_t epoch = 0;   // which incarnation of the transfer's file this is
    TempFile file;        // a shared descriptor, closed by the flusher after
    int64_t bytes = 0;    // the count the flush makes durable
    bool finishing = false;
  };
  struct Result {
    std::string job_id;
    uint64_t epoch = 0;
    int64_t bytes = 0;
    bool finishing = false;
    std::error_code error;
    bool unlinked = false;  // the file had no name any more
  };

  // `on_result` is called (from a flusher thread) after each result is queued.
  Flusher(int threads, std::function<void()> on_result);
  // Finishes every submitted request, then joins.
  ~Flusher();
  Flusher(const Flusher&) = delete;
  Flusher& operator=(const Flusher&) = delete;

  void submit(Request request);
  std::vector<Result> take_results();
  // Blocks until every submitted request has a result.
  void drain();

 private:
  void run();

  std::function<void()> on_result_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Request> queue_;
  std::vector<Result> results_;
  int busy_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_FLUSHER_H_
