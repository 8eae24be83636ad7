// xferq_c_job_options.cc — the C ABI's job options: TLS, remote names,
// limits, response metadata, bandwidth, notify command line, integrity and
// byte ranges. See xferq_c.cc.
#include "xferq_c_internal.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

using namespace xferq_c_abi;  // NOLINT: the C ABI's own helpers

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

