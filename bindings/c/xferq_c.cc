// xferq_c.cc — the C ABI (xferq/xferq_c.h) over the public C++ API.
//
// Every entry point catches every exception (std::bad_alloc becomes
// E_OUTOFMEMORY, anything else E_FAIL), so nothing unwinds into C.
#include "xferq/xferq_c.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "xferq/xferq.h"

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

namespace {

using xferq::Job;
using xferq::JobState;

xferq_hr hr_of(const std::error_code& ec) { return xferq::to_hresult(ec); }

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
xferq_hr copy_out(const std::string& s, char* buf, size_t size, size_t* required) {
  if (required) *required = s.size() + 1;
  if (buf == nullptr || size < s.size() + 1) {
    if (buf != nullptr && size > 0) buf[0] = '\0';
    return XFERQ_E_INSUFFICIENT_BUFFER;
  }
  std::memcpy(buf, s.c_str(), s.size() + 1);
  return XFERQ_S_OK;
}

int64_t to_us(xferq::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

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

bool get_job(const xferq_job* job, const Job** out) {
  if (job == nullptr) return false;
  *out = &job->job;
  return true;
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

// -------------------------------------------------------------------- job

void xferq_job_release(xferq_job* job) { delete job; }

const char* xferq_job_id(const xferq_job* job) { return job ? job->job.id().c_str() : ""; }

xferq_hr xferq_job_add_file(xferq_job* job, const char* remote_url, const char* local_path) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  if (remote_url == nullptr || local_path == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] { return hr_of(job->job.add_file(remote_url, local_path)); });
}

xferq_hr xferq_job_add_files(xferq_job* job, const xferq_file_spec* files, size_t count) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  if (files == nullptr && count > 0) return XFERQ_E_INVALIDARG;
  return guarded([&]() -> xferq_hr {
    std::vector<xferq::FileSpec> specs;
    specs.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      if (files[i].remote_url == nullptr || files[i].local_path == nullptr) return XFERQ_E_INVALIDARG;
      specs.push_back({files[i].remote_url, files[i].local_path});
    }
    return hr_of(job->job.add_files(specs));
  });
}

xferq_hr xferq_job_suspend(xferq_job* job) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] { return hr_of(job->job.suspend()); });
}

xferq_hr xferq_job_resume(xferq_job* job) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] { return hr_of(job->job.resume()); });
}

xferq_hr xferq_job_cancel(xferq_job* job) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] { return hr_of(job->job.cancel()); });
}

xferq_hr xferq_job_complete(xferq_job* job) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&]() -> xferq_hr {
    xferq::CompleteStatus status = xferq::CompleteStatus::all_files;
    if (auto ec = job->job.complete(&status)) return hr_of(ec);
    return status == xferq::CompleteStatus::partial ? XFERQ_BG_S_PARTIAL_COMPLETE : XFERQ_S_OK;
  });
}

// Runs a getter: `out` must be non-NULL; f(job, out) returns the code.
template <typename Out, typename F>
static xferq_hr getter(const xferq_job* job, Out* out, F&& f) {
  const Job* j = nullptr;
  if (!get_job(job, &j)) return XFERQ_BG_E_NOT_FOUND;
  if (out == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] { return f(*j, out); });
}

