// hash_pool.h — the threads that compute downloads' digests, off the
// worker's event loop.
//
// SHA-256 runs at a few hundred MB/s to about 2 GB/s a core, the same order
// as a fast download's bytes arrive: hashed on the event-loop thread, a
// verified download ran at about three quarters of the speed of an
// unverified one, and every other transfer waited too. A FileHasher
// (file_hasher.h) posts its work here instead; the pool's threads read the
// bytes back from the temp file (the page cache) and hash them.
//
// Thread safety: post() may be called from any thread. Tasks still queued
// when the pool is destroyed are dropped, not run; a task must therefore own
// (share) everything it touches.
#ifndef XFERQ_WORKER_HASH_POOL_H_
#define XFERQ_WORKER_HASH_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace xferq::detail {

class HashPool {
 public:
  explicit HashPool(int threads);
  // Lets running tasks end, drops queued ones, joins.
  ~HashPool();
  HashPool(const HashPool&) = delete;
  HashPool& operator=(const HashPool&) = delete;

  void post(std::function<void()> task);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_HASH_POOL_H_
