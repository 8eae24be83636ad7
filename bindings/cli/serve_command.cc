// serve_command.cc — `xferq serve`: opens the queue with its worker, starts
// the event hub and the HTTP(S) server, and serves until SIGINT/SIGTERM or
// until the worker stops because the queue failed (exit non-zero then).
//
// Safe by default: loopback unless --listen says otherwise, and then only
// with TLS; every /api/ request needs the token (serve_api.h).

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include "command_support.h"
#include "commands.h"
#include "serve_api.h"
#include "serve_support.h"

namespace xferq::cli {

namespace {

// The origins a same-origin page of this server sends, the --listen one
// first, normalized as the guard compares them (normalize_origin: no
// default port); then those --origin adds (a host name, a reverse proxy's).
std::vector<std::string> origins_for(const ListenAddress& at, int port, bool tls, const std::vector<std::string>& more) {
  const std::string scheme = tls ? "https://" : "http://";
  const std::string p = ":" + std::to_string(port);
  std::vector<std::string> hosts{at.host.find(':') != std::string::npos ? "[" + at.host + "]" : at.host};
  if (at.loopback) hosts.insert(hosts.end(), {"127.0.0.1", "localhost", "[::1]"});
  std::vector<std::string> out;
  std::string origin;
  for (const std::string& h : hosts)
    if (normalize_origin(scheme + h + p, &origin)) out.push_back(origin);
  for (const std::string& m : more)
    if (normalize_origin(m, &origin)) out.push_back(origin);
  return out;
}

std::unique_ptr<httplib::Server> make_server(const ServeOptions& o) {
  if (o.tls_cert.empty() != o.tls_key.empty()) fail_arg("--tls-cert and --tls-key go together");
  if (o.tls_cert.empty()) return std::make_unique<httplib::Server>();
  auto tls = std::make_unique<httplib::SSLServer>(o.tls_cert.c_str(), o.tls_key.c_str());
  if (!tls->is_valid()) fail_arg("cannot load the TLS certificate or key (" + shown(o.tls_cert) + ", " + shown(o.tls_key) + ")");
  return tls;
}

QueueOptions served_queue_options(const ServeOptions& o) {
  QueueOptions qo;
  qo.max_concurrent_transfers = o.max_transfers;
  return qo;
}

std::unique_ptr<Queue> open_served_queue(const Globals& g, const QueueOptions& qo) {
  const std::string path = resolve_db_path(g.db, true);
  auto q = Queue::open(path, qo);
  if (!q) fail(q.error(), "cannot open the queue " + shown_queue(path) + ": " + q.error().message());
  return std::move(*q);
}

// Waits for SIGINT/SIGTERM (blocked in every thread, taken here) or for the
// worker to stop by itself; returns its error then.
std::error_code serve_until_stopped(Queue& q, StopSignals& stop) {
  for (;;) {
    if (stop.wait(std::chrono::milliseconds(200))) return {};
    if (auto ec = q.worker_error()) return ec;
  }
}

}  // namespace

int cmd_serve(const Globals& g, const ServeOptions& o) {
  return guarded([&] {
    ListenAddress at;
    std::string why;
    if (!parse_listen(o.listen, &at, &why)) throw Fail{{kExitUsage, "--listen " + shown(o.listen) + ": " + why}};
    const bool tls = !o.tls_cert.empty() || !o.tls_key.empty();
    if (!at.loopback && !tls)
      throw Fail{{kExitUsage, "--listen " + shown(o.listen) + " is not a loopback address: give --tls-cert and --tls-key"}};
    std::string origin;
    for (const std::string& m : o.origins)
      if (!normalize_origin(m, &origin))
        throw Fail{{kExitUsage, "--origin " + shown(m) + ": not an origin (http(s)://HOST[:PORT], no path)"}};
    if (o.max_transfers < 1 || o.max_transfers > 64) fail_arg("--max-transfers must be from 1 to 64");
    if (o.event_interval_ms < 50 || o.event_interval_ms > 60000) fail_arg("--event-interval must be from 50 to 60000 ms");
    // The token's default home is beside the queue file; a database has none.
    if (is_database_url(resolve_db_path(g.db, false)) && o.token.empty() && o.token_file.empty())
      fail_arg("a postgresql:// queue has no file to keep the API token beside: give --token or --token-file");
    const std::string given_token = o.token == "-" ? secret_from_stdin("token") : o.token;
    if (!o.token.empty() && o.token != "-")
      std::cerr << "xferq serve: warning: a token given on the command line shows in the process list; "
                   "prefer --token - (standard input) or --token-file\n";

    // Every thread started from here on (worker, hub, HTTP) inherits the
    // blocked signals; this thread takes them (see StopSignals).
    StopSignals stop;

    const QueueOptions qo = served_queue_options(o);
    auto q = open_served_queue(g, qo);
    bool created = false;
    const std::string token_file = o.token_file.empty() ? q->path() + "-serve.token" : o.token_file;
    const std::string token = resolve_token(given_token, token_file, &created);
    auto server = make_server(o);

    EventHub hub(*q, std::chrono::milliseconds(o.event_interval_ms));
    q->set_callbacks(hub.callbacks());
    hub.start();
    ApiContext ctx{*q, hub, token, {}, {}};
    ctx.allow_other_schemes = qo.allow_other_schemes;  // the API checks URLs as the queue will
    server->new_task_queue = [] { return new httplib::ThreadPool(kHttpThreads); };
    server->set_read_timeout(10, 0);
    install_guard(*server, ctx);
    install_api(*server, ctx);
    install_event_stream(*server, ctx);
    install_dashboard(*server);

    const int port = at.port == 0 ? server->bind_to_any_port(at.host) : (server->bind_to_port(at.host, at.port) ? at.port : -1);
    if (port <= 0) fail(make_error_code(Errc::access_denied), "cannot listen on " + shown(o.listen));
    ctx.allowed_origins = origins_for(at, port, tls, o.origins);
    const std::string base = ctx.allowed_origins.front() + "/";
    std::cout << "xferq serve: queue " << shown_queue(q->path()) << "\n";
    // The token itself is never printed: this output ends up in journals and
    // logs that others may read. The file (0600) is where it is read.
    if (created)
      std::cout << "xferq serve: new API token in " << shown(token_file) << " (mode 0600; read it there)\n"
                << "xferq serve: dashboard: " << base << "#token=TOKEN (TOKEN: the content of that file)\n";
    std::cout << "xferq serve: listening on " << base << std::endl;

    std::atomic<bool> http_ended{false};
    std::thread http([&] {
      server->listen_after_bind();
      http_ended = true;
    });
    // Server::stop() does nothing until the listening loop has marked itself
    // running, so a SIGTERM that came before it would leave that loop (and
    // this process) running for ever: wait for it before saying ready.
    while (!server->is_running() && !http_ended) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    notify_systemd_ready();
    const std::error_code worker_failed = serve_until_stopped(*q, stop);
    notify_systemd_stopping();
    hub.stop();  // event streams end, so the server's threads can finish
    server->stop();
    http.join();
    q->stop_worker();
    q->set_callbacks(JobCallbacks{});
    if (worker_failed) fail(worker_failed, "the worker stopped: " + worker_failed.message());
    return kExitOk;
  });
}

}  // namespace xferq::cli