xferq_hr xferq_job_state(const xferq_job* job, int32_t* state) {
  return getter(job, state, [](const Job& j, int32_t* out) -> xferq_hr {
    auto r = j.state();
    if (!r) return hr_of(r.error());
    *out = static_cast<int32_t>(*r);
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_job_progress(const xferq_job* job, xferq_progress* progress) {
  return getter(job, progress, [](const Job& j, xferq_progress* out) -> xferq_hr {
    auto r = j.progress();
    if (!r) return hr_of(r.error());
    out->bytes_total = r->bytes_total;
    out->bytes_transferred = r->bytes_transferred;
    out->files_total = r->files_total;
    out->files_transferred = r->files_transferred;
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_job_times(const xferq_job* job, xferq_times* times) {
  return getter(job, times, [](const Job& j, xferq_times* out) -> xferq_hr {
    auto r = j.times();
    if (!r) return hr_of(r.error());
    out->creation_us = to_us(r->creation);
    out->modification_us = to_us(r->modification);
    out->transfer_completion_us = r->transfer_completion ? to_us(*r->transfer_completion) : 0;
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_job_error(const xferq_job* job, xferq_error_info* info, char* description, size_t size,
                         size_t* required) {
  if (required) *required = 0;
  if (description != nullptr && required == nullptr) return XFERQ_E_INVALIDARG;
  return getter(job, info, [&](const Job& j, xferq_error_info* out) -> xferq_hr {
    auto r = j.error();
    if (!r) return hr_of(r.error());
    out->hresult = r->hresult;
    out->context = static_cast<int32_t>(r->context);
    out->file_index = r->file_index ? static_cast<int32_t>(*r->file_index) : -1;
    if (description == nullptr && size == 0) {
      if (required) *required = r->description.size() + 1;
      return XFERQ_S_OK;
    }
    return copy_out(r->description, description, size, required);
  });
}

xferq_hr xferq_job_error_count(const xferq_job* job, uint32_t* count) {
  return getter(job, count, [](const Job& j, uint32_t* out) -> xferq_hr {
    auto r = j.error_count();
    if (!r) return hr_of(r.error());
    *out = *r;
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_job_files(const xferq_job* job, xferq_file_info** files, size_t* count) {
  if (files) *files = nullptr;
  if (count) *count = 0;
  if (count == nullptr) return XFERQ_E_INVALIDARG;
  return getter(job, files, [&](const Job& j, xferq_file_info** out) -> xferq_hr {
    auto r = j.files();
    if (!r) return hr_of(r.error());
    if (r->empty()) return XFERQ_S_OK;
    // One block: the array, then every string, so one free() releases it.
    size_t bytes = r->size() * sizeof(xferq_file_info);
    for (const auto& f : *r)
      bytes += f.remote_url.size() + f.local_path.size() + f.temp_path.size() + 3;
    auto* block = static_cast<char*>(std::malloc(bytes));
    if (block == nullptr) return XFERQ_E_OUTOFMEMORY;
    auto* infos = reinterpret_cast<xferq_file_info*>(block);
    char* p = block + r->size() * sizeof(xferq_file_info);
    auto put = [&p](const std::string& s) {
      const char* start = p;
      std::memcpy(p, s.c_str(), s.size() + 1);
      p += s.size() + 1;
      return start;
    };
    for (size_t i = 0; i < r->size(); ++i) {
      const xferq::FileInfo& f = (*r)[i];
      infos[i].remote_url = put(f.remote_url);
      infos[i].local_path = put(f.local_path);
      infos[i].temp_path = put(f.temp_path);
      infos[i].bytes_total = f.bytes_total;
      infos[i].bytes_transferred = f.bytes_transferred;
      infos[i].completed = f.completed ? 1 : 0;
    }
    *out = infos;
    *count = r->size();
    return XFERQ_S_OK;
  });
}

void xferq_free_files(xferq_file_info* files) { std::free(files); }

xferq_hr xferq_job_priority(const xferq_job* job, int32_t* priority) {
  return getter(job, priority, [](const Job& j, int32_t* out) -> xferq_hr {
    auto r = j.priority();
    if (!r) return hr_of(r.error());
    *out = static_cast<int32_t>(*r);
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_job_set_priority(xferq_job* job, int32_t priority) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded(
      [&] { return hr_of(job->job.set_priority(static_cast<xferq::JobPriority>(priority))); });
}

xferq_hr xferq_job_display_name(const xferq_job* job, char* buf, size_t size, size_t* required) {
  if (required) *required = 0;
  return getter(job, required, [&](const Job& j, size_t* req) -> xferq_hr {
    auto r = j.display_name();
    if (!r) return hr_of(r.error());
    return copy_out(*r, buf, size, req);
  });
}

xferq_hr xferq_job_set_display_name(xferq_job* job, const char* name) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  if (name == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] { return hr_of(job->job.set_display_name(name)); });
}

xferq_hr xferq_job_description(const xferq_job* job, char* buf, size_t size, size_t* required) {
  if (required) *required = 0;
  return getter(job, required, [&](const Job& j, size_t* req) -> xferq_hr {
    auto r = j.description();
    if (!r) return hr_of(r.error());
    return copy_out(*r, buf, size, req);
  });
}

xferq_hr xferq_job_set_description(xferq_job* job, const char* text) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  if (text == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] { return hr_of(job->job.set_description(text)); });
}

xferq_hr xferq_job_custom_headers(const xferq_job* job, char* buf, size_t size, size_t* required) {
  if (required) *required = 0;
  return getter(job, required, [&](const Job& j, size_t* req) -> xferq_hr {
    auto r = j.custom_headers();
    if (!r) return hr_of(r.error());
    std::string joined;
    for (const auto& h : *r) joined += (joined.empty() ? "" : "\n") + h;
    return copy_out(joined, buf, size, req);
  });
}

xferq_hr xferq_job_set_custom_headers(xferq_job* job, const char* headers) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  if (headers == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    std::vector<std::string> lines;
    std::string text(headers);
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(start, end - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF, as BITS writes them
      if (!line.empty()) lines.push_back(std::move(line));
      start = end + 1;
    }
    return hr_of(job->job.set_custom_headers(lines));
  });
}

xferq_hr xferq_job_set_credentials(xferq_job* job, int32_t target, int32_t scheme, const char* user,
                                   const char* password) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  if (password == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    return hr_of(job->job.set_credentials(static_cast<xferq::AuthTarget>(target), static_cast<xferq::AuthScheme>(scheme),
                                          user ? user : "", password));
  });
}

xferq_hr xferq_job_remove_credentials(xferq_job* job, int32_t target, int32_t scheme) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] {
    return hr_of(
        job->job.remove_credentials(static_cast<xferq::AuthTarget>(target), static_cast<xferq::AuthScheme>(scheme)));
  });
}

xferq_hr xferq_job_set_proxy_settings(xferq_job* job, int32_t usage, const char* proxy_list,
                                      const char* bypass_list) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] {
    xferq::ProxySettings p{static_cast<xferq::ProxyUsage>(usage), proxy_list ? proxy_list : "",
                           bypass_list ? bypass_list : ""};
    return hr_of(job->job.set_proxy_settings(p));
  });
}

