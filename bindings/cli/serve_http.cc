// serve_http.cc — the HTTP plumbing of `xferq serve` around its routes: the
// request guard (bodies of a known, bounded length; same origin only, bearer
// token, JSON bodies), JSON errors (also for httplib's own 404 / 413 / 400),
// security headers, and the embedded dashboard's files.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <optional>

#include "cli.h"
#include "dashboard_assets.h"
#include "serve_api.h"
#include "serve_support.h"

namespace xferq::cli {

namespace {

using httplib::Request;
using httplib::Response;

constexpr uint32_t kE_FAIL = 0x80004005u;
const uint32_t kAccessDenied = static_cast<uint32_t>(Errc::access_denied);
const uint32_t kInvalidArg = static_cast<uint32_t>(Errc::invalid_arg);

bool starts_with(const std::string& s, std::string_view prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

bool is_api(const std::string& path) { return path == "/api" || starts_with(path, "/api/"); }

// Refused before any route runs.
httplib::Server::HandlerResponse refuse_early(Response& res, int status, uint32_t hr, const std::string& text) {
  send_error(res, {status, hr, text});
  return httplib::Server::HandlerResponse::Handled;
}

// Refused before any route runs, and the connection ends with the answer:
// the body was never read, so it is still on the socket, where httplib would
// parse it as the next request. httplib keeps a connection open whatever the
// answer's headers say and ends it only when writing the answer fails, so
// the (complete) answer is written by a provider that then reports failure.
httplib::Server::HandlerResponse refuse_and_close(Response& res, const ApiError& e) {
  send_error(res, e);
  auto body = std::make_shared<std::string>(std::move(res.body));
  res.body.clear();
  res.headers.erase("Content-Type");  // set_content_provider sets it again
  res.set_header("Connection", "close");
  res.set_content_provider(body->size(), "application/json",
                           [body](size_t offset, size_t length, httplib::DataSink& sink) {
                             sink.write(body->data() + offset, length);
                             return false;  // written: now end the connection
                           });
  return httplib::Server::HandlerResponse::Handled;
}

bool has_body(const Request& req) {
  return req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0";
}

// Why a request's body could not be read within kMaxBodyBytes, if so.
// httplib (0.11) applies its payload limit to a Content-Length body only: a
// chunked body, a compressed one (inflated as it is read) and a POST, PUT
// or PATCH without a length (read until the peer closes) have no bound, and
// it reads them before routing, for any path. This runs first, before any
// body is read, and for every path.
std::optional<ApiError> unbounded_body(const Request& req) {
  if (req.has_header("Transfer-Encoding"))
    return ApiError{411, kInvalidArg, "Transfer-Encoding is not accepted: send the body with Content-Length"};
  if (req.has_header("Content-Encoding"))
    return ApiError{415, kInvalidArg, "Content-Encoding is not accepted: send the body uncompressed"};
  const size_t lengths = req.get_header_value_count("Content-Length");
  const bool reads_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH" || req.method == "PRI";
  if (lengths == 0)
    return reads_body ? std::optional<ApiError>(ApiError{411, kInvalidArg, req.method + " needs Content-Length"})
                      : std::nullopt;
  const std::string length = req.get_header_value("Content-Length");
  if (lengths > 1 || length.empty() || length.size() > 19 ||
      !std::all_of(length.begin(), length.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return ApiError{400, kInvalidArg, "malformed Content-Length"};
  if (std::stoull(length) > kMaxBodyBytes)
    return ApiError{413, kInvalidArg, "the body is larger than " + std::to_string(kMaxBodyBytes) + " bytes"};
  // Elsewhere httplib leaves a body unread, for the next request to trip on.
  if (has_body(req) && (!is_api(req.path) || !(reads_body || req.method == "DELETE")))
    return ApiError{413, kInvalidArg, "only POST, PUT, PATCH and DELETE under /api/ take a body"};
  return std::nullopt;
}

bool is_json_type(const std::string& type) {
  const std::string base = type.substr(0, type.find(';'));
  return base == "application/json";
}

httplib::Server::HandlerResponse guard(const ApiContext& ctx, const Request& req, Response& res) {
  if (auto refused = unbounded_body(req)) return refuse_and_close(res, *refused);
  if (!is_api(req.path)) return httplib::Server::HandlerResponse::Unhandled;  // the dashboard's static files
  // Cross-origin requests are refused outright, preflights included: the
  // API never sends Access-Control-Allow-* headers.
  // Origins compare normalized (no default port: a page on https://host
  // sends "https://host"); one that does not parse ("null") is foreign.
  const std::string origin = req.get_header_value("Origin");
  const std::string site = req.get_header_value("Sec-Fetch-Site");
  std::string normal;
  const bool foreign_origin =
      !origin.empty() && (!normalize_origin(origin, &normal) ||
                          std::find(ctx.allowed_origins.begin(), ctx.allowed_origins.end(), normal) ==
                              ctx.allowed_origins.end());
  if (req.method == "OPTIONS" || foreign_origin || site == "cross-site" || site == "same-site")
    return refuse_early(res, 403, kAccessDenied, "cross-origin requests are refused");
  // The scheme name is case-insensitive (RFC 9110); the token is not.
  const std::string auth = req.get_header_value("Authorization");
  std::string scheme = auth.substr(0, 7);
  for (char& ch : scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (scheme != "bearer " || !token_matches(ctx.token, std::string_view(auth).substr(7))) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"xferq\"");
    return refuse_early(res, 401, kAccessDenied, "a valid token is required (Authorization: Bearer TOKEN)");
  }
  if (has_body(req) && !is_json_type(req.get_header_value("Content-Type")))
    return refuse_early(res, 415, kInvalidArg, "request bodies must be application/json");
  return httplib::Server::HandlerResponse::Unhandled;
}

// JSON bodies for the errors httplib answers by itself.
httplib::Server::HandlerResponse library_error(const Request& req, Response& res) {
  // A route's own JSON error, in the body or written by refuse_and_close.
  if (!res.body.empty() || res.has_header("Content-Type")) return httplib::Server::HandlerResponse::Unhandled;
  switch (res.status) {
    case 404:
      send_error(res, {404, static_cast<uint32_t>(Errc::not_found), "no such endpoint: " + req.method + " " + shown(req.path)});
      break;
    case 413:
      send_error(res, {413, kInvalidArg, "the body is larger than " + std::to_string(kMaxBodyBytes) + " bytes"});
      break;
    case 400:
      send_error(res, {400, kInvalidArg, "malformed request, or a body shorter than its Content-Length"});
      break;
    default:
      send_error(res, {res.status, kE_FAIL, "the request failed"});
      break;
  }
  return httplib::Server::HandlerResponse::Handled;
}

const char* content_type_of(const std::string& path) {
  auto ends = [&](const char* ext) {
    const size_t n = std::strlen(ext);
    return path.size() >= n && path.compare(path.size() - n, n, ext) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// Security headers for every response: nothing is framed, sniffed or fetched
// from elsewhere; the page may only talk to this server.
void secure_headers(Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
}

}  // namespace

int http_status_for(const std::error_code& ec) {
  switch (static_cast<Errc>(to_hresult(ec))) {
    case Errc::not_found:
      return 404;
    case Errc::invalid_state:
    case Errc::empty:
    case Errc::file_exists:
    case Errc::too_many_files:
    case Errc::too_many_files_in_job:
      return 409;
    case Errc::invalid_arg:
    case Errc::string_too_long:
    case Errc::not_implemented:
    case Errc::unsupported_scheme:
    case Errc::path_not_found:
    case Errc::file_not_found:
      return 400;
    case Errc::access_denied:
      return 403;
    case Errc::busy:
      return 503;
    default:
      return 500;
  }
}

void send_json(Response& res, const nlohmann::json& body, int status) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

void send_error(Response& res, const ApiError& e) {
  if (e.status == 503) res.set_header("Retry-After", "1");
  send_json(res,
            {{"error", {{"name", hresult_name(e.hresult)}, {"hresult", hresult_hex(e.hresult)},
                        {"code", e.hresult}, {"message", e.message}}}},
            e.status);
}

void install_guard(httplib::Server& server, ApiContext& ctx) {
  const ApiContext* c = &ctx;
  server.set_pre_routing_handler(
      httplib::Server::HandlerWithResponse([c](const Request& req, Response& res) { return guard(*c, req, res); }));
  server.set_error_handler(httplib::Server::HandlerWithResponse(library_error));
  server.set_post_routing_handler([](const Request&, Response& res) {
    secure_headers(res);
    // httplib promises to keep a connection that refuse_and_close ends.
    if (res.get_header_value("Connection") == "close") res.headers.erase("Keep-Alive");
  });
  server.set_payload_max_length(kMaxBodyBytes);
}

void install_dashboard(httplib::Server& server) {
  for (size_t i = 0; i < kDashboardAssetCount; ++i) {
    const DashboardAsset& a = kDashboardAssets[i];
    auto serve = [&a](const Request&, Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(reinterpret_cast<const char*>(a.data), a.size, content_type_of(a.path));
    };
    server.Get(a.path, serve);
    if (std::string(a.path) == "/index.html") server.Get("/", serve);
  }
}

}  // namespace xferq::cli
