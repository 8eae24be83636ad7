// xferq_c_internal.h — what the C ABI's files share: the handles behind the
// opaque C types and the helpers every entry point uses (exceptions never
// unwind into C; errors become HRESULTs; strings follow the header's buffer
// convention). Private to bindings/c.
//
// Thread safety: the handles are as the C++ objects they hold (Queue, Job);
// xferq_queue's callback copies are guarded by its mutex.
#ifndef XFERQ_BINDINGS_C_XFERQ_C_INTERNAL_H_
#define XFERQ_BINDINGS_C_XFERQ_C_INTERNAL_H_

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "xferq/xferq.h"
#include "xferq/xferq_c.h"

struct xferq_queue {
  std::unique_ptr<xferq::Queue> queue;
  // Both C callback sets, so that setting one keeps the other (the engine
  // takes one JobCallbacks). Guarded by mu.
  std::mutex mu;
  xferq_callbacks callbacks{};
  void* callbacks_user = nullptr;
  xferq_progress_callbacks progress_callbacks{};
  void* progress_user = nullptr;
};

struct xferq_job {
  xferq::Job job;
};

namespace xferq_c_abi {

using xferq::Job;
using xferq::JobState;

inline xferq_hr hr_of(const std::error_code& ec) { return xferq::to_hresult(ec); }

template <typename F>
xferq_hr guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return XFERQ_E_OUTOFMEMORY;
  } catch (...) {
    return XFERQ_E_FAIL;
  }
}

// Copies `s` into the caller's buffer under the convention of the header.
inline xferq_hr copy_out(const std::string& s, char* buf, size_t size, size_t* required) {
  if (required) *required = s.size() + 1;
  if (buf == nullptr || size < s.size() + 1) {
    if (buf != nullptr && size > 0) buf[0] = '\0';
    return XFERQ_E_INSUFFICIENT_BUFFER;
  }
  std::memcpy(buf, s.c_str(), s.size() + 1);
  return XFERQ_S_OK;
}

inline int64_t to_us(xferq::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

inline bool get_job(const xferq_job* job, const Job** out) {
  if (job == nullptr) return false;
  *out = &job->job;
  return true;
}

// Runs a getter: `out` must be non-NULL; f(job, out) returns the code.
template <typename Out, typename F>
xferq_hr getter(const xferq_job* job, Out* out, F&& f) {
  const Job* j = nullptr;
  if (!get_job(job, &j)) return XFERQ_BG_E_NOT_FOUND;
  if (out == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] { return f(*j, out); });
}

}  // namespace xferq_c_abi

#endif  // XFERQ_BINDINGS_C_XFERQ_C_INTERNAL_H_
