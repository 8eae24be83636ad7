// embed_example — xferq used from a project that only has an installed xferq
// (find_package(xferq), target xferq::xferq). It serves two files over HTTP
// from a tiny server of its own, queues a download of each, completes one
// (and checks every byte) and cancels the other mid-transfer (and checks that
// nothing of it is left). Exits 0 if every check passed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <thread>

#include <xferq/xferq.h>

namespace {

// ------------------------------------------------------------ tiny server

// A single-threaded HTTP/1.1 server on 127.0.0.1: one connection at a time,
// "Connection: close" after each response. /file.bin is a fixed body sent at
// once; /slow.bin is a big body trickled out; anything else is 404.
class TinyServer {
 public:
  TinyServer(std::string body, size_t slow_size) : body_(std::move(body)), slow_size_(slow_size) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      std::perror("embed_example: server");
      std::exit(1);
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~TinyServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  // Waits up to 50 ms for `events` on fd; false when stopping or on error.
  bool wait(int fd, short events) {
    while (!stop_) {
      pollfd p{fd, events, 0};
      const int n = ::poll(&p, 1, 50);
      if (n > 0) return (p.revents & (POLLERR | POLLNVAL)) == 0;
      if (n < 0 && errno != EINTR) return false;
    }
    return false;
  }

  bool send_all(int fd, const char* data, size_t size) {
    while (size > 0) {
      if (!wait(fd, POLLOUT)) return false;
      const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
      if (n <= 0) return false;  // the client left (a cancelled transfer)
      data += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }

  void run() {
    while (wait(listen_fd_, POLLIN)) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      serve(fd);
      ::close(fd);
    }
  }

  void serve(int fd) {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      if (!wait(fd, POLLIN)) return;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    const size_t sp1 = request.find(' ');
    const size_t sp2 = request.find(' ', sp1 + 1);
    const std::string path = request.substr(sp1 + 1, sp2 - sp1 - 1);
    auto head = [](const char* status, size_t length) {
      return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: application/octet-stream\r\n" +
             "Content-Length: " + std::to_string(length) + "\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n";
    };
    if (path == "/file.bin") {
      const std::string h = head("200 OK", body_.size());
      if (send_all(fd, h.data(), h.size())) send_all(fd, body_.data(), body_.size());
    } else if (path == "/slow.bin") {
      const std::string h = head("200 OK", slow_size_);
      if (!send_all(fd, h.data(), h.size())) return;
      const std::string chunk(32 * 1024, 's');
      for (size_t sent = 0; sent < slow_size_ && !stop_; sent += chunk.size()) {
        if (!send_all(fd, chunk.data(), std::min(chunk.size(), slow_size_ - sent))) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    } else {
      const std::string h = head("404 Not Found", 0);
      send_all(fd, h.data(), h.size());
    }
  }

  std::string body_;
  size_t slow_size_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ----------------------------------------------------------------- checks

int g_failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("  [%s] %s\n", ok ? " ok " : "FAIL", what.c_str());
  if (!ok) ++g_failures;
}

std::string code(std::error_code ec) { return xferq::hresult_name(xferq::to_hresult(ec)); }

bool wait_until(const std::function<bool()>& cond, std::chrono::seconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

bool in_state(const xferq::Job& job, xferq::JobState s) {
  auto st = job.state();
  return st.ok() && *st == s;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

int main() {
  std::string body(512 * 1024, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>((i * 31 + 7) & 0xFF);
  TinyServer server(body, 32 * 1024 * 1024);

  char tmpl[] = "/tmp/xferq-embed-example-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    std::perror("embed_example: mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;
  std::printf("embed_example: working in %s, server on %s\n", dir.c_str(), server.url("/").c_str());

  {
    xferq::QueueOptions options;
    options.progress_interval = std::chrono::milliseconds(50);
    auto opened = xferq::Queue::open(dir + "/queue.db", options);
    if (!opened) {
      std::printf("embed_example: cannot open the queue: %s\n", code(opened.error()).c_str());
      return 1;
    }
    std::unique_ptr<xferq::Queue> queue = std::move(*opened);

    std::printf("a job to complete:\n");
    auto keep = queue->create_job("embed: keep");
    check(keep.ok(), "create_job");
    if (!keep) return 1;
    const std::string kept = dir + "/file.bin";
    check(!keep->add_file(server.url("/file.bin"), kept), "add_file " + server.url("/file.bin"));
    check(!keep->resume(), "resume");
    check(wait_until([&] { return in_state(*keep, xferq::JobState::transferred); }, std::chrono::seconds(60)),
          "reached TRANSFERRED");
    xferq::CompleteStatus status{};
    const auto ec = keep->complete(&status);
    check(!ec && status == xferq::CompleteStatus::all_files, "complete: " + code(ec) + ", every file");
    check(in_state(*keep, xferq::JobState::acknowledged), "ACKNOWLEDGED");
    check(read_all(kept) == body, "file.bin has every byte (" + std::to_string(body.size()) + ")");

    std::printf("a job to cancel mid-transfer:\n");
    auto drop = queue->create_job("embed: drop");
    check(drop.ok(), "create_job");
    if (!drop) return 1;
    const std::string dropped = dir + "/slow.bin";
    check(!drop->add_file(server.url("/slow.bin"), dropped), "add_file " + server.url("/slow.bin"));
    check(!drop->resume(), "resume");
    check(wait_until([&] {
            auto p = drop->progress();
            return p.ok() && p->bytes_transferred > 0;
          }, std::chrono::seconds(60)),
          "bytes arrived");
    std::string temp;
    if (auto files = drop->files(); files.ok() && !files->empty()) temp = (*files)[0].temp_path;
    check(!temp.empty() && std::filesystem::exists(temp), "its temp file exists");
    check(!drop->cancel(), "cancel");
    check(!temp.empty() && !std::filesystem::exists(temp), "temp file gone when cancel() returned");
    check(!std::filesystem::exists(dropped), "slow.bin never appeared");
    check(in_state(*drop, xferq::JobState::cancelled), "CANCELLED");
    check(code(drop->cancel()) == "DO_E_INVALID_STATE", "cancel again: DO_E_INVALID_STATE");

    auto active = queue->jobs();
    check(active.ok() && active->empty(), "no active job left");
  }  // the queue stops its worker

  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  std::printf("embed_example: %s\n", g_failures == 0 ? "every check passed" : "FAILED");
  return g_failures == 0 ? 0 : 1;
}
