// fuzz_validate.cc — libFuzzer target: the checks of what callers hand to the
// API (validate.h). Input: byte 0 = flags (bit 0 allow_other_schemes, bit 1
// allow_empty, bit 2 multi_line), byte 1 = max_chars for check_text, the rest
// = the text given to every check. Properties:
//   is_valid_utf8 agrees with a reference validator (Unicode Table 3-7);
//   check_text rejects invalid UTF-8 and control characters (C0 but tab and
//   line feed in multi-line text, DEL, C1), and accepts other text within its
//   limits;
//   redact_url leaves no credentials libcurl would find (no password, no user
//   name but "***"), and leaves a URL without any unchanged;
//   canonical_guid answers "" or 38 characters in canonical form, and is
//   idempotent (also from the brace-less and lower-case spellings);
//   an accepted URL is UTF-8, <= kMaxUrlLength, without controls or spaces,
//   libcurl finds a host in it and (schemes not allowed) the scheme http or
//   https;
//   an accepted path is absolute and normalized, and names a regular file or
//   nothing (an upload source: a regular file).
// check_local_path / check_upload_source only stat() and access() the path.
#include <curl/curl.h>
#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "validate.h"
#include "xferq/error.h"

namespace xd = xferq::detail;
using xferq::Errc;

namespace {

// Well-formed UTF-8 byte sequences, written from Unicode's Table 3-7 (not
// from validate.cc's decoder).
bool reference_utf8(std::string_view s) {
  const size_t n = s.size();
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto in = [&](size_t k, unsigned lo, unsigned hi) { return i + k < n && at(i + k) >= lo && at(i + k) <= hi; };
  while (i < n) {
    const unsigned b = at(i);
    if (b <= 0x7F) {
      i += 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
      if (!in(1, 0x80, 0xBF)) return false;
      i += 2;
    } else if (b == 0xE0) {
      if (!in(1, 0xA0, 0xBF) || !in(2, 0x80, 0xBF)) return false;
      i += 3;
    } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
      if (!in(1, 0x80, 0xBF) || !in(2, 0x80, 0xBF)) return false;
      i += 3;
    } else if (b == 0xED) {
      if (!in(1, 0x80, 0x9F) || !in(2, 0x80, 0xBF)) return false;
      i += 3;
    } else if (b == 0xF0) {
      if (!in(1, 0x90, 0xBF) || !in(2, 0x80, 0xBF) || !in(3, 0x80, 0xBF)) return false;
      i += 4;
    } else if (b >= 0xF1 && b <= 0xF3) {
      if (!in(1, 0x80, 0xBF) || !in(2, 0x80, 0xBF) || !in(3, 0x80, 0xBF)) return false;
      i += 4;
    } else if (b == 0xF4) {
      if (!in(1, 0x80, 0x8F) || !in(2, 0x80, 0xBF) || !in(3, 0x80, 0xBF)) return false;
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

size_t code_points(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string ascii_lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool is_canonical_guid(const std::string& g) {
  if (g.size() != 38 || g.front() != '{' || g.back() != '}') return false;
  for (size_t i = 1; i < 37; ++i) {
    const char c = g[i];
    if (i == 9 || i == 14 || i == 19 || i == 24) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

void check_guid(std::string_view s) {
  const std::string g = xd::canonical_guid(s);
  FUZZ_CHECK(g.empty() || g.size() == 38);
  if (g.empty()) {
    FUZZ_CHECK(!is_canonical_guid(std::string(s)));
    return;
  }
  FUZZ_CHECK(is_canonical_guid(g));
  FUZZ_CHECK(xd::canonical_guid(g) == g);                            // idempotent
  FUZZ_CHECK(xd::canonical_guid(g.substr(1, 36)) == g);              // without braces
  FUZZ_CHECK(xd::canonical_guid(ascii_lower(g)) == g);               // lower case
  FUZZ_CHECK(ascii_lower(g.substr(1, 36)) == ascii_lower(std::string(s.size() == 38 ? s.substr(1, 36) : s)));
}

// A control character check_text refuses: C0 (but tab and line feed in
// multi-line text), DEL, C1 (U+0080..U+009F). `s` is valid UTF-8.
bool has_control(std::string_view s, bool multi_line) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 && !(multi_line && (c == '\n' || c == '\t'))) return true;
    if (c == 0x7F) return true;
    // U+0080..U+009F are C2 80..C2 9F in UTF-8.
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F) return true;
  }
  return false;
}

void check_text(std::string_view s, size_t max_chars, bool allow_empty, bool multi_line) {
  const bool utf8 = xd::is_valid_utf8(s);
  FUZZ_CHECK(utf8 == reference_utf8(s));
  const std::error_code ec = xd::check_text(s, max_chars, allow_empty, multi_line);
  if (!utf8) {
    FUZZ_CHECK(ec == make_error_code(Errc::invalid_arg));
    return;
  }
  if ((s.empty() && !allow_empty) || has_control(s, multi_line)) {
    FUZZ_CHECK(ec == make_error_code(Errc::invalid_arg));
  } else if (code_points(s) > max_chars) {
    FUZZ_CHECK(ec == make_error_code(Errc::string_too_long));
  } else {
    FUZZ_CHECK(!ec);
  }
}

// What libcurl finds in a URL (CURLU_NON_SUPPORT_SCHEME, as redact_url parses).
struct UrlParts {
  bool parsed = false;
  bool has_user = false, has_password = false;
  std::string user, password;
};

UrlParts url_parts(const std::string& url) {
  UrlParts p;
  CURLU* u = curl_url();
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
    p.parsed = true;
    char* part = nullptr;
    if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK) p.has_user = true, p.user = part;
    curl_free(part);
    part = nullptr;
    if (curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK) p.has_password = true, p.password = part;
    curl_free(part);
  }
  curl_url_cleanup(u);
  return p;
}

