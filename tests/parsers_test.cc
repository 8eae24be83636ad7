// parsers_test.cc — the parsers of what servers send (response header lines,
// Content-Range, the BITS Ack headers), with the malformed and hostile values
// fuzzing found; tests/fuzz/ runs them on generated input.
#include <climits>

#include "test_util.h"
#include "worker/bits_packets.h"
#include "validate.h"
#include "worker/curl_request.h"

namespace xferq::testing {
namespace {

using detail::parse_content_range;
using detail::parse_header_line;
using detail::parse_hresult;
using detail::parse_received;

TEST(Parsers, HeaderLines) {
  std::string name, value;
  ASSERT_TRUE(parse_header_line("ETag:  \"v1\" \r\n", &name, &value));
  EXPECT_EQ(name, "etag");
  EXPECT_EQ(value, "\"v1\"");
  ASSERT_TRUE(parse_header_line("BITS-Session-Id:{abc}\r\n", &name, &value));
  EXPECT_EQ(name, "bits-session-id");
  EXPECT_EQ(value, "{abc}");
  EXPECT_FALSE(parse_header_line("HTTP/1.1 200 OK\r\n", &name, &value));
  EXPECT_FALSE(parse_header_line(": no name\r\n", &name, &value));
  EXPECT_FALSE(parse_header_line("no colon\r\n", &name, &value));
  EXPECT_FALSE(parse_header_line("", &name, &value));
}

TEST(Parsers, ContentRange) {
  int64_t first = -1, total = 0;
  ASSERT_TRUE(parse_content_range("bytes 100-199/1000", &first, &total));
  EXPECT_EQ(first, 100);
  EXPECT_EQ(total, 1000);
  ASSERT_TRUE(parse_content_range("bytes 0-9/*", &first, &total));
  EXPECT_EQ(total, kSizeUnknown);
  EXPECT_FALSE(parse_content_range("bytes */1000", &first, &total));
  EXPECT_FALSE(parse_content_range("", &first, &total));
  EXPECT_FALSE(parse_content_range("items 0-9/10", &first, &total));
  // Found by fuzzing: a lying server's ranges were taken.
  EXPECT_FALSE(parse_content_range("bytes 0-9/abc", &first, &total));
  EXPECT_FALSE(parse_content_range("bytes 0-9/-5", &first, &total));
  EXPECT_FALSE(parse_content_range("bytes 9-0/10", &first, &total));
  EXPECT_FALSE(parse_content_range("bytes 0-9/9", &first, &total));
  EXPECT_FALSE(parse_content_range("bytes0-9/10", &first, &total));
  EXPECT_FALSE(parse_content_range("bytes -1-9/10", &first, &total));
  EXPECT_FALSE(parse_content_range("bytes 0-99999999999999999999/*", &first, &total));
}

TEST(Parsers, CredentialsAreRedactedInEveryFormLibcurlReads) {
  using detail::redact_url;
  EXPECT_EQ(redact_url("http://127.0.0.1/a"), "http://127.0.0.1/a");
  EXPECT_EQ(redact_url("http://u:p@127.0.0.1/a").find("p@"), std::string::npos);
  for (const char* url : {"http://user:secret@example.com/a", "http:/user:secret@example.com/a://b",
                          "https:///user:secret@host/", "http://user:secret@host", "http://:secret@host/"}) {
    const std::string shown = redact_url(url);
    EXPECT_EQ(shown.find("secret"), std::string::npos) << url << " -> " << shown;
  }
  // The check refuses what only libcurl's lenient reading would accept.
  EXPECT_EQ(detail::check_remote_url("http:/user:secret@example.com/a://b", false), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(detail::check_remote_url("https:///user@host/", false), make_error_code(Errc::invalid_arg));
  EXPECT_FALSE(detail::check_remote_url("https://user@host/", false));
}

TEST(Parsers, BitsReceivedContentRange) {
  int64_t next = -1;
  ASSERT_TRUE(parse_received("213", &next));
  EXPECT_EQ(next, 213);
  ASSERT_TRUE(parse_received("0-99", &next));
  EXPECT_EQ(next, 100);
  EXPECT_FALSE(parse_received("", &next));
  EXPECT_FALSE(parse_received("-5", &next));
  EXPECT_FALSE(parse_received("12x", &next));
  // Found by fuzzing: last + 1 overflowed (undefined behaviour) for the
  // largest value; values past the range were clamped and taken.
  EXPECT_FALSE(parse_received("0-9223372036854775807", &next));
  EXPECT_FALSE(parse_received("0-99999999999999999999", &next));
  EXPECT_FALSE(parse_received("99999999999999999999", &next));
}

TEST(Parsers, RetryAfter) {
  using detail::parse_retry_after;
  const int64_t now = 1767225600;  // 2026-01-01T00:00:00Z
  EXPECT_EQ(parse_retry_after("2", now), 2);
  EXPECT_EQ(parse_retry_after("0", now), 0);
  EXPECT_EQ(parse_retry_after("", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("soon", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("-3", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("999999", now), detail::kMaxRetryAfterSeconds);
  EXPECT_EQ(parse_retry_after("99999999999999999999999", now), detail::kMaxRetryAfterSeconds);
  EXPECT_EQ(parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now), 30);
  EXPECT_EQ(parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now), 0);  // in the past
}

TEST(Parsers, BitsErrorCodes) {
  EXPECT_EQ(parse_hresult("0x8020001F"), 0x8020001Fu);
  EXPECT_EQ(parse_hresult("8020001F"), 0x8020001Fu);
  EXPECT_EQ(parse_hresult(""), 0u);
  EXPECT_EQ(parse_hresult("0x80zz"), 0u);
}

}  // namespace
}  // namespace xferq::testing
