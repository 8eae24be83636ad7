// throttle.cc — see throttle.h.
#include "worker/throttle.h"

#include <algorithm>

namespace xferq::detail {

void Throttle::set_rate(int64_t bytes_per_sec, Clock::time_point now) {
  refill(now);
  if (rate_ == 0 && bytes_per_sec > 0) balance_ = 0;  // an unthrottled past earns no credit
  rate_ = bytes_per_sec;
  assigned_ = true;
  last_ = now;
}

void Throttle::refill(Clock::time_point now) {
  if (rate_ == 0) {
    last_ = now;
    return;
  }
  const double seconds = std::chrono::duration<double>(now - last_).count();
  if (seconds <= 0) return;
  last_ = now;
  // A quarter second of credit at most (and at least 16 KiB, one small
  // read): an idle transfer must not burst far past its share afterwards.
  const double cap = std::max(static_cast<double>(rate_) / 4, 16384.0);
  balance_ = std::min(cap, balance_ + seconds * static_cast<double>(rate_));
}

bool Throttle::admit(Clock::time_point now) {
  if (rate_ == 0) return true;
  refill(now);
  if (balance_ > 0) return true;
  held_back_ = true;
  return false;
}

void Throttle::consume(size_t n) {
  period_bytes_ += static_cast<int64_t>(n);
  if (rate_ != 0) balance_ -= static_cast<double>(n);
}

Throttle::Clock::time_point Throttle::ready_at() const {
  if (rate_ == 0 || balance_ > 0) return last_;
  // Just past the moment the debt is repaid.
  const double seconds = (-balance_ + 1) / static_cast<double>(rate_);
  return last_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

int64_t Throttle::take_period(bool* held_back) {
  *held_back = held_back_;
  held_back_ = false;
  const int64_t n = period_bytes_;
  period_bytes_ = 0;
  return n;
}

}  // namespace xferq::detail
