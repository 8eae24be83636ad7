// xferq_c.cc — the C ABI (xferq/xferq_c.h) over the public C++ API: codes
// and names, the queue, its callbacks and its bandwidth settings. Jobs are in
// xferq_c_job.cc (life, snapshots, properties) and xferq_c_job_options.cc
// (HTTP options, limits, integrity, ranges, notifications).
//
// Every entry point catches every exception (std::bad_alloc becomes
// E_OUTOFMEMORY, anything else E_FAIL), so nothing unwinds into C.
#include "xferq_c_internal.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <unordered_map>

using namespace xferq_c_abi;  // NOLINT: the C ABI's own helpers

namespace {
// Strings handed out as `const char*` with process lifetime: one copy per
// code, kept forever (unordered_map nodes never move).
const char* intern(std::unordered_map<uint32_t, std::string>& table, std::mutex& mu, uint32_t key,
                   std::string (*make)(uint32_t)) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = table.find(key);
  if (it == table.end()) it = table.emplace(key, make(key)).first;
  return it->second.c_str();
}

// Codes of this layer that the engine's table does not know.
const char* own_name(uint32_t hr) {
  switch (hr) {
    case XFERQ_E_INSUFFICIENT_BUFFER: return "ERROR_INSUFFICIENT_BUFFER";
    case XFERQ_E_OUTOFMEMORY: return "E_OUTOFMEMORY";
    default: return nullptr;
  }
}
const char* own_message(uint32_t hr) {
  switch (hr) {
    case XFERQ_E_INSUFFICIENT_BUFFER: return "the output buffer is too small";
    case XFERQ_E_OUTOFMEMORY: return "out of memory";
    default: return nullptr;
  }
}

std::string make_name(uint32_t hr) { return xferq::hresult_name(hr); }
std::string make_message(uint32_t hr) {
  return xferq::xferq_category().message(static_cast<int>(hr));
}


}  // namespace

// Definitions of the functions declared extern "C" in xferq_c.h (they keep
// that linkage).

// ------------------------------------------------------------------ codes

const char* xferq_hresult_name(xferq_hr hr) {
  if (const char* s = own_name(hr)) return s;
  // Never destroyed: callers may ask during exit.
  static auto* mu = new std::mutex();
  static auto* table = new std::unordered_map<uint32_t, std::string>();
  try {
    return intern(*table, *mu, hr, make_name);
  } catch (...) {
    return "E_OUTOFMEMORY";
  }
}

const char* xferq_hresult_message(xferq_hr hr) {
  if (const char* s = own_message(hr)) return s;
  static auto* mu = new std::mutex();
  static auto* table = new std::unordered_map<uint32_t, std::string>();
  try {
    return intern(*table, *mu, hr, make_message);
  } catch (...) {
    return "out of memory";
  }
}

// Names copied from xferq::to_string into NUL-terminated storage once.
template <typename E, int N>
static const char* enum_name(int32_t value) {
  static const std::vector<std::string>* names = [] {
    auto* v = new std::vector<std::string>();  // never destroyed
    for (int i = 0; i < N; ++i) v->emplace_back(xferq::to_string(static_cast<E>(i)));
    return v;
  }();
  if (value < 0 || value >= N) return "UNKNOWN";
  return (*names)[static_cast<size_t>(value)].c_str();
}

const char* xferq_state_name(int32_t state) { return enum_name<JobState, 9>(state); }

const char* xferq_priority_name(int32_t priority) {
  return enum_name<xferq::JobPriority, 4>(priority);
}

// ------------------------------------------------------------------ queue

void xferq_queue_options_init(xferq_queue_options* o) {
  if (o == nullptr) return;
  const xferq::QueueOptions d;
  o->start_worker = d.start_worker ? 1 : 0;
  o->max_concurrent_transfers = d.max_concurrent_transfers;
  o->progress_interval_ms = static_cast<uint32_t>(d.progress_interval.count());
  o->poll_interval_ms = static_cast<uint32_t>(d.poll_interval.count());
  o->busy_timeout_ms = static_cast<uint32_t>(d.busy_timeout.count());
  o->synchronous_full = d.synchronous == xferq::Synchronous::full ? 1 : 0;
  o->minimum_retry_delay_floor_s = static_cast<uint32_t>(d.minimum_retry_delay_floor.count());
  o->stall_timeout_s = static_cast<uint32_t>(d.stall_timeout.count());
  o->verify_tls = d.verify_tls ? 1 : 0;
  o->user_agent = nullptr;
}

