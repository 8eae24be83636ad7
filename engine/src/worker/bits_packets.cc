// bits_packets.cc — see bits_packets.h.
#include "worker/bits_packets.h"

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>

namespace xferq::detail {

void make_bits_packet(CurlRequest& request, const std::string& packet_type, const std::string& session_id,
                      const std::string& body) {
  request.add_header("BITS-Packet-Type: " + packet_type);
  if (packet_type == "Create-Session")
    request.add_header(std::string("BITS-Supported-Protocols: ") + kBitsUploadProtocol);
  else
    request.add_header("BITS-Session-Id: " + session_id);
  request.bits_post(body);
}

uint32_t ack_error_code(const CurlRequest& request) {
  const std::string code = request.header("bits-error-code");
  return parse_hresult(code.empty() ? request.header("bits-error") : code);
}

uint32_t parse_hresult(const std::string& v) {
  if (v.empty()) return 0;
  char* end = nullptr;
  const unsigned long long x = std::strtoull(v.c_str(), &end, 16);
  return end && *end == '\0' ? static_cast<uint32_t>(x) : 0;
}

bool parse_received(const std::string& v, int64_t* next) {
  if (v.empty() || !std::isdigit(static_cast<unsigned char>(v[0]))) return false;
  const auto dash = v.find('-');
  char* end = nullptr;
  if (dash == std::string::npos) {
    errno = 0;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (!end || *end != '\0' || x < 0 || errno == ERANGE) return false;
    *next = x;
    return true;
  }
  errno = 0;
  const long long last = std::strtoll(v.c_str() + dash + 1, &end, 10);
  // last + 1 must not overflow: a lying server's huge value is malformed.
  if (!end || *end != '\0' || last < 0 || errno == ERANGE || last == LLONG_MAX) return false;
  *next = last + 1;
  return true;
}

std::string resolve_url(const std::string& base, const std::string& ref) {
  CURLU* u = curl_url();
  std::string out = ref;
  char* s = nullptr;
  if (curl_url_set(u, CURLUPART_URL, base.c_str(), 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, ref.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
    out = s;
    curl_free(s);
  }
  curl_url_cleanup(u);
  return out;
}

namespace {

// "scheme://host:port", lower-cased (host names are not case-sensitive), with
// the scheme's default port filled in; empty if `url` does not parse.
std::string origin_of(const std::string& url) {
  CURLU* u = curl_url();
  std::string out;
  char* scheme = nullptr;
  char* host = nullptr;
  char* port = nullptr;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    out = std::string(scheme) + "://" + host + ":" + port;
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return out;
}

}  // namespace

bool same_origin(const std::string& a, const std::string& b) {
  const std::string oa = origin_of(a);
  return !oa.empty() && oa == origin_of(b);
}

}  // namespace xferq::detail
