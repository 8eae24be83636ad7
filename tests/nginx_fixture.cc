// nginx_fixture.cc — see nginx_fixture.h.
#include "nginx_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "child_process.h"

namespace xferq::testing {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool spit(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  return static_cast<bool>(out);
}

// A socket bound to INADDR_ANY:0 (so the port is free on every loopback
// address); its port. Kept open until nginx is about to start, so two picks
// never collide.
int reserve_port(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

bool can_connect(const char* addr, uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, addr, &a.sin_addr);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Starts nginx as child_process.h's spawn() does, and also asks the kernel
// to kill it when the thread that started it (the test's) dies: a test
// process killed by a timeout or a crash leaves no nginx behind.
pid_t spawn_server(const std::string& prog, const std::vector<std::string>& args, const std::string& out_file,
                   const std::string& err_file, const std::string& cwd) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(prog.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(125);  // the parent is already gone
    const int o = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int e = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(o, 1);
    ::dup2(e, 2);
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execv(prog.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// The JSON escapes nginx's escape=json writes.
std::string unescape_json(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u':
        if (i + 4 < s.size()) {
          out += static_cast<char>(std::strtol(s.substr(i + 1, 4).c_str(), nullptr, 16));
          i += 4;
        }
        break;
      default: out += c; break;  // \" \\ \/
    }
  }
  return out;
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> f;
  size_t start = 0;
  for (;;) {
    const size_t tab = line.find('\t', start);
    f.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return f;
}

// The order of the fields in the access log (log_format xferq below).
constexpr int kLogFields = 16;
const char* const kLogFormat =
    "$server_addr\\t$server_port\\t$remote_port\\t$scheme\\t$host\\t$http_host\\t"
    "$http_authorization\\t$http_x_api_key\\t$http_range\\t$http_if_range\\t$ssl_client_verify\\t"
    "$request\\t$uri\\t$status\\t$bytes_sent\\t$msec";

}  // namespace

bool NginxServer::installed() {
  return ::access(kBinary, X_OK) == 0 && ::access(kOpenssl, X_OK) == 0;
}

NginxServer::NginxServer() {
  char tmpl[] = "/tmp/xferq-nginx-XXXXXX";
  if (::mkdtemp(tmpl) != nullptr) {
    dir_ = tmpl;
    // nginx (and, as root, nothing else) reads the docroot: keep it
    // traversable whoever the test runs as.
    ::chmod(dir_.c_str(), 0755);
  }
}

NginxServer::~NginxServer() {
  stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string NginxServer::url(const std::string& p, const std::string& host) const {
  return "http://" + host + ":" + std::to_string(port_) + p;
}
std::string NginxServer::tls_url(const std::string& p, const std::string& host) const {
  return "https://" + host + ":" + std::to_string(tls_port_) + p;
}
std::string NginxServer::mtls_url(const std::string& p) const {
  return "https://127.0.0.1:" + std::to_string(mtls_port_) + p;
}

std::string NginxServer::put(const std::string& name, const std::string& data) const {
  const std::string p = docroot() + "/" + name;
  spit(p, data);
  ::chmod(p.c_str(), 0644);
  return p;
}

bool NginxServer::run_openssl(const std::vector<std::string>& args, const std::string& tag, std::string* error) {
  const std::string out = path("pki/" + tag + ".out"), err = path("pki/" + tag + ".err");
  const pid_t pid = spawn(kOpenssl, args, out, err, path("pki"));
  if (pid <= 0) {
    *error = "cannot start openssl";
    return false;
  }
  const int rc = wait_exit(pid, std::chrono::seconds(60));
  if (rc != 0) {
    *error = "openssl " + tag + " failed (" + std::to_string(rc) + "): " + slurp(err);
    return false;
  }
  return true;
}

bool NginxServer::make_pki(std::string* error) {
  const std::string pki = path("pki");
  ::mkdir(pki.c_str(), 0755);
  const std::string cnf = pki + "/openssl.cnf";
  spit(cnf,
       "[req]\n"
       "distinguished_name = dn\n"
       "prompt = no\n"
       "[dn]\n"
       "CN = xferq\n"
       "[ca_ext]\n"
       "basicConstraints = critical,CA:TRUE\n"
       "keyUsage = critical,keyCertSign,cRLSign\n"
       "subjectKeyIdentifier = hash\n"
       "[server_ext]\n"
       "basicConstraints = CA:FALSE\n"
       "keyUsage = critical,digitalSignature,keyEncipherment\n"
       "extendedKeyUsage = serverAuth\n"
       "subjectAltName = IP:127.0.0.1,IP:127.0.0.2,DNS:localhost\n"
       "subjectKeyIdentifier = hash\n"
       "authorityKeyIdentifier = keyid\n"
       "[client_ext]\n"
       "basicConstraints = CA:FALSE\n"
       "keyUsage = critical,digitalSignature\n"
       "extendedKeyUsage = clientAuth\n"
       "subjectKeyIdentifier = hash\n"
       "authorityKeyIdentifier = keyid\n");
  auto req = [&](const std::string& name, const std::string& subject, bool self_signed) {
    std::vector<std::string> a = {"req", "-config", cnf, "-newkey", "ec", "-pkeyopt",
                                  "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", name + ".key",
                                  "-subj", subject};
    if (self_signed) {
      a.insert(a.end(), {"-x509", "-days", "3", "-extensions", "ca_ext", "-out", name + ".pem"});
    } else {
      a.insert(a.end(), {"-new", "-out", name + ".csr"});
    }
    return run_openssl(a, name + "-req", error);
  };
  auto sign = [&](const std::string& name, const std::string& serial, const std::string& ext) {
    return run_openssl({"x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial",
                        serial, "-days", "3", "-extfile", cnf, "-extensions", ext, "-out", name + ".pem"},
                       name + "-sign", error);
  };
  return req("ca", "/CN=xferq test CA", true) &&                       //
         req("server", "/CN=127.0.0.1", false) && sign("server", "2", "server_ext") &&
         req("client", "/CN=xferq test client", false) && sign("client", "3", "client_ext") &&
         run_openssl({"pkey", "-in", "client.key", "-aes-256-cbc", "-passout", std::string("pass:") + kKeyPassphrase,
                      "-out", "client-enc.key"},
                     "client-enc", error);
}

bool NginxServer::make_htpasswd(std::string* error) {
  if (!run_openssl({"passwd", "-apr1", kPassword}, "passwd", error)) return false;
  std::string hash = slurp(path("pki/passwd.out"));
  while (!hash.empty() && (hash.back() == '\n' || hash.back() == '\r')) hash.pop_back();
  if (hash.rfind("$apr1$", 0) != 0) {
    *error = "openssl passwd -apr1 printed '" + hash + "'";
    return false;
  }
  return spit(path("htpasswd"), std::string(kUser) + ":" + hash + "\n");
}

std::string NginxServer::config() const {
  const std::string d = dir_, www = docroot() + "/", P = std::to_string(port_), T = std::to_string(tls_port_),
                    M = std::to_string(mtls_port_);
  std::ostringstream c;
  c << "daemon off;\n"
       "master_process off;\n"
       "worker_processes 1;\n"
    << "pid " << d << "/nginx.pid;\n"
    << "lock_file " << d << "/nginx.lock;\n"
    << "error_log " << d << "/error.log info;\n"
    << "events { worker_connections 256; }\n"
       "http {\n"
       "  types { text/plain txt; text/html html; application/octet-stream bin; }\n"
       "  default_type application/octet-stream;\n"
       "  log_format xferq escape=json '"
    << kLogFormat << "';\n"
    << "  access_log " << d << "/access.log xferq;\n"
    << "  client_body_temp_path " << d << "/tmp/body;\n"
    << "  proxy_temp_path " << d << "/tmp/proxy;\n"
    << "  fastcgi_temp_path " << d << "/tmp/fastcgi;\n"
    << "  uwsgi_temp_path " << d << "/tmp/uwsgi;\n"
    << "  scgi_temp_path " << d << "/tmp/scgi;\n"
    << "  keepalive_timeout 10s;\n"
       "  etag on;\n"
       "  server_tokens off;\n"
       // Plain http on two loopback addresses: two host names for one server.
       "  server {\n"
       "    listen 127.0.0.1:" << P << ";\n"
    << "    listen 127.0.0.2:" << P << ";\n"
    << "    location /files/ { alias " << www << "; }\n"
    << "    location /slow/ { alias " << www << "; limit_rate 2m; }\n"
    << "    location /hdr/ { alias " << www << "; if ($http_x_api_key != \"" << kApiKey
    << "\") { return 403; } }\n"
    << "    location /hdr-slow/ { alias " << www << "; limit_rate 4m; if ($http_x_api_key != \"" << kApiKey
    << "\") { return 403; } }\n"
    << "    location /basic/ { alias " << www << "; auth_basic \"xferq\"; auth_basic_user_file " << d
    << "/htpasswd; }\n"
    << "    location ~ ^/cd/(?<cdname>[^/]+)$ { alias " << www
    << "$cdname; add_header Content-Disposition 'attachment; filename=\"$cdname\"'; }\n"
    << "    location ~ ^/redirect-other-host/(?<rname>.+)$ { return 302 http://127.0.0.2:" << P
    << "/basic/$rname; }\n"
    << "  }\n"
    // HTTPS with the test CA's server certificate.
    << "  server {\n"
    << "    listen 127.0.0.1:" << T << " ssl;\n"
    << "    listen 127.0.0.2:" << T << " ssl;\n"
    << "    ssl_certificate " << server_cert() << ";\n"
    << "    ssl_certificate_key " << d << "/pki/server.key;\n"
    << "    ssl_protocols TLSv1.2 TLSv1.3;\n"
    << "    location /files/ { alias " << www << "; }\n"
    << "    location ~ ^/down/(?<dname>.+)$ { return 301 http://127.0.0.1:" << P << "/files/$dname; }\n"
    << "  }\n"
    // Mutual TLS: a client certificate from the test CA is required.
    << "  server {\n"
    << "    listen 127.0.0.1:" << M << " ssl;\n"
    << "    ssl_certificate " << server_cert() << ";\n"
    << "    ssl_certificate_key " << d << "/pki/server.key;\n"
    << "    ssl_protocols TLSv1.2 TLSv1.3;\n"
    << "    ssl_client_certificate " << ca_pem() << ";\n"
    << "    ssl_verify_client on;\n"
    << "    ssl_verify_depth 2;\n"
    << "    location /files/ { alias " << www << "; }\n"
    << "  }\n"
    << "}\n";
  return c.str();
}

bool NginxServer::launch(std::string* error) {
  int fds[3];
  uint16_t* ports[3] = {&port_, &tls_port_, &mtls_port_};
  for (int i = 0; i < 3; ++i) {
    fds[i] = reserve_port(ports[i]);
    if (fds[i] < 0) {
      for (int j = 0; j < i; ++j) ::close(fds[j]);
      *error = "cannot reserve a loopback port";
      return false;
    }
  }
  spit(path("nginx.conf"), config());
  for (int fd : fds) ::close(fd);
  ::truncate(path("error.log").c_str(), 0);
  pid_ = spawn_server(kBinary, {"-p", dir_ + "/", "-e", path("error.log"), "-c", path("nginx.conf")},
                      path("nginx.out"), path("nginx.err"), dir_);
  if (pid_ <= 0) {
    pid_ = -1;
    *error = "cannot fork nginx";
    return false;
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (;;) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      *error = "nginx exited at start (status " + std::to_string(st) + "): " + slurp(path("nginx.err")) +
               slurp(path("error.log"));
      return false;
    }
    if (can_connect("127.0.0.1", port_) && can_connect("127.0.0.2", port_) && can_connect("127.0.0.1", tls_port_) &&
        can_connect("127.0.0.2", tls_port_) && can_connect("127.0.0.1", mtls_port_))
      return true;
    if (std::chrono::steady_clock::now() > end) {
      stop();
      *error = "nginx did not listen within 15 s: " + slurp(path("nginx.err")) + slurp(path("error.log"));
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool NginxServer::start(std::string* error) {
  if (dir_.empty()) {
    *error = "cannot make a scratch directory";
    return false;
  }
  if (running()) return true;
  for (const char* sub : {"/www", "/tmp"}) ::mkdir((dir_ + sub).c_str(), 0755);
  if (!make_pki(error) || !make_htpasswd(error)) return false;
  // A port picked free can be taken by someone else before nginx binds it:
  // pick again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (launch(error)) return true;
    if (error->find("in use") == std::string::npos) return false;
  }
  return false;
}

void NginxServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);  // fast shutdown: open connections are closed
  if (wait_exit(pid_, std::chrono::seconds(5)) == -1) {
    // wait_exit killed it (SIGKILL) and reaped it.
  }
  pid_ = -1;
}

std::string NginxServer::error_log() const { return slurp(path("error.log")); }
std::string NginxServer::raw_access_log() const { return slurp(path("access.log")); }

std::vector<NginxLogEntry> NginxServer::access_log() const {
  std::vector<NginxLogEntry> out;
  std::istringstream in(raw_access_log());
  std::string line;
  while (std::getline(in, line)) {
    const std::vector<std::string> f = split_tabs(line);
    if (f.size() != kLogFields) continue;  // a line being written
    NginxLogEntry e;
    e.raw = line;
    e.server_addr = unescape_json(f[0]);
    e.server_port = static_cast<uint16_t>(std::atoi(f[1].c_str()));
    e.remote_port = static_cast<uint16_t>(std::atoi(f[2].c_str()));
    e.scheme = unescape_json(f[3]);
    e.host = unescape_json(f[4]);
    e.http_host = unescape_json(f[5]);
    e.authorization = unescape_json(f[6]);
    e.api_key = unescape_json(f[7]);
    e.range = unescape_json(f[8]);
    e.if_range = unescape_json(f[9]);
    e.ssl_client_verify = unescape_json(f[10]);
    e.request = unescape_json(f[11]);
    e.uri = unescape_json(f[12]);
    e.status = std::atoi(f[13].c_str());
    e.bytes_sent = std::atoll(f[14].c_str());
    e.msec = std::atof(f[15].c_str());
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<NginxLogEntry> NginxServer::entries_for(const std::string& uri) const {
  std::vector<NginxLogEntry> out;
  for (auto& e : access_log())
    if (e.uri == uri) out.push_back(std::move(e));
  return out;
}

bool NginxServer::wait_log(const std::function<bool(const NginxLogEntry&)>& pred,
                           std::chrono::milliseconds timeout) const {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (const auto& e : access_log())
      if (pred(e)) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace xferq::testing
