// curl_request.cc — see curl_request.h.
#include "worker/curl_request.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "worker/transfer_driver.h"
#include "xferq/error.h"

namespace xferq::detail {
namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == '\r' || s[e - 1] == '\n' || s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

void curl_init_once() {
  static const bool done = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  (void)done;
}

CurlRequest::CurlRequest(const QueueOptions& opt, TransferDriver* owner) : owner_(owner) {
  easy_ = curl_easy_init();
  curl_easy_setopt(easy_, CURLOPT_PRIVATE, this);
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_);
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  if (!opt.allow_other_schemes) {
    curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  }
  curl_easy_setopt(easy_, CURLOPT_USERAGENT, opt.user_agent.c_str());
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(easy_, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(std::max<int64_t>(1, opt.low_speed_bytes_per_sec)));
  curl_easy_setopt(easy_, CURLOPT_LOW_SPEED_TIME, static_cast<long>(opt.stall_timeout.count()));
  curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYPEER, opt.verify_tls ? 1L : 0L);
  curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYHOST, opt.verify_tls ? 2L : 0L);
  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, on_header_line);
  curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, on_body_bytes);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
}

CurlRequest::~CurlRequest() {
  curl_easy_cleanup(easy_);
  curl_slist_free_all(headers_);
}

CurlRequest* CurlRequest::of(CURL* easy) {
  CurlRequest* r = nullptr;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, &r);
  return r;
}

void CurlRequest::set_url(const std::string& url) {
  curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
  // HTTPS is never silently downgraded: a request that starts on https may
  // only be redirected to https (BITS refuses such redirects too). The
  // refusal ends the attempt with XFERQ_E_UNSUPPORTED_SCHEME, a fatal error.
  https_ = url.size() >= 6 && strncasecmp(url.c_str(), "https:", 6) == 0;
  if (https_) curl_easy_setopt(easy_, CURLOPT_REDIR_PROTOCOLS_STR, "https");
}

void CurlRequest::set_credentials(const std::vector<Credential>& credentials) {
  long server_auth = 0, proxy_auth = 0;
  for (const Credential& c : credentials) {
    const bool proxy = c.target == AuthTarget::proxy;
    if (c.scheme == AuthScheme::bearer) {
      // libcurl has one bearer token per handle, for the server.
      if (proxy) continue;
      curl_easy_setopt(easy_, CURLOPT_XOAUTH2_BEARER, c.password.c_str());
      server_auth |= static_cast<long>(CURLAUTH_BEARER);
      continue;
    }
    curl_easy_setopt(easy_, proxy ? CURLOPT_PROXYUSERNAME : CURLOPT_USERNAME, c.user.c_str());
    curl_easy_setopt(easy_, proxy ? CURLOPT_PROXYPASSWORD : CURLOPT_PASSWORD, c.password.c_str());
    (proxy ? proxy_auth : server_auth) |= static_cast<long>(c.scheme == AuthScheme::basic ? CURLAUTH_BASIC : CURLAUTH_DIGEST);
  }
  if (server_auth) curl_easy_setopt(easy_, CURLOPT_HTTPAUTH, server_auth);
  if (proxy_auth) curl_easy_setopt(easy_, CURLOPT_PROXYAUTH, proxy_auth);
  // Never to another host on a redirect (libcurl's default, said here).
  curl_easy_setopt(easy_, CURLOPT_UNRESTRICTED_AUTH, 0L);
}

void CurlRequest::set_proxy(const ProxySettings& proxy) {
  switch (proxy.usage) {
    case ProxyUsage::preconfig:
      return;  // libcurl reads http_proxy / https_proxy / no_proxy
    case ProxyUsage::no_proxy:
      curl_easy_setopt(easy_, CURLOPT_PROXY, "");
      return;
    case ProxyUsage::override_list: {
      const auto begin = proxy.proxy_list.find_first_not_of(" ;,");
      const auto end = proxy.proxy_list.find_first_of(" ;,", begin);
      const std::string first = proxy.proxy_list.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
      curl_easy_setopt(easy_, CURLOPT_PROXY, first.c_str());
      std::string bypass = proxy.bypass_list;
      for (char& c : bypass)
        if (c == ';' || c == ' ') c = ',';
      curl_easy_setopt(easy_, CURLOPT_NOPROXY, bypass.c_str());
      return;
    }
  }
}

