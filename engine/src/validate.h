// validate.h — checks of what callers hand to the API, before anything is stored.
#ifndef XFERQ_VALIDATE_H_
#define XFERQ_VALIDATE_H_

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "xferq/types.h"

namespace xferq::detail {

constexpr size_t kMaxUrlLength = 2200;        // BITS's limit
constexpr size_t kMaxDisplayName = 256;
constexpr size_t kMaxDescription = 1024;
constexpr int64_t kMaxFilesPerJob = 200;      // BITS's MaxFilesPerJob default

bool is_valid_utf8(std::string_view s);

// An absolute http(s) URL with a host. `allow_other_schemes` lifts the scheme rule.
std::error_code check_remote_url(std::string_view url, bool allow_other_schemes);

// An absolute path without "." / ".." components, naming a regular file or
// nothing (never a directory, FIFO, device or socket), whose parent
// directory exists and is writable.
std::error_code check_local_path(std::string_view path);

// The file of an upload job: an absolute path (same form rules) to an
// existing, readable regular file. ERROR_FILE_NOT_FOUND if nothing is there,
// E_INVALIDARG if it is not a regular file or is empty (see job.h),
// E_ACCESSDENIED if unreadable.
std::error_code check_upload_source(std::string_view path);

// A notify command line (Job::set_notify_command_line): both empty (none), or
// an absolute path to an existing executable regular file and arguments
// without NUL, within the limits. ERROR_FILE_NOT_FOUND / E_INVALIDARG /
// E_ACCESSDENIED / BG_E_STRING_TOO_LONG as job.h says.
constexpr size_t kMaxNotifyProgram = 4096;  // PATH_MAX (BITS: MAX_PATH)
constexpr size_t kMaxNotifyArgs = 4000;     // BITS's limit on the parameters
std::error_code check_notify_command_line(std::string_view program, const std::vector<std::string>& args);

// Display names and descriptions: UTF-8, within the limits, without control
// characters (C0, DEL, C1: a newline would forge a line of a listing, an
// escape sequence would reach the terminal). `multi_line` admits tab and
// line feed (descriptions).
std::error_code check_text(std::string_view text, size_t max_chars, bool allow_empty, bool multi_line = false);

// Custom request headers (Job::set_custom_headers): "Name: value" with a
// token name, no CR/LF/NUL, none of the headers xferq owns, within the limits.
constexpr size_t kMaxCustomHeaders = 64;
constexpr size_t kMaxCustomHeaderBytes = 8 * 1024;
constexpr size_t kMaxCustomHeadersTotal = 16 * 1024;
std::error_code check_custom_headers(const std::vector<std::string>& headers);

// Security flags (Job::set_security_flags): a known redirect policy, and no
// bit beside it but kRedirectAllowHttpsToHttp. E_INVALIDARG otherwise.
std::error_code check_security_flags(uint32_t flags);
// Credentials: a known target and scheme, no NUL/CR/LF, a non-empty
// password (the token for Bearer), no ':' in a Basic user name, 1,024 bytes
// each at most.
std::error_code check_credentials(AuthTarget target, AuthScheme scheme, std::string_view user,
                                  std::string_view password);

// Proxy settings: a known usage; OVERRIDE with a non-empty list, the
// others with none; no control characters; 4 KiB each at most.
std::error_code check_proxy_settings(const ProxySettings& settings);

// TLS options (Job::set_tls_options): absolute paths without control
// characters, 4 KiB each at most; the files exist, are readable regular files
// (ca_directory: a directory) and hold PEM of their kind — certificates in
// the CA bundle and the client certificate, a private key in the key file
// (or in the certificate file when no key file is given). A passphrase needs
// a client certificate; a key needs a certificate.
std::error_code check_tls_options(const TlsOptions& tls);

// A file's expected size and digests (FileSpec::integrity): a size of -1
// (unknown) or more; each digest empty or hex of its length (64 for SHA-256,
// 128 for SHA-512), made lower case here. E_INVALIDARG otherwise.
std::error_code canonicalize_integrity(FileIntegrity* integrity);

// Lines separated by '\n' ("" -> none).
std::vector<std::string> split_lines(const std::string& joined);

// `url` with its user-info (user name and password) replaced by "***", for
// everything that shows a URL: FileInfo, error descriptions, the CLI.
// Unchanged if it has none (or does not parse).
// Job::add_file_with_ranges's checks of a non-empty list, in BITS's order:
// BG_E_TOO_MANY_RANGES_IN_FILE past kMaxRangesPerFile; BG_E_INVALID_RANGE for
// an offset of kLengthToEof, a length of 0, or an end past INT64_MAX;
// BG_E_OVERLAPPING_RANGES if two ranges, sorted by offset, share a byte.
std::error_code check_ranges(const std::vector<FileRange>& ranges);
// files.ranges as stored: "OFFSET:LENGTH,..." in decimal, "eof" for
// kLengthToEof; "" for none. parse_ranges() is false on anything else.
std::string format_ranges(const std::vector<FileRange>& ranges);
bool parse_ranges(std::string_view text, std::vector<FileRange>* out);

std::string redact_url(const std::string& url);

// A GUID in canonical form "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}" (upper
// case), from that form, without braces, or lower case. "" if not a GUID.
std::string canonical_guid(std::string_view text);

// A new random (version 4) GUID in canonical form.
std::string new_guid();

}  // namespace xferq::detail

#endif  // XFERQ_VALIDATE_H_
