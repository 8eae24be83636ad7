// xferq/error.h — the error codes of xferq.
//
// Every expected failure of the API (a call in the wrong state, an unknown job, a
// bad argument, a failed transfer) is a std::error_code in xferq's category. Its
// value is the HRESULT that BITS / Delivery Optimization use for the same
// condition (docs/bits-behaviour.md says which call or event returns which), so
// the C ABI can return it unchanged and people can search for the name. A
// default-constructed std::error_code means success. Everything declared here
// is constant or a pure function, safe to use from any thread.
#ifndef XFERQ_ERROR_H_
#define XFERQ_ERROR_H_

#include <cstdint>
#include <string>
#include <system_error>

namespace xferq {

// HRESULT values, named in the comments as BITS / Delivery Optimization name
// them; xferq's own conditions use facility 0xDF and the prefix XFERQ_E_.
// Thread safety: a plain value; no synchronization needed.
enum class Errc : uint32_t {
  // Calls refused because of the job's state (cancelled or acknowledged, or
  // another state the call is not valid in). DO_E_INVALID_STATE.
  invalid_state = 0x80D02013u,
  not_found = 0x80200001u,                // BG_E_NOT_FOUND: no job with that id
  empty = 0x80200003u,                    // BG_E_EMPTY: Resume on a job with no files
  file_not_available = 0x80200004u,       // BG_E_FILE_NOT_AVAILABLE (not produced at present)
  error_information_unavailable = 0x8020000Fu,  // BG_E_ERROR_INFORMATION_UNAVAILABLE: no error now
  // BG_E_NETWORK_DISCONNECTED (not produced: network failures are XFERQ_E_TRANSPORT)
  network_disconnected = 0x80200010u,
  // BG_E_INSUFFICIENT_RANGE_SUPPORT: a file added with ranges, and the server
  // answered a Range request with the whole file (no validator change). A
  // plain file restarts from byte 0 instead.
  insufficient_range_support = 0x80200013u,
  // BG_E_INVALID_SERVER_RESPONSE: a 206 whose Content-Range is not the range
  // asked for (a file added with ranges)
  invalid_server_response = 0x8020001Bu,
  // BG_E_INVALID_RANGE: a range that is malformed (add time) or outside the
  // remote file (run time)
  invalid_range = 0x8020002Bu,
  overlapping_ranges = 0x8020002Cu,       // BG_E_OVERLAPPING_RANGES: ranges overlap or repeat
  too_many_ranges_in_file = 0x80200052u,  // BG_E_TOO_MANY_RANGES_IN_FILE: more than 500
  too_many_files = 0x8020001Cu,           // BG_E_TOO_MANY_FILES (upload jobs hold one)
  string_too_long = 0x80200021u,          // BG_E_STRING_TOO_LONG
  too_many_files_in_job = 0x80200051u,    // BG_E_TOO_MANY_FILES_IN_JOB
  // BG_E_VALIDATION_FAILED: a server response xferq cannot use, or an upload's
  // file that changed size under an open session
  validation_failed = 0x80200053u,
  // BG_E_MAXDOWNLOAD_TIMEOUT: the job spent its maximum download time
  // CONNECTING and TRANSFERRING (Job::set_maximum_download_time)
  max_download_timeout = 0x80200054u,
  // BG_E_MAX_DOWNLOAD_SIZE_LIMIT_REACHED: the server announced or sent more
  // bytes than the job's maximum download size (Job::set_max_download_size)
  max_download_size_reached = 0x80200064u,
  download_no_progress = 0x80D02002u,     // DO_E_DOWNLOAD_NO_PROGRESS: no-progress timeout hit
  invalid_arg = 0x80070057u,              // E_INVALIDARG
  access_denied = 0x80070005u,            // E_ACCESSDENIED
  not_implemented = 0x80004001u,          // E_NOTIMPL: value outside an enumeration
  disk_full = 0x80070070u,                // HRESULT_FROM_WIN32(ERROR_DISK_FULL)
  file_not_found = 0x80070002u,           // HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)
  path_not_found = 0x80070003u,           // HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND)
  file_exists = 0x80070050u,              // HRESULT_FROM_WIN32(ERROR_FILE_EXISTS)
  // xferq's own conditions (facility 0xDF, no BITS equivalent).
  database = 0x80DF0001u,                 // XFERQ_E_DATABASE: SQLite failed (message says why)
  database_corrupt = 0x80DF0002u,         // XFERQ_E_DATABASE_CORRUPT: not a queue file, or damaged
  schema_too_new = 0x80DF0003u,           // XFERQ_E_SCHEMA_TOO_NEW: written by a newer xferq
  busy = 0x80DF0004u,                     // XFERQ_E_BUSY: the file stayed locked past the busy timeout
  transport = 0x80DF0005u,                // XFERQ_E_TRANSPORT: a network failure libcurl reported
  unsupported_scheme = 0x80DF0006u,       // XFERQ_E_UNSUPPORTED_SCHEME: not http/https (also on redirect)
  too_many_redirects = 0x80DF0007u,       // XFERQ_E_TOO_MANY_REDIRECTS
  tls = 0x80DF0008u,                      // XFERQ_E_TLS: certificate or handshake refused
};

// HTTP statuses become BG_E_HTTP_ERROR_nnn = 0x80190000 + status, as BITS does.
constexpr uint32_t kHttpErrorBase = 0x80190000u;

// The category of every xferq error_code: name() "xferq", message() a short
// English text ("the server answered HTTP 404" for HTTP statuses). A single
// static object.
const std::error_category& xferq_category() noexcept;

// The error_code for `e` in xferq_category(); found by ADL, it lets an Errc
// convert to and compare with std::error_code.
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(static_cast<uint32_t>(e)), xferq_category()};
}

// The error for an HTTP status: 0x80190000 + status (404 -> BG_E_HTTP_ERROR_404,
// 0x80190194). No range check.
std::error_code http_error(int status) noexcept;

// The HRESULT of an error: 0 (S_OK) for success, the code's value for xferq's
// category, E_FAIL (0x80004005) for any other category.
uint32_t to_hresult(const std::error_code& ec) noexcept;

// The symbolic name of an HRESULT ("DO_E_INVALID_STATE", "BG_E_HTTP_ERROR_404",
// "S_OK", "BG_S_PARTIAL_COMPLETE"), or "0x%08X" if xferq does not know it.
std::string hresult_name(uint32_t hresult);

// Success codes that carry information (never turned into a std::error_code:
// they are successes). The C ABI returns them; in C++ complete() reports
// BG_S_PARTIAL_COMPLETE through CompleteStatus. BG_S_UNABLE_TO_DELETE_FILES is
// not returned at present: a deletion that fails stays in the outbox instead.
constexpr uint32_t kS_OK = 0x00000000u;
constexpr uint32_t kBG_S_PARTIAL_COMPLETE = 0x00200017u;
constexpr uint32_t kBG_S_UNABLE_TO_DELETE_FILES = 0x0020001Au;

}  // namespace xferq

namespace std {
// Makes Errc convert implicitly to std::error_code.
// Thread safety: a compile-time trait; no state.
template <>
struct is_error_code_enum<xferq::Errc> : true_type {};
}  // namespace std

#endif  // XFERQ_ERROR_H_