xferq_hr xferq_queue_open(const char* path, const xferq_queue_options* options, xferq_queue** out) {
  if (out) *out = nullptr;
  if (path == nullptr || out == nullptr || *path == '\0') return XFERQ_E_INVALIDARG;
  return guarded([&]() -> xferq_hr {
    xferq::QueueOptions o;
    if (options) {
      o.start_worker = options->start_worker != 0;
      o.max_concurrent_transfers = options->max_concurrent_transfers;
      o.progress_interval = std::chrono::milliseconds(options->progress_interval_ms);
      o.poll_interval = std::chrono::milliseconds(options->poll_interval_ms);
      o.busy_timeout = std::chrono::milliseconds(options->busy_timeout_ms);
      o.synchronous = options->synchronous_full ? xferq::Synchronous::full : xferq::Synchronous::normal;
      o.minimum_retry_delay_floor = std::chrono::seconds(options->minimum_retry_delay_floor_s);
      o.stall_timeout = std::chrono::seconds(options->stall_timeout_s);
      o.verify_tls = options->verify_tls != 0;
      if (options->user_agent) o.user_agent = options->user_agent;
      if (o.max_concurrent_transfers < 1) return XFERQ_E_INVALIDARG;
    }
    auto q = xferq::Queue::open(path, o);
    if (!q) return hr_of(q.error());
    auto handle = std::make_unique<xferq_queue>();
    handle->queue = std::move(*q);
    *out = handle.release();
    return XFERQ_S_OK;
  });
}

void xferq_queue_close(xferq_queue* queue) {
  if (queue == nullptr) return;
  try {
    queue->queue->stop_worker();
    queue->queue->set_callbacks({});
  } catch (...) {
  }
  delete queue;
}

xferq_hr xferq_queue_start_worker(xferq_queue* queue) {
  if (queue == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    queue->queue->start_worker();
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_queue_stop_worker(xferq_queue* queue) {
  if (queue == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    queue->queue->stop_worker();
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_queue_set_time_slice(xferq_queue* queue, uint32_t time_slice_ms) {
  if (queue == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] { return hr_of(queue->queue->set_time_slice(std::chrono::milliseconds(time_slice_ms))); });
}

xferq_hr xferq_queue_time_slice(xferq_queue* queue, uint32_t* time_slice_ms) {
  if (queue == nullptr || time_slice_ms == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    const int64_t ms = queue->queue->time_slice().count();
    *time_slice_ms = static_cast<uint32_t>(std::min<int64_t>(ms, UINT32_MAX));
    return XFERQ_S_OK;
  });
}

// Hands the engine both C callback sets as one JobCallbacks. Caller holds queue->mu.
static void apply_callbacks(xferq_queue* queue) {
  xferq::JobCallbacks cb;
  {
    {
      const xferq_callbacks c = queue->callbacks;
      void* user = queue->callbacks_user;
      if (c.transferred)
        cb.transferred = [c, user](const std::string& id) { c.transferred(user, id.c_str()); };
      if (c.error)
        cb.error = [c, user](const std::string& id, const xferq::JobErrorInfo& e) {
          xferq_error_info info;
          info.hresult = e.hresult;
          info.context = static_cast<int32_t>(e.context);
          info.file_index = e.file_index ? static_cast<int32_t>(*e.file_index) : -1;
          c.error(user, id.c_str(), &info, e.description.c_str());
        };
      if (c.modified)
        cb.modified = [c, user](const std::string& id) { c.modified(user, id.c_str()); };
    }
    const xferq_progress_callbacks p = queue->progress_callbacks;
    void* puser = queue->progress_user;
    if (p.file_transferred)
      cb.file_transferred = [p, puser](const std::string& id, uint32_t idx) {
        p.file_transferred(puser, id.c_str(), idx);
      };
    if (p.progress)
      cb.progress = [p, puser](const std::string& id, const xferq::JobProgress& jp) {
        xferq_progress out{jp.bytes_total, jp.bytes_transferred, jp.files_total, jp.files_transferred};
        p.progress(puser, id.c_str(), &out);
      };
    cb.progress_interval = std::chrono::milliseconds(p.progress_interval_ms);
    cb.progress_percent = p.progress_percent;
  }
  queue->queue->set_callbacks(std::move(cb));
}

xferq_hr xferq_queue_set_callbacks(xferq_queue* queue, const xferq_callbacks* callbacks, void* user) {
  if (queue == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    std::lock_guard<std::mutex> lock(queue->mu);
    queue->callbacks = callbacks ? *callbacks : xferq_callbacks{};
    queue->callbacks_user = user;
    apply_callbacks(queue);
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_queue_set_progress_callbacks(xferq_queue* queue, const xferq_progress_callbacks* callbacks,
                                            void* user) {
  if (queue == nullptr) return XFERQ_E_INVALIDARG;
  if (callbacks && callbacks->progress_percent > 100) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    std::lock_guard<std::mutex> lock(queue->mu);
    queue->progress_callbacks = callbacks ? *callbacks : xferq_progress_callbacks{};
    queue->progress_user = user;
    apply_callbacks(queue);
    return XFERQ_S_OK;
  });
}


static xferq_hr hand_out(xferq::Result<Job> r, xferq_job** out) {
  if (!r) return hr_of(r.error());
  auto handle = std::make_unique<xferq_job>();
  handle->job = std::move(*r);
  *out = handle.release();
  return XFERQ_S_OK;
}

xferq_hr xferq_queue_create_job(xferq_queue* queue, const char* display_name, xferq_job** out) {
  if (out) *out = nullptr;
  if (queue == nullptr || display_name == nullptr || out == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] { return hand_out(queue->queue->create_job(display_name), out); });
}

xferq_hr xferq_queue_create_job_of_type(xferq_queue* queue, const char* display_name, int type,
                                        xferq_job** out) {
  if (out) *out = nullptr;
  if (queue == nullptr || display_name == nullptr || out == nullptr) return XFERQ_E_INVALIDARG;
  if (type < XFERQ_JOB_TYPE_DOWNLOAD || type > XFERQ_JOB_TYPE_UPLOAD_REPLY) return XFERQ_E_NOTIMPL;
  return guarded(
      [&] { return hand_out(queue->queue->create_job(display_name, static_cast<xferq::JobType>(type)), out); });
}

xferq_hr xferq_job_set_reply_file_name(xferq_job* job, const char* path) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  if (path == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] { return hr_of(job->job.set_reply_file_name(path)); });
}