xferq_hr xferq_job_security_flags(const xferq_job* job, uint32_t* flags) {
  return getter(job, flags, [](const Job& j, uint32_t* out) -> xferq_hr {
    auto r = j.security_flags();
    if (!r) return hr_of(r.error());
    *out = *r;
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_job_set_security_flags(xferq_job* job, uint32_t flags) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] { return hr_of(job->job.set_security_flags(flags)); });
}

xferq_hr xferq_job_minimum_retry_delay(const xferq_job* job, uint32_t* seconds) {
  return getter(job, seconds, [](const Job& j, uint32_t* out) -> xferq_hr {
    auto r = j.minimum_retry_delay();
    if (!r) return hr_of(r.error());
    *out = static_cast<uint32_t>(r->count());
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_job_set_minimum_retry_delay(xferq_job* job, uint32_t seconds) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] { return hr_of(job->job.set_minimum_retry_delay(std::chrono::seconds(seconds))); });
}

xferq_hr xferq_job_no_progress_timeout(const xferq_job* job, uint32_t* seconds) {
  return getter(job, seconds, [](const Job& j, uint32_t* out) -> xferq_hr {
    auto r = j.no_progress_timeout();
    if (!r) return hr_of(r.error());
    *out = static_cast<uint32_t>(r->count());
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_job_set_no_progress_timeout(xferq_job* job, uint32_t seconds) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] { return hr_of(job->job.set_no_progress_timeout(std::chrono::seconds(seconds))); });
}


xferq_hr xferq_job_set_tls_options(xferq_job* job, const char* ca_bundle, const char* ca_directory,
                                   const char* client_certificate, const char* client_key,
                                   const char* client_key_password) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] {
    auto str = [](const char* s) { return std::string(s ? s : ""); };
    xferq::TlsOptions t;
    t.ca_bundle = str(ca_bundle);
    t.ca_directory = str(ca_directory);
    t.client_certificate = str(client_certificate);
    t.client_key = str(client_key);
    t.client_key_password = str(client_key_password);
    return hr_of(job->job.set_tls_options(t));
  });
}

xferq_hr xferq_job_tls_option(const xferq_job* job, int32_t which, char* buf, size_t size, size_t* required) {
  const Job* j = nullptr;
  if (!get_job(job, &j)) return XFERQ_BG_E_NOT_FOUND;
  if (which < XFERQ_TLS_CA_BUNDLE || which > XFERQ_TLS_HAS_KEY_PASSWORD) return XFERQ_E_INVALIDARG;
  return guarded([&]() -> xferq_hr {
    auto r = j->tls_options();
    if (!r) return hr_of(r.error());
    const std::string* fields[] = {&r->ca_bundle, &r->ca_directory, &r->client_certificate, &r->client_key};
    const std::string has = r->has_client_key_password ? "1" : "";
    return copy_out(which == XFERQ_TLS_HAS_KEY_PASSWORD ? has : *fields[which], buf, size, required);
  });
}

