// xferq_c_job.cc — the C ABI's job calls: files, suspend / resume / cancel /
// complete, snapshots and the basic properties. See xferq_c.cc.
#include "xferq_c_internal.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

using namespace xferq_c_abi;  // NOLINT: the C ABI's own helpers

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