xferq_hr xferq_queue_get_job(xferq_queue* queue, const char* id, xferq_job** out) {
  if (out) *out = nullptr;
  if (queue == nullptr || id == nullptr || out == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] { return hand_out(queue->queue->get_job(id), out); });
}

xferq_hr xferq_queue_job_ids(xferq_queue* queue, int include_final, char (*ids)[XFERQ_JOB_ID_SIZE],
                             size_t capacity, size_t* count) {
  if (count) *count = 0;
  if (queue == nullptr || count == nullptr || (ids == nullptr && capacity > 0))
    return XFERQ_E_INVALIDARG;
  return guarded([&]() -> xferq_hr {
    auto jobs = queue->queue->jobs(include_final != 0);
    if (!jobs) return hr_of(jobs.error());
    *count = jobs->size();
    if (jobs->size() > capacity) return XFERQ_E_INSUFFICIENT_BUFFER;
    for (size_t i = 0; i < jobs->size(); ++i) {
      const std::string& id = (*jobs)[i].id();
      const size_t n = id.size() < XFERQ_JOB_ID_SIZE - 1 ? id.size() : XFERQ_JOB_ID_SIZE - 1;
      std::memcpy(ids[i], id.data(), n);
      ids[i][n] = '\0';
    }
    return XFERQ_S_OK;
  });
}

// ---- Bandwidth limits ----------------------------------------------------------

xferq_hr xferq_queue_set_bandwidth_limit(xferq_queue* queue, int64_t bytes_per_sec) {
  if (queue == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] { return hr_of(queue->queue->set_bandwidth_limit(bytes_per_sec)); });
}

xferq_hr xferq_queue_bandwidth_limit(xferq_queue* queue, int64_t* bytes_per_sec) {
  if (queue == nullptr || bytes_per_sec == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    auto r = queue->queue->bandwidth_limit();
    if (!r) return hr_of(r.error());
    *bytes_per_sec = *r;
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_queue_set_priority_bandwidth_limit(xferq_queue* queue, int32_t priority, int64_t bytes_per_sec) {
  if (queue == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    return hr_of(queue->queue->set_priority_bandwidth_limit(static_cast<xferq::JobPriority>(priority), bytes_per_sec));
  });
}

xferq_hr xferq_queue_priority_bandwidth_limit(xferq_queue* queue, int32_t priority, int64_t* bytes_per_sec) {
  if (queue == nullptr || bytes_per_sec == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    auto r = queue->queue->priority_bandwidth_limit(static_cast<xferq::JobPriority>(priority));
    if (!r) return hr_of(r.error());
    *bytes_per_sec = *r;
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_queue_set_bandwidth_schedule(xferq_queue* queue, const xferq_bandwidth_window* windows, size_t count) {
  if (queue == nullptr || (windows == nullptr && count > 0)) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    std::vector<xferq::BandwidthWindow> schedule;
    for (size_t i = 0; i < count; ++i)
      schedule.push_back({windows[i].days, windows[i].start_hour, windows[i].end_hour, windows[i].bytes_per_sec});
    return hr_of(queue->queue->set_bandwidth_schedule(schedule));
  });
}

xferq_hr xferq_queue_bandwidth_schedule(xferq_queue* queue, xferq_bandwidth_window* windows, size_t capacity,
                                        size_t* count) {
  if (queue == nullptr || count == nullptr || (windows == nullptr && capacity > 0)) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    auto r = queue->queue->bandwidth_schedule();
    if (!r) return hr_of(r.error());
    *count = r->size();
    if (capacity < r->size()) return r->empty() ? XFERQ_S_OK : XFERQ_E_INSUFFICIENT_BUFFER;
    for (size_t i = 0; i < r->size(); ++i) {
      const xferq::BandwidthWindow& w = (*r)[i];
      windows[i] = xferq_bandwidth_window{w.days, w.start_hour, w.end_hour, w.bytes_per_sec};
    }
    return XFERQ_S_OK;
  });
}

