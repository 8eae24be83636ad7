// nginx_fixture.h — Debian's nginx (/usr/sbin/nginx), started by a test in a
// scratch directory of its own, for transfers against a real third-party
// server: static files with Range and ETag, a header-guarded location,
// auth_basic, a redirect to another host name, HTTPS (a test CA made with the
// openssl command), an https->http redirect and mutual TLS.
//
// Everything nginx reads or writes is inside the scratch directory: config,
// docroot, pid file, error and access logs, temp paths. It runs in the
// foreground (daemon off, master_process off: one process, no privilege
// change, so it works as root and as any other user) and is stopped by its
// PID (SIGTERM, then SIGKILL if it lingers) when the NginxServer is
// destroyed; if the test process dies first (a timeout, a crash), the kernel
// kills it (PR_SET_PDEATHSIG).
//
// Servers (PORT, TLS_PORT and MTLS_PORT are free loopback ports picked at
// start):
//   http://127.0.0.1:PORT and http://127.0.0.2:PORT (Linux routes 127/8 to lo)
//     /files/NAME       docroot/NAME, static (Range, ETag)
//     /slow/NAME        the same, limit_rate 2 MB/s
//     /hdr/NAME         403 unless the request has "X-Api-Key: sesame"
//     /hdr-slow/NAME    the same, limit_rate 4 MB/s
//     /basic/NAME       auth_basic, user "user" password "pw" (htpasswd made
//                       with `openssl passwd -apr1`)
//     /cd/NAME          as /files/ plus Content-Disposition: attachment;
//                       filename="NAME"
//     /redirect-other-host/NAME  302 to http://127.0.0.2:PORT/basic/NAME
//   https://127.0.0.1:TLS_PORT and https://127.0.0.2:TLS_PORT (server cert
//   from the test CA, SAN IP:127.0.0.1, IP:127.0.0.2, DNS:localhost)
//     /files/NAME       docroot/NAME
//     /down/NAME        301 to http://127.0.0.1:PORT/files/NAME
//   https://127.0.0.1:MTLS_PORT (ssl_verify_client on, the test CA)
//     /files/NAME       docroot/NAME
//
// The access log (one for all servers) records, per request: the address and
// port it reached, the client's port, Host, Authorization, X-Api-Key, Range,
// If-Range, the client certificate's verification, the request line, status,
// bytes sent and $msec; access_log() parses it.
#ifndef XFERQ_TESTS_NGINX_FIXTURE_H_
#define XFERQ_TESTS_NGINX_FIXTURE_H_

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace xferq::testing {

// One line of nginx's access log. Absent headers are "".
struct NginxLogEntry {
  std::string server_addr;    // "127.0.0.1" or "127.0.0.2"
  uint16_t server_port = 0;
  uint16_t remote_port = 0;
  std::string scheme;         // "http" / "https"
  std::string host;           // $host
  std::string http_host;      // the Host header as sent
  std::string authorization;  // $http_authorization
  std::string api_key;        // $http_x_api_key
  std::string range;          // $http_range
  std::string if_range;       // $http_if_range
  std::string ssl_client_verify;  // $ssl_client_verify ("" on plain http)
  std::string request;        // "GET /files/a HTTP/1.1"
  std::string uri;            // $uri (after alias: still the request's path)
  int status = 0;
  long long bytes_sent = 0;   // headers + body
  double msec = 0;            // when the request was logged (seconds since the epoch)
  std::string raw;            // the whole line
};

class NginxServer {
 public:
  static constexpr const char* kBinary = "/usr/sbin/nginx";
  static constexpr const char* kOpenssl = "/usr/bin/openssl";
  static constexpr const char* kUser = "user";
  static constexpr const char* kPassword = "pw";
  static constexpr const char* kApiKey = "sesame";
  static constexpr const char* kKeyPassphrase = "k3y-pass";

  // True if nginx and openssl are installed (scripts/install-deps.sh).
  static bool installed();

  // Makes its scratch directory; start() does the rest.
  NginxServer();
  ~NginxServer();  // stop(), then removes the scratch directory
  NginxServer(const NginxServer&) = delete;
  NginxServer& operator=(const NginxServer&) = delete;

  // Makes the certificates and htpasswd, writes the config, starts nginx and
  // waits until every port accepts connections. False with *error saying why
  // (nginx's error log included).
  bool start(std::string* error);
  // Stops nginx by its PID (SIGTERM, up to 5 s, then SIGKILL) and reaps it.
  // Idempotent.
  void stop();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  uint16_t port() const { return port_; }
  uint16_t tls_port() const { return tls_port_; }
  uint16_t mtls_port() const { return mtls_port_; }
  // "http://HOST:PORT" + path; path starts with '/'.
  std::string url(const std::string& path, const std::string& host = "127.0.0.1") const;
  std::string tls_url(const std::string& path, const std::string& host = "127.0.0.1") const;
  std::string mtls_url(const std::string& path) const;

  // The scratch directory, and a path in it.
  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  // The docroot every /files/-like location serves (alias).
  std::string docroot() const { return dir_ + "/www"; }
  // Writes docroot/name (mode 0644) and returns its path.
  std::string put(const std::string& name, const std::string& data) const;

  // PEM files made at start(): the test CA, the server's certificate, a
  // client certificate and its unencrypted key (signed by the CA), the same
  // key encrypted with kKeyPassphrase.
  std::string ca_pem() const { return path("pki/ca.pem"); }
  std::string server_cert() const { return path("pki/server.pem"); }
  std::string client_cert() const { return path("pki/client.pem"); }
  std::string client_key() const { return path("pki/client.key"); }
  std::string client_key_encrypted() const { return path("pki/client-enc.key"); }

  // The parsed access log, in order; entries_for() only those whose $uri is `uri`.
  std::vector<NginxLogEntry> access_log() const;
  std::vector<NginxLogEntry> entries_for(const std::string& uri) const;
  // Waits (bounded) until some entry satisfies pred: nginx writes a line
  // when it finishes a request, which may be just after the client saw the
  // response. Returns whether one did.
  bool wait_log(const std::function<bool(const NginxLogEntry&)>& pred,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) const;
  std::string error_log() const;
  std::string raw_access_log() const;

 private:
  bool make_pki(std::string* error);
  bool make_htpasswd(std::string* error);
  bool run_openssl(const std::vector<std::string>& args, const std::string& tag, std::string* error);
  std::string config() const;
  bool launch(std::string* error);

  std::string dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0, tls_port_ = 0, mtls_port_ = 0;
};

// A GoogleTest base: skips the test if nginx is not installed, otherwise
// starts the server (a failure to start fails the test).
class NginxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!NginxServer::installed())
      GTEST_SKIP() << "nginx (" << NginxServer::kBinary << ") or openssl is not installed: run "
                   << "scripts/install-deps.sh (package nginx-light)";
    std::string error;
    ASSERT_TRUE(nginx_.start(&error)) << error;
  }
  NginxServer nginx_;
};

}  // namespace xferq::testing

#endif  // XFERQ_TESTS_NGINX_FIXTURE_H_