void CurlRequest::set_tls(const TlsOptions& job, const QueueOptions& queue) {
  const std::string& bundle = !job.ca_bundle.empty() ? job.ca_bundle : queue.ca_bundle;
  const std::string& directory = !job.ca_directory.empty() ? job.ca_directory : queue.ca_directory;
  if (!bundle.empty()) curl_easy_setopt(easy_, CURLOPT_CAINFO, bundle.c_str());
  if (!directory.empty()) curl_easy_setopt(easy_, CURLOPT_CAPATH, directory.c_str());
  if (job.client_certificate.empty()) return;
  curl_easy_setopt(easy_, CURLOPT_SSLCERT, job.client_certificate.c_str());
  curl_easy_setopt(easy_, CURLOPT_SSLCERTTYPE, "PEM");
  if (!job.client_key.empty()) curl_easy_setopt(easy_, CURLOPT_SSLKEY, job.client_key.c_str());
  curl_easy_setopt(easy_, CURLOPT_SSLKEYTYPE, "PEM");
  // Always a passphrase, "" if none: without one OpenSSL asks for it on the
  // terminal and blocks the worker thread.
  curl_easy_setopt(easy_, CURLOPT_KEYPASSWD, job.client_key_password.c_str());
  // libcurl matches a pooled connection (and a cached TLS session) by the
  // certificate's path only, not by its key or passphrase: a job with a
  // client identity gets a connection of its own, used once, never resumed
  // from another's session — so it authenticates with exactly its own key.
  curl_easy_setopt(easy_, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(easy_, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(easy_, CURLOPT_SSL_SESSIONID_CACHE, 0L);
}

std::string CurlRequest::effective_url() const {
  char* url = nullptr;
  curl_easy_getinfo(easy_, CURLINFO_EFFECTIVE_URL, &url);
  return url ? std::string(url) : std::string();
}

void CurlRequest::add_header(const std::string& line) {
  headers_ = curl_slist_append(headers_, line.c_str());
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
}

void CurlRequest::follow_redirects(int max_redirects, uint32_t security_flags) {
  if ((security_flags & kRedirectPolicyMask) == kRedirectPolicyDisallow) return;
  curl_easy_setopt(easy_, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(easy_, CURLOPT_MAXREDIRS, static_cast<long>(max_redirects));
  // The job may allow https -> http (BITS's ALLOW_HTTPS_TO_HTTP); the queue's
  // scheme rule (http/https only) still holds.
  if (https_ && (security_flags & kRedirectAllowHttpsToHttp)) curl_easy_setopt(easy_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
}

void CurlRequest::set_receive_buffer(long bytes) {
  curl_easy_setopt(easy_, CURLOPT_BUFFERSIZE, bytes);
  turn_share_ = bytes > 0 ? static_cast<size_t>(bytes) : 0;
}

void CurlRequest::set_range(int64_t first, int64_t last) {
  const std::string range = std::to_string(first) + "-" + (last < 0 ? std::string() : std::to_string(last));
  curl_easy_setopt(easy_, CURLOPT_RANGE, range.c_str());  // copied by libcurl
}

void CurlRequest::set_range_from(int64_t offset) {
  const std::string range = std::to_string(offset) + "-";
  curl_easy_setopt(easy_, CURLOPT_RANGE, range.c_str());  // copied by libcurl
}

void CurlRequest::bits_post(const std::string& body) {
  curl_easy_setopt(easy_, CURLOPT_POST, 1L);
  curl_easy_setopt(easy_, CURLOPT_CUSTOMREQUEST, "BITS_POST");
  // The body is read through on_send_bytes rather than CURLOPT_POSTFIELDS,
  // so that the bandwidth throttle can pause an upload mid-packet.
  send_body_ = &body;
  send_pos_ = 0;
  curl_easy_setopt(easy_, CURLOPT_READFUNCTION, on_send_bytes);
  curl_easy_setopt(easy_, CURLOPT_READDATA, this);
  curl_easy_setopt(easy_, CURLOPT_SEEKFUNCTION, on_seek);
  curl_easy_setopt(easy_, CURLOPT_SEEKDATA, this);
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  // No 100-continue round trip per fragment, no form content type.
  add_header("Expect:");
  add_header("Content-Type:");
}

long CurlRequest::status() const {
  long status = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

std::string CurlRequest::header(std::string_view lower_name) const {
  auto it = response_headers_.find(lower_name);
  return it == response_headers_.end() ? std::string() : it->second;
}

bool CurlRequest::has_header(std::string_view lower_name) const {
  return response_headers_.find(lower_name) != response_headers_.end();
}

std::string CurlRequest::error_text(CURLcode code) const {
  return error_[0] ? std::string(error_) : std::string(curl_easy_strerror(code));
}

size_t CurlRequest::on_header_line(char* data, size_t size, size_t nmemb, void* user) {
  auto* r = static_cast<CurlRequest*>(user);
  const size_t n = size * nmemb;
  const std::string_view line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    r->response_headers_.clear();  // a new response (a redirect, or 100 Continue)
    return n;
  }
  std::string name, value;
  // The first of a repeated header wins (a lying server cannot override it).
  if (parse_header_line(line, &name, &value)) r->response_headers_.emplace(std::move(name), std::move(value));
  return n;
}

size_t CurlRequest::on_body_bytes(char* data, size_t size, size_t nmemb, void* user) {
  auto* r = static_cast<CurlRequest*>(user);
  // Bandwidth: an empty bucket pauses the request; libcurl keeps these bytes
  // and hands them over again when the loop unpauses it (begin_turn).
  if (r->throttle_ && !r->throttle_->admit(Throttle::Clock::now())) {
    r->paused_ = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  const size_t taken = r->owner_->on_body(*r, data, size * nmemb);
  if (taken != size * nmemb) return taken;  // the driver ends the request
  if (r->throttle_) r->throttle_->consume(taken);
  // The request's share of this turn is spent: pausing here, with the bytes
  // taken, stops libcurl's read loop without a copy of a refused buffer.
  r->turn_bytes_ += taken;
  if (r->turn_share_ > 0 && r->turn_bytes_ >= r->turn_share_ && !r->paused_) {
    r->paused_ = true;
    curl_easy_pause(r->easy_, CURLPAUSE_RECV);
  }
  return taken;
}

size_t CurlRequest::on_send_bytes(char* buffer, size_t size, size_t nitems, void* user) {
  auto* r = static_cast<CurlRequest*>(user);
  const size_t left = r->send_body_ ? r->send_body_->size() - r->send_pos_ : 0;
  if (left == 0) return 0;
  if (r->throttle_ && !r->throttle_->admit(Throttle::Clock::now())) {
    r->paused_ = true;
    return CURL_READFUNC_PAUSE;
  }
  const size_t n = std::min(left, size * nitems);
  std::memcpy(buffer, r->send_body_->data() + r->send_pos_, n);
  r->send_pos_ += n;
  if (r->throttle_) r->throttle_->consume(n);
  return n;
}

int CurlRequest::on_seek(void* user, curl_off_t offset, int origin) {
  // libcurl rewinds the body to send it again (an authentication round or
  // a 307/308 redirect).
  auto* r = static_cast<CurlRequest*>(user);
  if (origin != SEEK_SET || !r->send_body_ || offset < 0 || static_cast<size_t>(offset) > r->send_body_->size())
    return CURL_SEEKFUNC_CANTSEEK;
  r->send_pos_ = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

void CurlRequest::set_throttle(Throttle* throttle) { throttle_ = throttle; }

bool CurlRequest::begin_turn(Throttle::Clock::time_point now) {
  turn_bytes_ = 0;
  if (!paused_ || (throttle_ && !throttle_->admit(now))) return false;
  // Cleared first: unpausing may call the callbacks at once, and they may
  // pause the request again.
  paused_ = false;
  curl_easy_pause(easy_, CURLPAUSE_CONT);
  return true;
}

bool parse_header_line(std::string_view line, std::string* lower_name, std::string* value) {
  if (line.rfind("HTTP/", 0) == 0) return false;
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  *lower_name = lower(line.substr(0, colon));
  *value = trim(line.substr(colon + 1));
  return true;
}

namespace {
// Digits only, no sign, no overflow.
bool parse_count(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}
}  // namespace

bool parse_content_range(const std::string& value, int64_t* first, int64_t* total) {
  int64_t last = 0;
  return parse_content_range(value, first, &last, total);
}

bool parse_content_range(const std::string& value, int64_t* first, int64_t* last, int64_t* total) {
  // "bytes FIRST-LAST/TOTAL" or "bytes FIRST-LAST/*" (RFC 9110 14.4), with
  // FIRST <= LAST < TOTAL: anything else is a lying server.
  std::string_view v(value);
  if (v.rfind("bytes ", 0) != 0) return false;
  v.remove_prefix(6);
  const auto dash = v.find('-'), slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return false;
  int64_t a = 0, b = 0, t = kSizeUnknown;
  if (!parse_count(v.substr(0, dash), &a) || !parse_count(v.substr(dash + 1, slash - dash - 1), &b) || b < a)
    return false;
  const std::string_view tail = v.substr(slash + 1);
  if (tail != "*" && (!parse_count(tail, &t) || t <= b)) return false;
  *first = a;
  *last = b;
  *total = t;
  return true;
}

bool transient_status(long s, Direction direction) {
  if (s >= 500) return s != 501 && s != 505;
  if (s >= 400) return s == 408 || s == 409 || (s == 429 && direction == Direction::download);
  if (s >= 300) return !(s <= 305 || s == 307);
  return true;
}

std::optional<int64_t> parse_retry_after(const std::string& value, int64_t now_s) {
  if (value.empty()) return std::nullopt;
  int64_t seconds = 0;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 12) return kMaxRetryAfterSeconds;  // absurdly long: the cap
    seconds = std::strtoll(value.c_str(), nullptr, 10);
  } else {
    const time_t at = curl_getdate(value.c_str(), nullptr);
    if (at == -1) return std::nullopt;
    seconds = std::max<int64_t>(0, static_cast<int64_t>(at) - now_s);
  }
  return std::min<int64_t>(seconds, kMaxRetryAfterSeconds);
}

TransferFailure http_failure(long status, const std::string& what, Direction direction) {
  TransferFailure f;
  f.hresult = to_hresult(http_error(static_cast<int>(status)));
  f.context = ErrorContext::remote_file;
  f.description = "the server answered HTTP " + std::to_string(status) + " " + what;
  f.transient = transient_status(status, direction);
  return f;
}

TransferFailure curl_failure(CURLcode code, const CurlRequest& request, const std::string& url) {
  TransferFailure f;
  f.description = request.error_text(code) + " (" + url + ")";
  auto set = [&f](Errc e, ErrorContext context, bool transient) {
    f.hresult = static_cast<uint32_t>(e);
    f.context = context;
    f.transient = transient;
  };
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
      set(Errc::unsupported_scheme, ErrorContext::remote_file, false);
      break;
    case CURLE_TOO_MANY_REDIRECTS:
      set(Errc::too_many_redirects, ErrorContext::remote_file, false);
      break;
    case CURLE_URL_MALFORMAT:
      set(Errc::invalid_arg, ErrorContext::remote_file, false);
      break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      set(Errc::tls, ErrorContext::general_transport, false);
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      set(Errc::transport, ErrorContext::general_transport, true);
      break;
    default:
      set(Errc::transport, ErrorContext::remote_file, true);
      break;
  }
  return f;
}

}  // namespace xferq::detail
