// clock.h — the engine's one notion of "now" for the times it stores.
#ifndef XFERQ_CLOCK_H_
#define XFERQ_CLOCK_H_

#include <chrono>
#include <cstdint>

#include "xferq/types.h"

namespace xferq::detail {

// Microseconds since the epoch of xferq::Clock (the system clock): the unit of
// every *_us column.
inline int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}

}  // namespace xferq::detail

#endif  // XFERQ_CLOCK_H_
