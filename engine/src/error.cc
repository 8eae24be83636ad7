// error.cc — xferq's error category: HRESULT values with BITS / DO names.
#include "xferq/error.h"

#include <cstdio>

namespace xferq {
namespace {

struct Known {
  uint32_t hresult;
  const char* name;
  const char* text;
};

constexpr Known kKnown[] = {
    {0x00000000u, "S_OK", "the call succeeded"},
    {0x00200017u, "BG_S_PARTIAL_COMPLETE", "only the finished files were kept"},
    {0x0020001Au, "BG_S_UNABLE_TO_DELETE_FILES", "some temporary files could not be deleted"},
    {0x80D02013u, "DO_E_INVALID_STATE", "the call is not valid in the job's current state"},
    {0x80200001u, "BG_E_NOT_FOUND", "no job with that id"},
    {0x80200003u, "BG_E_EMPTY", "the job has no files"},
    {0x80200004u, "BG_E_FILE_NOT_AVAILABLE", "no file is involved in the error"},
    {0x8020000Fu, "BG_E_ERROR_INFORMATION_UNAVAILABLE", "the job is not in an error state"},
    {0x80200010u, "BG_E_NETWORK_DISCONNECTED", "the network is not reachable"},
    {0x80200013u, "BG_E_INSUFFICIENT_RANGE_SUPPORT", "the server does not support ranges as needed"},
    {0x8020001Bu, "BG_E_INVALID_SERVER_RESPONSE", "the server's response did not match the range requested"},
    {0x8020002Bu, "BG_E_INVALID_RANGE", "a range is invalid or outside the remote file"},
    {0x8020002Cu, "BG_E_OVERLAPPING_RANGES", "the ranges overlap or repeat"},
    {0x80200052u, "BG_E_TOO_MANY_RANGES_IN_FILE", "a file may have at most 500 ranges"},
    {0x8020001Cu, "BG_E_TOO_MANY_FILES", "this kind of job holds one file only"},
    {0x8020001Fu, "BG_E_SESSION_NOT_FOUND", "the upload server does not know the session"},
    {0x80200020u, "BG_E_TOO_LARGE", "the upload is larger than the server accepts"},
    {0x80200021u, "BG_E_STRING_TOO_LONG", "the string is too long"},
    {0x80200051u, "BG_E_TOO_MANY_FILES_IN_JOB", "the job has the most files it may have (200)"},
    {0x80200053u, "BG_E_VALIDATION_FAILED", "the server's response could not be used"},
    {0x80200054u, "BG_E_MAXDOWNLOAD_TIMEOUT", "the job used up its maximum download time"},
    {0x80200064u, "BG_E_MAX_DOWNLOAD_SIZE_LIMIT_REACHED", "the job would download more than its maximum size"},
    {0x80D02002u, "DO_E_DOWNLOAD_NO_PROGRESS", "no progress within the no-progress timeout"},
    {0x80070057u, "E_INVALIDARG", "an argument is invalid"},
    {0x80070005u, "E_ACCESSDENIED", "access denied"},
    {0x80004001u, "E_NOTIMPL", "the value is not one of the enumeration's"},
    {0x80004005u, "E_FAIL", "unspecified failure"},
    {0x8007000Eu, "E_OUTOFMEMORY", "not enough memory"},
    {0x8007007Au, "ERROR_INSUFFICIENT_BUFFER", "the buffer is too small"},
    {0x80070070u, "ERROR_DISK_FULL", "there is not enough space on the disk"},
    {0x80070002u, "ERROR_FILE_NOT_FOUND", "the file does not exist"},
    {0x80070003u, "ERROR_PATH_NOT_FOUND", "the directory does not exist"},
    {0x80070050u, "ERROR_FILE_EXISTS", "the file exists"},
    {0x80DF0001u, "XFERQ_E_DATABASE", "the queue database failed"},
    {0x80DF0002u, "XFERQ_E_DATABASE_CORRUPT", "the file is not an xferq queue or is damaged"},
    {0x80DF0003u, "XFERQ_E_SCHEMA_TOO_NEW", "the queue was written by a newer xferq"},
    {0x80DF0004u, "XFERQ_E_BUSY", "the queue stayed locked by another process"},
    {0x80DF0005u, "XFERQ_E_TRANSPORT", "the transfer failed in the network"},
    {0x80DF0006u, "XFERQ_E_UNSUPPORTED_SCHEME", "only http and https URLs are allowed"},
    {0x80DF0007u, "XFERQ_E_TOO_MANY_REDIRECTS", "too many redirects"},
    {0x80DF0008u, "XFERQ_E_TLS", "the TLS handshake or certificate check failed"},
};

const Known* find(uint32_t hr) {
  for (const Known& k : kKnown)
    if (k.hresult == hr) return &k;
  return nullptr;
}

bool is_http(uint32_t hr) { return (hr & 0xFFFF0000u) == kHttpErrorBase && (hr & 0xFFFFu) >= 100 && (hr & 0xFFFFu) < 600; }

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "xferq"; }
  std::string message(int value) const override {
    const uint32_t hr = static_cast<uint32_t>(value);
    if (const Known* k = find(hr)) return k->text;
    if (is_http(hr)) return "the server answered HTTP " + std::to_string(hr & 0xFFFFu);
    return "unknown error " + hresult_name(hr);
  }
};

}  // namespace

const std::error_category& xferq_category() noexcept {
  static const Category category;
  return category;
}

std::error_code http_error(int status) noexcept {
  return {static_cast<int>(kHttpErrorBase + static_cast<uint32_t>(status)), xferq_category()};
}

uint32_t to_hresult(const std::error_code& ec) noexcept {
  if (!ec) return 0;
  if (ec.category() == xferq_category()) return static_cast<uint32_t>(ec.value());
  return 0x80004005u;
}

std::string hresult_name(uint32_t hr) {
  if (const Known* k = find(hr)) return k->name;
  if (is_http(hr)) return "BG_E_HTTP_ERROR_" + std::to_string(hr & 0xFFFFu);
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", hr);
  return buf;
}

}  // namespace xferq
