// serve_support.cc — see serve_support.h.
#include "serve_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#ifdef XFERQ_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "command_support.h"

namespace xferq::cli {

namespace {

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

bool valid_token_text(const std::string& t) {
  if (t.size() < 16 || t.size() > 256) return false;
  for (unsigned char c : t)
    if (c <= 0x20 || c >= 0x7F) return false;
  return true;
}

// 32 random bytes from the kernel, as 64 hex digits.
std::string random_token() {
  unsigned char bytes[32];
  const int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(make_error_code(Errc::access_denied), "cannot open /dev/urandom");
  size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::read(fd, bytes + got, sizeof bytes - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      fail(make_error_code(Errc::access_denied), "cannot read /dev/urandom");
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// Reads an existing token file; refuses one that others may read.
bool read_token_file(const std::string& file, std::string* token) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    fail(make_error_code(Errc::access_denied), "cannot open the token file " + shown(file) + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
    ::close(fd);
    fail(make_error_code(Errc::access_denied),
         "the token file " + shown(file) + " must be a regular file of mode 0600 (it may have leaked: make a new one)");
  }
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) fail(make_error_code(Errc::access_denied), "cannot read the token file " + shown(file));
  std::string t(buf, static_cast<size_t>(n));
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  if (!valid_token_text(t)) fail_arg("the token file " + shown(file) + " holds no valid token (16 to 256 printable characters)");
  *token = t;
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A host as an origin may name it: a bracketed IPv6 address, or letters,
// digits, '-' and '.' (a name or IPv4 address).
bool valid_origin_host(const std::string& host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    in6_addr v6{};
    return ::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &v6) == 1;
  }
  return !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.';
  });
}

void write_token_file(const std::string& file, const std::string& token) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) fail(make_error_code(Errc::access_denied), "cannot create the token file " + shown(file) + ": " + std::strerror(errno));
  const std::string line = token + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(file.c_str());
    fail(make_error_code(Errc::access_denied), "cannot write the token file " + shown(file));
  }
}

}  // namespace

bool normalize_origin(std::string_view text, std::string* out) {
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) return false;
  const std::string scheme = lower(text.substr(0, sep));
  if (scheme != "http" && scheme != "https") return false;
  std::string_view authority = text.substr(sep + 3);
  if (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
  // The port's colon is the last one outside an IPv6 address's brackets.
  const size_t colon = authority.rfind(':');
  const bool has_port = colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos;
  const std::string host = lower(has_port ? authority.substr(0, colon) : authority);
  const std::string_view port = has_port ? authority.substr(colon + 1) : std::string_view();
  if (!valid_origin_host(host)) return false;
  int port_number = 0;
  if (has_port) {
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    port_number = std::stoi(std::string(port));
    if (port_number < 1 || port_number > 65535) return false;
  }
  *out = scheme + "://" + host;
  if (has_port && port_number != (scheme == "https" ? 443 : 80)) *out += ":" + std::to_string(port_number);
  return true;
}

bool parse_listen(const std::string& text, ListenAddress* out, std::string* why) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *why = "expected [IPV6]:PORT";
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      *why = "expected HOST:PORT (an IPv6 address goes in brackets)";
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535) {
    *why = "expected HOST:PORT with a port from 0 to 65535";
    return false;
  }
  out->host = host;
  out->port = std::stoi(port);
  out->loopback = is_loopback_host(host);
  return true;
}

std::string resolve_token(const std::string& given, const std::string& file, bool* created) {
  *created = false;
  if (!given.empty()) {
    if (!valid_token_text(given)) fail_arg("--token must be 16 to 256 printable characters without spaces");
    return given;
  }
  std::string token;
  if (read_token_file(file, &token)) return token;
  token = random_token();
  write_token_file(file, token);
  *created = true;
  return token;
}

bool token_matches(std::string_view expected, std::string_view given) {
  // Every byte of `expected` is looked at whatever `given` holds; a length
  // difference is folded into the same accumulator.
  unsigned char diff = expected.size() == given.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(static_cast<unsigned char>(expected[i]) ^ g);
  }
  return diff == 0;
}

void notify_systemd_ready() {
#ifdef XFERQ_HAVE_SYSTEMD
  ::sd_notify(0, "READY=1");
#endif
}

void notify_systemd_stopping() {
#ifdef XFERQ_HAVE_SYSTEMD
  ::sd_notify(0, "STOPPING=1");
#endif
}

}  // namespace xferq::cli
