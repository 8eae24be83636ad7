// fuzz_headers.cc — libFuzzer target: the parsing of response headers a
// server controls. The input is a header block, one header per line:
//   parse_header_line  every line (as libcurl hands it over, "\r\n" kept);
//   parse_content_range, parse_hresult, parse_retry_after, parse_received
//                      every header's value (the whole line if it is none);
//   resolve_url        every value against the previous one (the base).
// Properties checked: what a parsed header line must look like, and that a
// BITS-Received-Content-Range that parses names a byte >= 0; a Retry-After
// that parses is a delay within [0, kMaxRetryAfterSeconds]; parse_hresult
// reads back any HRESULT written in hex.
#include <cctype>
#include <cinttypes>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "worker/bits_packets.h"
#include "worker/curl_request.h"

namespace xd = xferq::detail;
using xferq_fuzz::chomp;

namespace {

void check_header_line(std::string_view line, std::string* value_out) {
  std::string name, value;
  const bool parsed = xd::parse_header_line(line, &name, &value);
  if (!parsed) {
    const size_t colon = line.find(':');
    FUZZ_CHECK(line.rfind("HTTP/", 0) == 0 || colon == std::string_view::npos || colon == 0);
    *value_out = std::string(chomp(line));
    return;
  }
  FUZZ_CHECK(line.rfind("HTTP/", 0) != 0);
  FUZZ_CHECK(!name.empty());
  FUZZ_CHECK(name.size() < line.size() && line[name.size()] == ':');
  for (char c : name) {
    FUZZ_CHECK(c != ':');
    FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
  }
  if (!value.empty()) {
    FUZZ_CHECK(value.front() != ' ' && value.front() != '\t');
    const char b = value.back();
    FUZZ_CHECK(b != ' ' && b != '\t' && b != '\r' && b != '\n');
  }
  FUZZ_CHECK(value.size() <= line.size() - name.size() - 1);
  *value_out = std::move(value);
}

void check_value(const std::string& base, const std::string& v) {
  int64_t first = -7, total = -7;
  if (xd::parse_content_range(v, &first, &total)) {
    // "bytes FIRST-LAST/TOTAL": the literal and both separators are there.
    FUZZ_CHECK(v.rfind("bytes", 0) == 0);
    FUZZ_CHECK(v.find('-') != std::string::npos && v.find('/') != std::string::npos);
    FUZZ_CHECK((first != -7 && total != -7) || v.find("-7") != std::string::npos);  // both written
  }

  (void)xd::parse_hresult(v);

  // Retry-After: nothing, or a delay within [0, the cap] (a date in the past is 0).
  for (int64_t now_s : {int64_t{0}, int64_t{1700000000}, int64_t{4102444800}}) {
    const std::optional<int64_t> after = xd::parse_retry_after(v, now_s);
    if (after) FUZZ_CHECK(*after >= 0 && *after <= xd::kMaxRetryAfterSeconds);
    if (v.empty()) FUZZ_CHECK(!after);
  }

  int64_t next = -7;
  if (xd::parse_received(v, &next)) FUZZ_CHECK(next >= 0);

  const std::string resolved = xd::resolve_url(base, v);
  (void)resolved;
}

// parse_hresult must read back what a server writes: "0x8020001F",
// "8020001F", lower case too.
void check_hresult_round_trip(uint32_t x) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08" PRIX32, x);
  FUZZ_CHECK(xd::parse_hresult(buf) == x);
  FUZZ_CHECK(xd::parse_hresult(buf + 2) == x);
  std::snprintf(buf, sizeof buf, "%" PRIx32, x);
  FUZZ_CHECK(xd::parse_hresult(buf) == x);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (size >= 4) {
    uint32_t x;
    std::memcpy(&x, data, 4);
    check_hresult_round_trip(x);
  }
  std::string base = "http://127.0.0.1/upload/file.bin";
  for (std::string_view line : xferq_fuzz::split_lines(in)) {
    std::string value;
    check_header_line(line, &value);
    check_value(base, value);
    if (!value.empty()) base = value;
  }
  return 0;
}
