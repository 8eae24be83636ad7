// validate.cc — argument checks and GUIDs. The URL rules, which need
// libcurl's parser, are in url_rules.cc.
#include "validate.h"

#include <sys/random.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "fs/file_ops.h"
#include "xferq/error.h"

namespace xferq::detail {

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

namespace {

// An absolute, normalized path: no "." / ".." / empty component, no NUL,
// UTF-8, within PATH_MAX — the stored path is the one that will be used.
bool is_plain_absolute_path(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.back() == '/' || !is_valid_utf8(path) ||
      path.size() >= 4096 || path.find('\0') != std::string_view::npos)
    return false;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.size() > 255) return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

std::error_code check_local_path(std::string_view path) {
  if (!is_plain_absolute_path(path)) return make_error_code(Errc::invalid_arg);
  const std::string p(path);
  // Nothing but a regular file (or nothing) may be replaced: not a
  // directory, FIFO, device or socket.
  const PathInfo target = inspect_path(p);
  if (target.exists && !target.regular) return make_error_code(Errc::invalid_arg);
  const std::string dir = p.substr(0, p.rfind('/')).empty() ? "/" : p.substr(0, p.rfind('/'));
  if (!inspect_path(dir).directory) return make_error_code(Errc::path_not_found);
  if (!can_create_in(dir)) return make_error_code(Errc::access_denied);
  return {};
}

std::error_code check_upload_source(std::string_view path) {
  if (!is_plain_absolute_path(path)) return make_error_code(Errc::invalid_arg);
  const std::string p(path);
  const PathInfo info = inspect_path(p);
  if (!info.exists) return make_error_code(Errc::file_not_found);
  if (!info.regular) return make_error_code(Errc::invalid_arg);
  if (!can_read(p)) return make_error_code(Errc::access_denied);
  // The BITS upload protocol has no way to send an empty file (a Fragment's
  // Content-Range covers one byte at least); refused here rather than
  // "transferred" with nothing on the server.
  if (info.size == 0) return make_error_code(Errc::invalid_arg);
  return {};
}

std::error_code check_notify_command_line(std::string_view program, const std::vector<std::string>& args) {
  if (program.empty()) return args.empty() ? std::error_code() : make_error_code(Errc::invalid_arg);
  const auto has_nul = [](std::string_view s) { return s.find('\0') != std::string_view::npos; };
  if (has_nul(program)) return make_error_code(Errc::invalid_arg);
  size_t total = 0;
  for (const std::string& a : args) {
    if (has_nul(a)) return make_error_code(Errc::invalid_arg);
    total += a.size() + 1;
  }
  if (program.size() > kMaxNotifyProgram || (total > 0 && total - 1 > kMaxNotifyArgs))
    return make_error_code(Errc::string_too_long);
  if (program.front() != '/') return make_error_code(Errc::invalid_arg);
  const std::string p(program);
  const PathInfo info = inspect_path(p);
  if (!info.exists) return make_error_code(Errc::file_not_found);
  if (!info.regular) return make_error_code(Errc::invalid_arg);
  if (!can_execute(p)) return make_error_code(Errc::access_denied);
  return {};
}

std::error_code check_text(std::string_view text, size_t max_chars, bool allow_empty, bool multi_line) {
  if ((!allow_empty && text.empty()) || !is_valid_utf8(text)) return make_error_code(Errc::invalid_arg);
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool c0 = c < 0x20 || c == 0x7F;
    const bool c1 = c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xA0;
    if ((c0 && !(multi_line && (c == '\n' || c == '\t'))) || c1) return make_error_code(Errc::invalid_arg);
  }
  size_t chars = 0;
  for (char c : text) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  if (chars > max_chars) return make_error_code(Errc::string_too_long);
  return {};
}

std::error_code check_security_flags(uint32_t flags) {
  const uint32_t policy = flags & kRedirectPolicyMask;
  if ((flags & ~(kRedirectPolicyMask | kRedirectAllowHttpsToHttp)) != 0 || policy > kRedirectPolicyDisallow)
    return make_error_code(Errc::invalid_arg);
  return {};
}

