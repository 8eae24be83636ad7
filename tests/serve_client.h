// serve_client.h — what the `xferq serve` tests share: the server as a real
// process (fork + exec, --listen 127.0.0.1:0, the port read from its
// "listening on" line), HTTP calls with cpp-httplib's client (or raw bytes
// on a socket), and a follower of its Server-Sent Events on a thread of its
// own.
#ifndef XFERQ_TESTS_SERVE_CLIENT_H_
#define XFERQ_TESTS_SERVE_CLIENT_H_

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "test_util.h"

namespace xferq::testing {

// One answer from the server.
// Thread safety: a plain value type; not synchronized.
struct HttpAnswer {
  int status = 0;  // 0: no answer (connection failed)
  std::string body;
  httplib::Headers headers;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  // The error name of a JSON error body ("" if none).
  std::string error_name() const {
    const nlohmann::json j = json();
    return j.is_object() && j.contains("error") && j["error"].is_object() ? j["error"].value("name", "") : "";
  }
};

// `xferq serve` on a queue file, started in the constructor (it waits for
// the listening line) and stopped with SIGTERM in stop() or the destructor.
// Thread safety: not synchronized; call() may be used from several threads
// (each call makes its own client).
class ServeProcess {
 public:
  ServeProcess(const std::string& dir, const std::string& db, std::vector<std::string> extra = {}) : dir_(dir) {
    std::vector<std::string> args{"--db", db, "serve", "--listen", "127.0.0.1:0", "--token-file", dir + "/api.token"};
    args.insert(args.end(), extra.begin(), extra.end());
    out_ = dir + "/serve.out";
    err_ = dir + "/serve.err";
    // A previous server's output must not be read as this one's.
    ::unlink(out_.c_str());
    ::unlink(err_.c_str());
    pid_ = spawn(XFERQ_CLI_PATH, args, out_, err_);
    const bool up = wait_for([&] {
      const std::string out = read_file(out_);
      const auto at = out.find("listening on http://127.0.0.1:");
      if (at == std::string::npos) return false;
      port_ = std::stoi(out.substr(at + std::string("listening on http://127.0.0.1:").size()));
      return true;
    }, std::chrono::milliseconds(20000));
    EXPECT_TRUE(up) << "xferq serve did not start: " << read_file(err_);
    token_ = read_file(dir + "/api.token");
    while (!token_.empty() && token_.back() == '\n') token_.pop_back();
  }
  ~ServeProcess() { stop(); }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // SIGTERM, then the exit status (-1: it had to be killed).
  int stop() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    status_ = wait_exit(pid_, std::chrono::milliseconds(20000));
    pid_ = -1;
    return status_;
  }

  int port() const { return port_; }
  const std::string& token() const { return token_; }
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string out() const { return read_file(out_); }
  std::string err() const { return read_file(err_); }

  // One request. `headers` are sent as given; the token is added unless
  // `with_token` is false. A body is sent with `content_type` ("" for none).
  HttpAnswer call(const std::string& method, const std::string& path, const std::string& body = "",
                  httplib::Headers headers = {}, bool with_token = true,
                  const std::string& content_type = "application/json") const {
    httplib::Client cli("127.0.0.1", port_);
    cli.set_connection_timeout(10, 0);
    cli.set_read_timeout(30, 0);
    if (with_token) headers.emplace("Authorization", "Bearer " + token_);
    httplib::Result r{nullptr, httplib::Error::Unknown};
    if (method == "GET") r = cli.Get(path.c_str(), headers);
    else if (method == "POST") r = cli.Post(path.c_str(), headers, body, content_type.c_str());
    else if (method == "PATCH") r = cli.Patch(path.c_str(), headers, body, content_type.c_str());
    else if (method == "PUT") r = cli.Put(path.c_str(), headers, body, content_type.c_str());
    else if (method == "DELETE") r = cli.Delete(path.c_str(), headers, body, content_type.c_str());
    else if (method == "OPTIONS") r = cli.Options(path.c_str(), headers);
    HttpAnswer a;
    if (!r) return a;
    a.status = r->status;
    a.body = r->body;
    a.headers = r->headers;
    return a;
  }
  HttpAnswer post_json(const std::string& path, const nlohmann::json& body) const {
    return call("POST", path, body.dump());
  }

