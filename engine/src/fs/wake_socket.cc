// wake_socket.cc — see wake_socket.h.
#include "fs/wake_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace xferq::detail {
namespace {

constexpr size_t kMaxDatagram = 128;

bool make_address(const std::string& path, sockaddr_un* addr) {
  if (path.size() >= sizeof(addr->sun_path)) return false;  // too long: poll only
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return true;
}

}  // namespace

std::string wake_socket_path(const std::string& queue_path) { return queue_path + "-worker.sock"; }

void send_wake(const std::string& socket_path, const WakeMessage& m) {
  sockaddr_un addr;
  if (!make_address(socket_path, &addr)) return;
  char buf[kMaxDatagram];
  const int n = std::snprintf(buf, sizeof buf, "%s %lld %d", m.job_id.c_str(), static_cast<long long>(m.generation),
                              m.may_run ? 1 : 0);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return;
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  ::sendto(fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::close(fd);
}

bool parse_wake(const char* data, size_t size, WakeMessage* out) {
  // "{GUID} GENERATION MAY_RUN": a 38-character GUID in braces.
  if (size < 42 || size >= kMaxDatagram || data[0] != '{' || data[37] != '}' || data[38] != ' ') return false;
  const std::string text(data, size);
  char* end = nullptr;
  const long long generation = std::strtoll(text.c_str() + 39, &end, 10);
  if (!end || *end != ' ' || generation < -1) return false;
  if ((end[1] != '0' && end[1] != '1') || end[2] != '\0') return false;
  out->job_id = text.substr(0, 38);
  out->generation = generation;
  out->may_run = end[1] == '1';
  return true;
}

bool WakeListener::listen(const std::string& socket_path) {
  close();
  sockaddr_un addr;
  if (!make_address(socket_path, &addr)) return false;
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  struct stat st {};
  // A stale socket of a dead worker: ours to replace (we hold the lock). Never
  // remove anything but a socket.
  if (::lstat(socket_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(socket_path.c_str());
  // Not umask(): it is process-wide, and the embedding program's threads
  // may be creating files. chmod right after bind: only the owner can send.
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return false;
  }
  ::chmod(socket_path.c_str(), 0600);
  fd_ = fd;
  path_ = socket_path;
  return true;
}

void WakeListener::drain(const std::function<void(const WakeMessage&)>& on_message) {
  if (fd_ < 0) return;
  char buf[kMaxDatagram];
  for (;;) {
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return;  // EAGAIN: nothing more
    WakeMessage m;
    if (parse_wake(buf, static_cast<size_t>(n), &m)) on_message(m);
  }
}

void WakeListener::close() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(path_.c_str());
  fd_ = -1;
}

}  // namespace xferq::detail
