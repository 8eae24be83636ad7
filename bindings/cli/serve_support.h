// serve_support.h — what `xferq serve` needs besides HTTP routes: its
// options, the listening address (and whether it is loopback), origins in
// the form they are compared in, the API token (generated, stored 0600,
// compared in constant time), and readiness for systemd. Private to
// bindings/cli.
#ifndef XFERQ_BINDINGS_CLI_SERVE_SUPPORT_H_
#define XFERQ_BINDINGS_CLI_SERVE_SUPPORT_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace xferq::cli {

// The command line of `xferq serve`.
// Thread safety: a plain value type; not synchronized.
struct ServeOptions {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT, [V6]:PORT; port 0 picks a free one
  std::string token;                      // --token: the secret itself (else the token file)
  std::string token_file;                 // default: <queue>-serve.token
  std::string tls_cert, tls_key;          // PEM files; required off loopback
  int max_transfers = 4;                  // QueueOptions::max_concurrent_transfers
  long event_interval_ms = 500;           // progress events per job at most this often
  std::vector<std::string> origins;       // --origin: more origins the API accepts
};

// A parsed --listen value.
// Thread safety: a plain value type; not synchronized.
struct ListenAddress {
  std::string host;  // without brackets
  int port = 0;
  bool loopback = false;  // 127.0.0.0/8, ::1 or "localhost"
};

// Parses HOST:PORT or [V6]:PORT. False (and *why set) if malformed.
bool parse_listen(const std::string& text, ListenAddress* out, std::string* why);

// An origin ("https://Host:443/") in the form to compare: scheme and host in
// lower case, the scheme's default port (80, 443) and a final "/" dropped,
// as browsers send the Origin header. False if `text` is not an http(s)
// origin (a path, user-info, query or malformed host or port).
bool normalize_origin(std::string_view text, std::string* out);

// Request bodies larger than this are refused with 413 before they are read;
// so are bodies without Content-Length (chunked: 411) or compressed (415),
// whose size is only known once read (serve_http.cc's guard).
constexpr size_t kMaxBodyBytes = 64 * 1024;

// The API token: `given` if non-empty (checked: 16 to 256 printable ASCII
// characters, no spaces), else the one in `file`, else a new random one
// written there with mode 0600 (O_EXCL: never over another file). A token
// file readable by group or others is refused: the secret may have leaked.
// *created is true when a new token was made (it is never printed: the
// caller says where it is).
// Throws Fail (command_support.h) with the reason on failure.
std::string resolve_token(const std::string& given, const std::string& file, bool* created);

// True if `given` equals `expected`, in time that depends on their lengths
// only, never on where they first differ.
bool token_matches(std::string_view expected, std::string_view given);

// Tells systemd the service is ready (READY=1) or stopping, when built with
// libsystemd and run under a unit with Type=notify; a no-op otherwise.
void notify_systemd_ready();
void notify_systemd_stopping();

}  // namespace xferq::cli

#endif  // XFERQ_BINDINGS_CLI_SERVE_SUPPORT_H_