 private:
  std::string dir_, out_, err_;
  pid_t pid_ = -1;
  int port_ = 0;
  int status_ = -1;
  std::string token_;
};

// What the server answers to `request`, written as raw bytes to a new
// connection (for what httplib's client will not send: chunked or unframed
// bodies, bodies left unsent). Reads until the server closes the connection
// (*closed true) or `timeout` passes (*closed false).
inline std::string raw_exchange(int port, const std::string& request, std::chrono::milliseconds timeout,
                                bool* closed) {
  *closed = false;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {  // the end, or a reset after it (the request's unread bytes)
        *closed = true;
        break;
      }
      got.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return got;
}

// "/api/jobs/%7B...%7D" for a job id.
inline std::string job_path(const std::string& id, const std::string& tail = "") {
  std::string p = "/api/jobs/";
  for (char c : id) {
    if (c == '{') p += "%7B";
    else if (c == '}') p += "%7D";
    else p += c;
  }
  return p + tail;
}

// One Server-Sent Event as received.
// Thread safety: a plain value type; not synchronized.
struct ReceivedEvent {
  uint64_t id = 0;
  std::string type;
  nlohmann::json data;
};

// Follows GET /api/events on its own thread until stop().
// Thread safety: events() and count() may be called from any thread.
class EventFollower {
 public:
  // last_event_id: resume after that event (Last-Event-ID) instead of a snapshot.
  explicit EventFollower(const ServeProcess& server, uint64_t last_event_id = 0)
      : port_(server.port()), token_(server.token()), last_event_id_(last_event_id) {
    thread_ = std::thread([this] { run(); });
  }
  ~EventFollower() { stop(); }
  EventFollower(const EventFollower&) = delete;
  EventFollower& operator=(const EventFollower&) = delete;

  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<ReceivedEvent> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  int status() const { return status_.load(); }
  // Waits until an event satisfies `match`.
  bool wait_for_event(const std::function<bool(const ReceivedEvent&)>& match,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) const {
    return wait_for([&] {
      for (const ReceivedEvent& e : events())
        if (match(e)) return true;
      return false;
    }, timeout);
  }

 private:
  void run() {
    httplib::Client cli("127.0.0.1", port_);
    cli.set_read_timeout(30, 0);
    std::string buffer;
    httplib::Headers headers{{"Authorization", "Bearer " + token_}};
    if (last_event_id_ != 0) headers.emplace("Last-Event-ID", std::to_string(last_event_id_));
    auto res = cli.Get("/api/events", headers,
                       [&](const httplib::Response& r) {
                         status_ = r.status;
                         return r.status == 200;
                       },
                       [&](const char* data, size_t n) {
                         buffer.append(data, n);
                         for (size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
                           parse(buffer.substr(0, end));
                           buffer.erase(0, end + 2);
                         }
                         return !stopping_.load();
                       });
    (void)res;
  }
  void parse(const std::string& block) {
    ReceivedEvent e;
    std::string data;
    size_t start = 0;
    while (start <= block.size()) {
      size_t nl = block.find('\n', start);
      if (nl == std::string::npos) nl = block.size();
      const std::string line = block.substr(start, nl - start);
      start = nl + 1;
      if (line.rfind("id: ", 0) == 0) e.id = std::stoull(line.substr(4));
      else if (line.rfind("event: ", 0) == 0) e.type = line.substr(7);
      else if (line.rfind("data: ", 0) == 0) data += line.substr(6);
    }
    if (e.type.empty()) return;  // a keep-alive comment
    e.data = nlohmann::json::parse(data, nullptr, false);
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }

  int port_;
  std::string token_;
  uint64_t last_event_id_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> status_{0};
  mutable std::mutex mu_;
  std::vector<ReceivedEvent> events_;
  std::thread thread_;
};

}  // namespace xferq::testing

#endif  // XFERQ_TESTS_SERVE_CLIENT_H_