std::error_code check_custom_headers(const std::vector<std::string>& headers) {
  static const char* const kOwned[] = {"range",          "if-range",          "accept-encoding", "content-range",
                                       "content-length", "transfer-encoding", "host",            "expect",
                                       "connection"};
  if (headers.size() > kMaxCustomHeaders) return make_error_code(Errc::string_too_long);
  size_t total = 0;
  for (const std::string& h : headers) {
    if (h.size() > kMaxCustomHeaderBytes) return make_error_code(Errc::string_too_long);
    total += h.size() + 2;
    if (h.find_first_of(std::string("\r\n\0", 3)) != std::string::npos || !is_valid_utf8(h))
      return make_error_code(Errc::invalid_arg);
    const auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0) return make_error_code(Errc::invalid_arg);
    std::string name;
    for (size_t i = 0; i < colon; ++i) {
      const auto c = static_cast<unsigned char>(h[i]);
      // RFC 9110 token characters only.
      if (!std::isalnum(c) && std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos)
        return make_error_code(Errc::invalid_arg);
      name.push_back(static_cast<char>(std::tolower(c)));
    }
    for (const char* owned : kOwned)
      if (name == owned) return make_error_code(Errc::invalid_arg);
    if (name.rfind("bits-", 0) == 0) return make_error_code(Errc::invalid_arg);
    for (size_t i = colon + 1; i < h.size(); ++i) {
      const auto c = static_cast<unsigned char>(h[i]);
      if ((c < 0x20 && c != '\t') || c == 0x7F) return make_error_code(Errc::invalid_arg);
    }
  }
  if (total > kMaxCustomHeadersTotal) return make_error_code(Errc::string_too_long);
  return {};
}

std::error_code check_credentials(AuthTarget target, AuthScheme scheme, std::string_view user,
                                  std::string_view password) {
  const int t = static_cast<int>(target), s = static_cast<int>(scheme);
  if (t < 0 || t > 1 || s < 0 || s > 2) return make_error_code(Errc::invalid_arg);
  if (user.size() > 1024 || password.size() > 1024) return make_error_code(Errc::string_too_long);
  const std::string_view bad("\0\r\n", 3);
  if (user.find_first_of(bad) != std::string_view::npos || password.find_first_of(bad) != std::string_view::npos)
    return make_error_code(Errc::invalid_arg);
  if (password.empty()) return make_error_code(Errc::invalid_arg);
  if (scheme == AuthScheme::basic && user.find(':') != std::string_view::npos) return make_error_code(Errc::invalid_arg);
  return {};
}

std::error_code check_proxy_settings(const ProxySettings& p) {
  const int usage = static_cast<int>(p.usage);
  if (usage < 0 || usage > 2) return make_error_code(Errc::invalid_arg);
  if (p.proxy_list.size() > 4096 || p.bypass_list.size() > 4096) return make_error_code(Errc::string_too_long);
  for (const std::string* s : {&p.proxy_list, &p.bypass_list})
    for (char c : *s)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return make_error_code(Errc::invalid_arg);
  const bool has_list = p.proxy_list.find_first_not_of(" ;,") != std::string::npos;
  if (p.usage == ProxyUsage::override_list && !has_list) return make_error_code(Errc::invalid_arg);
  if (p.usage != ProxyUsage::override_list && (!p.proxy_list.empty() || !p.bypass_list.empty()))
    return make_error_code(Errc::invalid_arg);
  return {};
}

namespace {

// The first 64 KiB of a PEM file hold the marker: "-----BEGIN CERTIFICATE-----"
// or a private key's "-----BEGIN … PRIVATE KEY-----".
enum class PemKind { certificate, private_key };

bool holds_pem(const std::string& text, PemKind kind) {
  if (kind == PemKind::certificate) return text.find("-----BEGIN CERTIFICATE-----") != std::string::npos;
  for (size_t at = text.find("-----BEGIN "); at != std::string::npos; at = text.find("-----BEGIN ", at + 1)) {
    const size_t end = text.find("-----", at + 11);
    if (end != std::string::npos && text.substr(at + 11, end - (at + 11)).find("PRIVATE KEY") != std::string::npos)
      return true;
  }
  return false;
}

std::error_code check_tls_path(const std::string& path, bool directory) {
  if (path.size() > 4096) return make_error_code(Errc::string_too_long);
  if (!is_plain_absolute_path(path)) return make_error_code(Errc::invalid_arg);
  for (char c : path)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return make_error_code(Errc::invalid_arg);
  const PathInfo info = inspect_path(path);
  if (!info.exists) return make_error_code(directory ? Errc::path_not_found : Errc::file_not_found);
  if (directory ? !info.directory : !info.regular) return make_error_code(Errc::invalid_arg);
  if (!can_read(path)) return make_error_code(Errc::access_denied);
  return {};
}

std::error_code check_pem_file(const std::string& path, PemKind kind) {
  if (std::error_code ec = check_tls_path(path, false)) return ec;
  std::string head;
  const int64_t size = inspect_path(path).size;
  if (std::error_code ec = read_range(path, 0, std::min<int64_t>(size, 64 * 1024), &head))
    return ec == make_error_code(Errc::validation_failed) ? make_error_code(Errc::invalid_arg) : ec;
  return holds_pem(head, kind) ? std::error_code() : make_error_code(Errc::invalid_arg);
}

}  // namespace