xferq_hr xferq_job_set_remote_name(xferq_job* job, uint32_t file_index, const char* url) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  if (url == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] { return hr_of(job->job.set_remote_name(file_index, url)); });
}

xferq_hr xferq_job_replace_remote_prefix(xferq_job* job, const char* old_prefix, const char* new_prefix) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  if (old_prefix == nullptr || new_prefix == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] { return hr_of(job->job.replace_remote_prefix(old_prefix, new_prefix)); });
}

xferq_hr xferq_job_max_download_size(const xferq_job* job, uint64_t* bytes) {
  return getter(job, bytes, [](const Job& j, uint64_t* out) -> xferq_hr {
    auto r = j.max_download_size();
    if (!r) return hr_of(r.error());
    *out = *r;
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_job_set_max_download_size(xferq_job* job, uint64_t bytes) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] { return hr_of(job->job.set_max_download_size(bytes)); });
}

xferq_hr xferq_job_maximum_download_time(const xferq_job* job, uint32_t* seconds) {
  return getter(job, seconds, [](const Job& j, uint32_t* out) -> xferq_hr {
    auto r = j.maximum_download_time();
    if (!r) return hr_of(r.error());
    *out = static_cast<uint32_t>(std::min<int64_t>(r->count(), UINT32_MAX));
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_job_set_maximum_download_time(xferq_job* job, uint32_t seconds) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] { return hr_of(job->job.set_maximum_download_time(std::chrono::seconds(seconds))); });
}

xferq_hr xferq_job_file_response(const xferq_job* job, uint32_t file_index, xferq_file_response** response) {
  if (response) *response = nullptr;
  return getter(job, response, [&](const Job& j, xferq_file_response** out) -> xferq_hr {
    auto r = j.files();
    if (!r) return hr_of(r.error());
    if (file_index >= r->size()) return XFERQ_E_INVALIDARG;
    const xferq::FileInfo& f = (*r)[file_index];
    const std::string* strings[] = {&f.final_url, &f.etag, &f.last_modified, &f.content_type,
                                    &f.content_disposition};
    // One block, the struct then its strings, so that one free() releases it.
    size_t bytes = sizeof(xferq_file_response);
    for (const std::string* s : strings) bytes += s->size() + 1;
    auto* block = static_cast<char*>(std::malloc(bytes));
    if (block == nullptr) return XFERQ_E_OUTOFMEMORY;
    auto* resp = reinterpret_cast<xferq_file_response*>(block);
    char* p = block + sizeof(xferq_file_response);
    const char* copies[5];
    for (size_t i = 0; i < 5; ++i) {
      std::memcpy(p, strings[i]->c_str(), strings[i]->size() + 1);
      copies[i] = p;
      p += strings[i]->size() + 1;
    }
    resp->http_status = f.http_status;
    resp->final_url = copies[0];
    resp->etag = copies[1];
    resp->last_modified = copies[2];
    resp->content_type = copies[3];
    resp->content_disposition = copies[4];
    *out = resp;
    return XFERQ_S_OK;
  });
}

void xferq_free_file_response(xferq_file_response* response) { std::free(response); }

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

xferq_hr xferq_job_bandwidth_limit(const xferq_job* job, int64_t* bytes_per_sec) {
  return getter(job, bytes_per_sec, [](const Job& j, int64_t* out) -> xferq_hr {
    auto r = j.bandwidth_limit();
    if (!r) return hr_of(r.error());
    *out = *r;
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_job_set_bandwidth_limit(xferq_job* job, int64_t bytes_per_sec) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] { return hr_of(job->job.set_bandwidth_limit(bytes_per_sec)); });
}

xferq_hr xferq_job_set_notify_command_line(xferq_job* job, const char* program, const char* const* args,
                                           size_t arg_count) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  if (arg_count > 0 && args == nullptr) return XFERQ_E_INVALIDARG;
  for (size_t i = 0; i < arg_count; ++i)
    if (args[i] == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    std::vector<std::string> a(args, args + arg_count);
    return hr_of(job->job.set_notify_command_line(program ? program : "", a));
  });
}

