// throttle.h — a token bucket that paces one transfer to the share the
// bandwidth manager gave it.
//
// Why our own bucket rather than CURLOPT_MAX_RECV_SPEED_LARGE /
// CURLOPT_MAX_SEND_SPEED_LARGE: libcurl documents those options for setting
// before a transfer, not for changing on a running one, and its rate window
// (measured from the transfer's start, renewed every few seconds) makes a
// limit set mid-transfer pause for the whole average's excess (curl issues
// #6162, #11857). The bucket is consulted in the write / read callbacks
// (CurlRequest): when it is empty the callback answers CURL_WRITEFUNC_PAUSE /
// CURL_READFUNC_PAUSE, TCP's window holds the sender back, and the loop
// unpauses the request with curl_easy_pause() once the bucket has refilled.
// A new rate takes effect at the next callback.
//
// The bucket may go into debt: a callback's whole buffer is admitted while
// the balance is positive, and the next waits until it is repaid. So the
// long-run rate is exact whatever the buffer size; only the burst after an
// idle spell is bounded (a quarter second of the rate).
//
// Thread safety: worker thread only (the callbacks run there too).
#ifndef XFERQ_WORKER_THROTTLE_H_
#define XFERQ_WORKER_THROTTLE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace xferq::detail {

class Throttle {
 public:
  using Clock = std::chrono::steady_clock;

  // Bytes per second; 0: unthrottled. Keeps the current balance (a debt is
  // repaid at the new rate).
  void set_rate(int64_t bytes_per_sec, Clock::time_point now);
  int64_t rate() const { return rate_; }
  // False until the first set_rate(): a new transfer waits for its share.
  bool assigned() const { return assigned_; }
  // May a callback's bytes go now? False: the request should pause.
  bool admit(Clock::time_point now);
  // `n` bytes went through.
  void consume(size_t n);
  // When a paused request may go on (the balance is positive again).
  Clock::time_point ready_at() const;

  // For the allocator's demand estimate: the bytes moved since the last call
  // and whether the bucket held the transfer back meanwhile.
  int64_t take_period(bool* held_back);

 private:
  void refill(Clock::time_point now);

  int64_t rate_ = 0;
  bool assigned_ = false;
  double balance_ = 0;  // bytes that may go; negative: a debt
  Clock::time_point last_{};
  int64_t period_bytes_ = 0;
  bool held_back_ = false;
};

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_THROTTLE_H_
