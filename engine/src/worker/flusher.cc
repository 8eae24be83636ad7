// flusher.cc — see flusher.h.
#include "worker/flusher.h"

namespace xferq::detail {

Flusher::Flusher(int threads, std::function<void()> on_result) : on_result_(std::move(on_result)) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

Flusher::~Flusher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Flusher::submit(Request request) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(request));
  }
  cv_.notify_one();
}

std::vector<Flusher::Result> Flusher::take_results() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Result> out;
  out.swap(results_);
  return out;
}

void Flusher::drain() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return queue_.empty() && busy_ == 0; });
}

void Flusher::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping with nothing left
    Request r = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    Result out{r.job_id, r.epoch, r.bytes, r.finishing, r.file.sync(), false};
    out.unlinked = r.file.unlinked();
    r.file.close();
    lock.lock();
    results_.push_back(std::move(out));
    --busy_;
    if (queue_.empty() && busy_ == 0) idle_cv_.notify_all();
    lock.unlock();
    if (on_result_) on_result_();
    lock.lock();
  }
}

}  // namespace xferq::detail