xferq_hr xferq_job_notify_command_line(const xferq_job* job, char* buf, size_t size, size_t* required,
                                       size_t* arg_count) {
  if (required) *required = 0;
  if (arg_count) *arg_count = 0;
  return getter(job, required, [&](const Job& j, size_t* req) -> xferq_hr {
    auto r = j.notify_command_line();
    if (!r) return hr_of(r.error());
    // program NUL arg1 NUL ... argN (copy_out adds the last NUL).
    std::string packed = r->program;
    for (const std::string& a : r->args) packed.append(1, '\0').append(a);
    if (arg_count) *arg_count = r->args.size();
    return copy_out(packed, buf, size, req);
  });
}

namespace {
xferq::FileIntegrity integrity_of(int64_t size, const char* sha256, const char* sha512) {
  xferq::FileIntegrity e;
  e.size = size;
  e.sha256 = sha256 ? sha256 : "";
  e.sha512 = sha512 ? sha512 : "";
  return e;
}
}  // namespace

xferq_hr xferq_job_add_file_with_integrity(xferq_job* job, const char* remote_url, const char* local_path,
                                           int64_t size, const char* sha256, const char* sha512) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  if (remote_url == nullptr || local_path == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    return hr_of(job->job.add_files({xferq::FileSpec(remote_url, local_path, integrity_of(size, sha256, sha512))}));
  });
}

xferq_hr xferq_job_set_file_integrity(xferq_job* job, uint32_t file_index, int64_t size, const char* sha256,
                                      const char* sha512) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] { return hr_of(job->job.set_file_integrity(file_index, integrity_of(size, sha256, sha512))); });
}

xferq_hr xferq_job_file_integrity(const xferq_job* job, uint32_t file_index, int64_t* size, char sha256[65],
                                  char sha512[129]) {
  return getter(job, size, [&](const Job& j, int64_t* out) -> xferq_hr {
    if (sha256 == nullptr || sha512 == nullptr) return XFERQ_E_INVALIDARG;
    auto r = j.files();
    if (!r) return hr_of(r.error());
    if (file_index >= r->size()) return XFERQ_E_INVALIDARG;
    const xferq::FileIntegrity& e = (*r)[file_index].integrity;
    *out = e.size;
    std::snprintf(sha256, 65, "%s", e.sha256.c_str());
    std::snprintf(sha512, 129, "%s", e.sha512.c_str());
    return XFERQ_S_OK;
  });
}

xferq_hr xferq_job_set_validation_state(xferq_job* job, uint32_t file_index, int valid) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  return guarded([&] { return hr_of(job->job.set_validation_state(file_index, valid != 0)); });
}

xferq_hr xferq_job_add_file_with_ranges(xferq_job* job, const char* remote_url, const char* local_path,
                                        const xferq_file_range* ranges, size_t count) {
  if (job == nullptr) return XFERQ_BG_E_NOT_FOUND;
  if (remote_url == nullptr || local_path == nullptr || count == 0 || ranges == nullptr) return XFERQ_E_INVALIDARG;
  return guarded([&] {
    std::vector<xferq::FileRange> list;
    list.reserve(count);
    for (size_t i = 0; i < count; ++i) list.push_back(xferq::FileRange{ranges[i].offset, ranges[i].length});
    return hr_of(job->job.add_file_with_ranges(remote_url, local_path, std::move(list)));
  });
}

xferq_hr xferq_job_file_ranges(const xferq_job* job, uint32_t file_index, xferq_file_range* ranges, size_t capacity,
                               size_t* count) {
  return getter(job, count, [&](const Job& j, size_t* out) -> xferq_hr {
    auto r = j.files();
    if (!r) return hr_of(r.error());
    if (file_index >= r->size()) return XFERQ_E_INVALIDARG;
    const auto& list = (*r)[file_index].ranges;
    *out = list.size();
    if (capacity < list.size()) return list.empty() ? XFERQ_S_OK : XFERQ_E_INSUFFICIENT_BUFFER;
    if (ranges == nullptr && !list.empty()) return XFERQ_E_INVALIDARG;
    for (size_t i = 0; i < list.size(); ++i) ranges[i] = xferq_file_range{list[i].offset, list[i].length};
    return XFERQ_S_OK;
  });
}