std::error_code check_tls_options(const TlsOptions& t) {
  if (t.client_key_password.size() > 1024) return make_error_code(Errc::string_too_long);
  for (char c : t.client_key_password)
    if (c == '\0' || c == '\r' || c == '\n') return make_error_code(Errc::invalid_arg);
  if (t.client_certificate.empty() &&
      (!t.client_key.empty() || !t.client_key_password.empty() || t.has_client_key_password))
    return make_error_code(Errc::invalid_arg);
  if (!t.ca_bundle.empty())
    if (std::error_code ec = check_pem_file(t.ca_bundle, PemKind::certificate)) return ec;
  if (!t.ca_directory.empty())
    if (std::error_code ec = check_tls_path(t.ca_directory, true)) return ec;
  if (!t.client_certificate.empty()) {
    if (std::error_code ec = check_pem_file(t.client_certificate, PemKind::certificate)) return ec;
    // Without a key file, libcurl reads the key from the certificate's file.
    const std::string& key = t.client_key.empty() ? t.client_certificate : t.client_key;
    if (std::error_code ec = check_pem_file(key, PemKind::private_key)) return ec;
  }
  return {};
}

namespace {
bool canonical_hex(std::string* digest, size_t length) {
  if (digest->empty()) return true;
  if (digest->size() != length) return false;
  for (char& c : *digest) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return true;
}
}  // namespace

std::error_code canonicalize_integrity(FileIntegrity* integrity) {
  if (integrity->size < -1 || !canonical_hex(&integrity->sha256, 64) || !canonical_hex(&integrity->sha512, 128))
    return make_error_code(Errc::invalid_arg);
  return {};
}

std::vector<std::string> split_lines(const std::string& joined) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < joined.size()) {
    size_t end = joined.find('\n', start);
    if (end == std::string::npos) end = joined.size();
    out.push_back(joined.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string canonical_guid(std::string_view text) {
  if (text.size() == 38 && text.front() == '{' && text.back() == '}') text = text.substr(1, 36);
  if (text.size() != 36) return {};
  std::string out = "{";
  for (size_t i = 0; i < 36; ++i) {
    const char c = text[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c))) return {};
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  out.push_back('}');
  return out;
}

std::string new_guid() {
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    const ssize_t n = ::getrandom(b + got, sizeof b - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  char buf[40];
  std::snprintf(buf, sizeof buf, "{%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X}",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                b[14], b[15]);
  return buf;
}

std::error_code check_ranges(const std::vector<FileRange>& ranges) {
  if (ranges.size() > kMaxRangesPerFile) return make_error_code(Errc::too_many_ranges_in_file);
  constexpr uint64_t kMaxOffset = static_cast<uint64_t>(INT64_MAX);
  for (const FileRange& r : ranges) {
    if (r.offset == kLengthToEof || r.length == 0 || r.offset >= kMaxOffset) return make_error_code(Errc::invalid_range);
    if (r.length != kLengthToEof && r.length > kMaxOffset - r.offset) return make_error_code(Errc::invalid_range);
  }
  std::vector<FileRange> sorted = ranges;
  std::sort(sorted.begin(), sorted.end(), [](const FileRange& a, const FileRange& b) { return a.offset < b.offset; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    const FileRange& prev = sorted[i - 1];
    if (prev.length == kLengthToEof || prev.offset + prev.length > sorted[i].offset)
      return make_error_code(Errc::overlapping_ranges);
  }
  return {};
}

std::string format_ranges(const std::vector<FileRange>& ranges) {
  std::string out;
  for (const FileRange& r : ranges) {
    if (!out.empty()) out += ',';
    out += std::to_string(r.offset) + ':' + (r.length == kLengthToEof ? std::string("eof") : std::to_string(r.length));
  }
  return out;
}

bool parse_ranges(std::string_view text, std::vector<FileRange>* out) {
  out->clear();
  auto number = [](std::string_view v, uint64_t* n) {
    if (v.empty() || v.size() > 20) return false;
    uint64_t x = 0;
    for (char c : v) {
      if (c < '0' || c > '9') return false;
      const uint64_t d = static_cast<uint64_t>(c - '0');
      if (x > (UINT64_MAX - d) / 10) return false;
      x = x * 10 + d;
    }
    *n = x;
    return true;
  };
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    const size_t colon = item.find(':');
    if (colon == std::string_view::npos) return false;
    FileRange r;
    if (!number(item.substr(0, colon), &r.offset)) return false;
    const std::string_view len = item.substr(colon + 1);
    if (len == "eof") {
      r.length = kLengthToEof;
    } else if (!number(len, &r.length)) {
      return false;
    }
    out->push_back(r);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    if (text.empty()) return false;
  }
  return true;
}

}  // namespace xferq::detail
