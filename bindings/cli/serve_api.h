// serve_api.h — the HTTP side of `xferq serve`: the JSON API under /api/
// (jobs, files, actions, properties, credentials, live events), the request
// guard every /api/ request passes (same origin only, bearer token, JSON
// bodies), and the embedded dashboard. docs/openapi.json describes the API.
// Private to bindings/cli.
#ifndef XFERQ_BINDINGS_CLI_SERVE_API_H_
#define XFERQ_BINDINGS_CLI_SERVE_API_H_

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <string>
#include <system_error>
#include <vector>

#include "serve_events.h"
#include "xferq/xferq.h"

namespace xferq::cli {

// What the routes share. The server's handler threads use it concurrently.
// Thread safety: the members are safe to use from any thread (Queue and
// EventHub are internally synchronized, the strings are not modified after
// the server starts, followers is atomic).
struct ApiContext {
  Queue& queue;
  EventHub& hub;
  std::string token;
  std::vector<std::string> allowed_origins;  // "http://127.0.0.1:8080", ...
  std::atomic<int> followers{0};             // open /api/events streams
  bool allow_other_schemes = false;          // the queue's QueueOptions::allow_other_schemes
};

// Event streams open at once; more are refused with 503 (each holds a thread).
constexpr int kMaxFollowers = 32;
// Threads serving requests (keep-alive connections and event streams hold one each).
constexpr size_t kHttpThreads = 64;

// A refused request: the HTTP status, the HRESULT it is reported with, and
// what went wrong. Thrown by the route helpers, turned into the JSON error
// body {"error": {"name", "hresult", "code", "message"}} by the routes.
// Thread safety: a plain value type; not synchronized.
struct ApiError {
  int status;
  uint32_t hresult;
  std::string message;
};

// The HTTP status for a library error (404 BG_E_NOT_FOUND, 409 state
// conflicts, 400 bad arguments, 403 E_ACCESSDENIED, 503 XFERQ_E_BUSY, 500
// otherwise).
int http_status_for(const std::error_code& ec);
// Writes the JSON error body and the status.
void send_error(httplib::Response& res, const ApiError& e);
// Writes `body` as JSON with `status`.
void send_json(httplib::Response& res, const nlohmann::json& body, int status = 200);

// Bodies of a bounded length only (Content-Length, at most kMaxBodyBytes,
// for every path), Origin and Sec-Fetch-Site checks, the token, Content-Type
// of bodies, and JSON bodies for httplib's own errors (404, 413, ...).
void install_guard(httplib::Server& server, ApiContext& ctx);
// Every /api/ route (serve_api.cc) and the event stream (serve_stream.cc).
void install_api(httplib::Server& server, ApiContext& ctx);
void install_event_stream(httplib::Server& server, ApiContext& ctx);
// The dashboard's files at /, /dashboard.js, /dashboard.css (serve_http.cc).
void install_dashboard(httplib::Server& server);

}  // namespace xferq::cli

#endif  // XFERQ_BINDINGS_CLI_SERVE_API_H_
