// fuzz_validate.cc — libFuzzer target: the checks of what callers hand to the
// API (validate.h). Input: byte 0 = flags (bit 0 allow_other_schemes, bit 1
// allow_empty), byte 1 = max_chars for check_text, the rest = the text given
// to every check. Properties:
//   is_valid_utf8 agrees with a reference validator (Unicode Table 3-7);
//   check_text rejects invalid UTF-8 and accepts valid text within its limits;
//   canonical_guid answers "" or 38 characters in canonical form, and is
//   idempotent (also from the brace-less and lower-case spellings);
//   an accepted URL is UTF-8, <= kMaxUrlLength, without controls or spaces,
//   and (schemes not allowed) http:// or https://;
//   an accepted path is absolute and normalized.
// check_local_path / check_upload_source only stat() and access() the path.
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

void check_text(std::string_view s, size_t max_chars, bool allow_empty) {
  const bool utf8 = xd::is_valid_utf8(s);
  FUZZ_CHECK(utf8 == reference_utf8(s));
  const std::error_code ec = xd::check_text(s, max_chars, allow_empty);
  if (!utf8) {
    FUZZ_CHECK(ec == make_error_code(Errc::invalid_arg));
    return;
  }
  if (s.empty() && !allow_empty) {
    FUZZ_CHECK(ec == make_error_code(Errc::invalid_arg));
  } else if (code_points(s) > max_chars) {
    FUZZ_CHECK(ec == make_error_code(Errc::string_too_long));
  } else {
    FUZZ_CHECK(!ec);
  }
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
  if (!allow_other_schemes) {
    const std::string l = ascii_lower(std::string(s.substr(0, 8)));
    FUZZ_CHECK(l.rfind("http://", 0) == 0 || l.rfind("https://", 0) == 0);
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
  if (!local) check_path_form(s);
  else
    FUZZ_CHECK(local == make_error_code(Errc::invalid_arg) || local == make_error_code(Errc::path_not_found) ||
               local == make_error_code(Errc::access_denied));
  const std::error_code source = xd::check_upload_source(s);
  if (!source) check_path_form(s);
  else
    FUZZ_CHECK(source == make_error_code(Errc::invalid_arg) || source == make_error_code(Errc::file_not_found) ||
               source == make_error_code(Errc::access_denied));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool allow_other_schemes = data[0] & 1;
  const bool allow_empty = data[0] & 2;
  const size_t max_chars = data[1];
  const std::string_view s(reinterpret_cast<const char*>(data + 2), size - 2);

  check_text(s, max_chars, allow_empty);
  check_text(s, xd::kMaxDisplayName, false);
  check_guid(s);
  check_url(s, allow_other_schemes);
  check_paths(s);
  return 0;
}