// redact_url: what it answers carries no credentials libcurl would find — no
// password, and no user name but "***" — and a URL without any is unchanged
// (an unparsable one holding an '@' is hidden whole).
void check_redact(std::string_view s) {
  const std::string url(s);
  const std::string out = xd::redact_url(url);
  const UrlParts in = url_parts(url);
  if (!in.parsed) {
    // Unparsable: shown as given, or hidden whole when an '@' might hide credentials.
    FUZZ_CHECK(out == url || (url.find('@') != std::string::npos && out == "(unparsable URL)"));
    return;
  }
  if (!in.has_user && !in.has_password) {
    FUZZ_CHECK(out == url);
    return;
  }
  const UrlParts shown = url_parts(out);
  if (!shown.parsed) return;
  FUZZ_CHECK(!shown.has_password);
  FUZZ_CHECK(!shown.has_user || shown.user == "***");
}

void check_url(std::string_view s, bool allow_other_schemes) {
  const std::error_code ec = xd::check_remote_url(s, allow_other_schemes);
  if (ec) {
    FUZZ_CHECK(ec == make_error_code(Errc::invalid_arg) || ec == make_error_code(Errc::string_too_long) ||
               ec == make_error_code(Errc::unsupported_scheme));
    // Only the scheme rule depends on the flag: refused with it, refused without.
    if (allow_other_schemes) FUZZ_CHECK(xd::check_remote_url(s, false));
    return;
  }
  FUZZ_CHECK(!s.empty() && s.size() <= xd::kMaxUrlLength && xd::is_valid_utf8(s));
  for (char c : s) FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20);
  FUZZ_CHECK(s.find("://") != std::string_view::npos);
  // libcurl (what will fetch it) sees a scheme and a host. It is lenient
  // ("http:/host/x" is http://host/x), so the text need not start "http://".
  std::string scheme, host;
  CURLU* u = curl_url();
  const std::string url(s);
  FUZZ_CHECK(curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK);
  char* part = nullptr;
  if (curl_url_get(u, CURLUPART_SCHEME, &part, 0) == CURLUE_OK) scheme = part;
  curl_free(part);
  part = nullptr;
  if (curl_url_get(u, CURLUPART_HOST, &part, 0) == CURLUE_OK) host = part;
  curl_free(part);
  curl_url_cleanup(u);
  FUZZ_CHECK(!host.empty());
  if (!allow_other_schemes) {
    FUZZ_CHECK(scheme == "http" || scheme == "https");
    const std::string l = ascii_lower(std::string(s.substr(0, 6)));
    FUZZ_CHECK(l.rfind("http:", 0) == 0 || l.rfind("https:", 0) == 0);
  } else {
    FUZZ_CHECK(!xd::check_remote_url(s, true));  // deterministic
  }
}

// What an accepted path must look like, whatever is on disk.
void check_path_form(std::string_view s) {
  FUZZ_CHECK(!s.empty() && s.front() == '/' && s.back() != '/' && s.size() < 4096);
  FUZZ_CHECK(s.find('\0') == std::string_view::npos && xd::is_valid_utf8(s));
  FUZZ_CHECK(s.find("//") == std::string_view::npos);
  const std::string p = std::string(s) + "/";
  FUZZ_CHECK(p.find("/./") == std::string::npos && p.find("/../") == std::string::npos);
}

void check_paths(std::string_view s) {
  const std::error_code local = xd::check_local_path(s);
  struct stat st {};
  const bool exists = ::stat(std::string(s).c_str(), &st) == 0;
  if (!local) {
    check_path_form(s);
    FUZZ_CHECK(!exists || S_ISREG(st.st_mode));  // a regular file or nothing
  } else
    FUZZ_CHECK(local == make_error_code(Errc::invalid_arg) || local == make_error_code(Errc::path_not_found) ||
               local == make_error_code(Errc::access_denied));
  const std::error_code source = xd::check_upload_source(s);
  if (!source) {
    check_path_form(s);
    FUZZ_CHECK(exists && S_ISREG(st.st_mode));
  } else
    FUZZ_CHECK(source == make_error_code(Errc::invalid_arg) || source == make_error_code(Errc::file_not_found) ||
               source == make_error_code(Errc::access_denied));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool allow_other_schemes = data[0] & 1;
  const bool allow_empty = data[0] & 2;
  const bool multi_line = data[0] & 4;
  const size_t max_chars = data[1];
  const std::string_view s(reinterpret_cast<const char*>(data + 2), size - 2);

  check_text(s, max_chars, allow_empty, multi_line);
  check_text(s, xd::kMaxDisplayName, false, false);
  check_guid(s);
  check_url(s, allow_other_schemes);
  check_redact(s);
  check_paths(s);
  return 0;
}
