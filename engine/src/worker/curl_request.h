// curl_request.h — the libcurl plumbing every driver shares: one HTTP request
// with the options all of the worker's requests carry, its response headers
// parsed, its body handed to the driver that owns it, and what a failed
// request means (which errors are transient).
//
// Thread safety: a CurlRequest belongs to the worker thread. Its callbacks
// run on that thread too, inside curl_multi_perform().
#ifndef XFERQ_WORKER_CURL_REQUEST_H_
#define XFERQ_WORKER_CURL_REQUEST_H_

#include <curl/curl.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "storage/store.h"
#include "worker/throttle.h"
#include "xferq/options.h"

namespace xferq::detail {

class TransferDriver;

class CurlRequest {
 public:
  // A new easy handle with the common options: error buffer, no signals,
  // http/https only (redirects too) unless allowed otherwise, User-Agent,
  // connect timeout, stall detection, TLS verification. Its body goes to
  // owner->on_body() (the driver decides what it means).
  CurlRequest(const QueueOptions& options, TransferDriver* owner);
  // The loop must have removed the handle from its multi handle first.
  ~CurlRequest();
  CurlRequest(const CurlRequest&) = delete;
  CurlRequest& operator=(const CurlRequest&) = delete;

  CURL* easy() const { return easy_; }
  TransferDriver* owner() const { return owner_; }
  // The request this easy handle belongs to (CURLOPT_PRIVATE).
  static CurlRequest* of(CURL* easy);

  void set_url(const std::string& url);
  void add_header(const std::string& line);  // "Name: value"; "Name:" removes a default header
  // Follows up to `max_redirects` redirects under the job's security flags
  // (types.h): none under kRedirectPolicyDisallow (a 3xx then ends the
  // request as a response), and https may go to http only with
  // kRedirectAllowHttpsToHttp.
  void follow_redirects(int max_redirects, uint32_t security_flags = 0);
  // Credentials for the server and the proxy (libcurl sends server
  // credentials to the request's own host and port only).
  void set_credentials(const std::vector<Credential>& credentials);
  // How the request reaches the network: the environment's proxy (libcurl's
  // default), none, or the settings' first proxy except for its bypass hosts.
  void set_proxy(const ProxySettings& proxy);
  // TLS trust and identity: the job's CA bundle / directory, else the
  // queue's, else the system's; the job's client certificate and key (PEM).
  void set_tls(const TlsOptions& job, const QueueOptions& queue);
  // The URL of the last response (after redirects).
  std::string effective_url() const;
  // libcurl's receive buffer (CURLOPT_BUFFERSIZE), and the request's share
  // of a loop turn: once it has taken `bytes` in one turn it pauses until
  // the next (begin_turn). Without that share libcurl reads a readable socket
  // up to 100 times per curl_multi_perform(): beside a fast transfer a turn
  // lasted a second, and every other request (a throttled one due to go on,
  // a cancel) waited for it.
  void set_receive_buffer(long bytes);
  // Bytes from `offset` on (an HTTP Range request).
  void set_range_from(int64_t offset);
  // Range: bytes=first-last (one range, never multipart); last < 0: to the end.
  void set_range(int64_t first, int64_t last);
  // A BITS_POST with this body ([MC-BUP]; the body must outlive the request).
  void bits_post(const std::string& body);

  // Bandwidth: paces the body in both directions by `throttle` (owned by
  // the driver, outliving the request; nullptr: unpaced). An empty bucket
  // pauses the request inside its callback.
  void set_throttle(Throttle* throttle);
  // Loop context, once per turn before libcurl runs: renews the request's
  // share of the turn and unpauses it if it was paused for its share or
  // for a throttle whose bucket has refilled. True if it was unpaused.
  bool begin_turn(Throttle::Clock::time_point now);
  bool paused() const { return paused_; }

  // The current response (the last one, after redirects).
  long status() const;
  // The value of a response header of the current response ("" if absent);
  // `lower_name` in lower case.
  std::string header(std::string_view lower_name) const;
  bool has_header(std::string_view lower_name) const;
  // libcurl's words for a failure (its error buffer, else the code's text).
  std::string error_text(CURLcode code) const;

 private:
  static size_t on_header_line(char* data, size_t size, size_t nmemb, void* user);
  static size_t on_body_bytes(char* data, size_t size, size_t nmemb, void* user);
  static size_t on_send_bytes(char* buffer, size_t size, size_t nitems, void* user);
  static int on_seek(void* user, curl_off_t offset, int origin);

  TransferDriver* owner_;
  CURL* easy_ = nullptr;
  curl_slist* headers_ = nullptr;
  char error_[CURL_ERROR_SIZE] = {};
  std::map<std::string, std::string, std::less<>> response_headers_;
  bool https_ = false;  // the request's URL is https
  Throttle* throttle_ = nullptr;           // bandwidth pacing (the driver's)
  bool paused_ = false;                    // paused for the throttle or for its share of the turn
  size_t turn_share_ = 0;                  // bytes per loop turn; 0: no limit
  size_t turn_bytes_ = 0;                  // taken in this turn
  const std::string* send_body_ = nullptr; // bits_post's body
  size_t send_pos_ = 0;                    // how much of it libcurl has read
};

// The direction of a transfer, for the rules that differ.
enum class Direction { download, upload };

// Whether an HTTP status ends an attempt with a transient error (retried
// later) rather than a fatal one: 5xx but 501/505; 408/409 (and for downloads
// 429); 3xx left unfollowed but 300-305/307.
bool transient_status(long status, Direction direction);

// One response header line ("Name: value\r\n"): the name in lower case and
// the value trimmed. False for a status line or a line without a name.
bool parse_header_line(std::string_view line, std::string* lower_name, std::string* value);

// Content-Range "bytes FIRST-LAST/TOTAL" (TOTAL may be '*': kSizeUnknown).
// False if malformed.
bool parse_content_range(const std::string& value, int64_t* first, int64_t* total);
// The same, with the last byte too.
bool parse_content_range(const std::string& value, int64_t* first, int64_t* last, int64_t* total);

// An HTTP status that ended an attempt: BG_E_HTTP_ERROR_nnn in the remote
// file's context, "the server answered HTTP nnn <what>", transient by
// transient_status().
TransferFailure http_failure(long status, const std::string& what, Direction direction);

// Retry-After (RFC 9110: delay-seconds or an HTTP-date) as seconds from
// `now_s` (a Unix time), capped at kMaxRetryAfterSeconds; nullopt if absent
// or malformed. A date in the past is 0.
inline constexpr int64_t kMaxRetryAfterSeconds = 3600;
std::optional<int64_t> parse_retry_after(const std::string& value, int64_t now_s);

// What a libcurl failure means for the job: its HRESULT, context and whether
// it is transient (connection problems) or fatal (bad scheme, TLS, URL).
TransferFailure curl_failure(CURLcode code, const CurlRequest& request, const std::string& url);

// Initializes libcurl once per process.
void curl_init_once();

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_CURL_REQUEST_H_
