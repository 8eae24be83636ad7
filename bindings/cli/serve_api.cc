// serve_api.cc — the JSON routes of `xferq serve` under /api/: each mirrors
// a library call (docs/openapi.json). A request is checked whole (JSON,
// known fields, types, the job id, and the values by the library's own
// checks: serve_checks.h) before the first call, so a bad request changes
// nothing; the library's own refusals keep their HRESULT.
#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "cli.h"
#include "serve_api.h"
#include "serve_checks.h"

namespace xferq::cli {

namespace {

using httplib::Request;
using httplib::Response;
using nlohmann::json;

constexpr uint32_t kE_FAIL = 0x80004005u;
constexpr uint32_t kInvalidArg = static_cast<uint32_t>(Errc::invalid_arg);
// Retry delays and timeouts above a century are refused as nonsense.
constexpr int64_t kMaxSeconds = 100LL * 365 * 24 * 3600;

[[noreturn]] void bad_request(const std::string& message) { throw ApiError{400, kInvalidArg, message}; }

[[noreturn]] void refuse(const std::error_code& ec, const std::string& message = "") {
  throw ApiError{http_status_for(ec), to_hresult(ec), message.empty() ? ec.message() : message};
}

void check(const std::error_code& ec) {
  if (ec) refuse(ec);
}

template <typename T>
T value_or_refuse(Result<T> r) {
  if (!r) refuse(r.error());
  return std::move(*r);
}

// Runs a route body; whatever it throws becomes a JSON error.
template <typename F>
httplib::Server::Handler route(F body) {
  return [body](const Request& req, Response& res) {
    try {
      body(req, res);
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const json::exception& e) {
      send_error(res, {400, kInvalidArg, std::string("bad value in the request: ") + e.what()});
    } catch (const std::exception& e) {
      send_error(res, {500, kE_FAIL, e.what()});
    }
  };
}

// Only the query parameters named are accepted.
void check_query(const Request& req, const std::vector<std::string_view>& allowed) {
  for (const auto& [name, value] : req.params)
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
      bad_request("unknown query parameter '" + name + "'");
}

// The body as a JSON object ({} when empty); only `allowed` fields.
json body_of(const Request& req, const std::vector<std::string_view>& allowed) {
  json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (body.is_discarded()) bad_request("the body is not valid JSON");
  if (!body.is_object()) bad_request("the body must be a JSON object");
  for (auto it = body.begin(); it != body.end(); ++it)
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end())
      bad_request("unknown field '" + it.key() + "'");
  return body;
}

std::optional<std::string> text_field(const json& body, const char* name, bool required = false) {
  auto it = body.find(name);
  if (it == body.end()) {
    if (required) bad_request(std::string("missing field '") + name + "'");
    return std::nullopt;
  }
  if (!it->is_string()) bad_request(std::string("'") + name + "' must be a string");
  return it->get<std::string>();
}

std::optional<int64_t> integer_field(const json& body, const char* name, int64_t min, int64_t max) {
  auto it = body.find(name);
  if (it == body.end()) return std::nullopt;
  const bool fits = it->is_number_integer() && !(it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(max));
  if (!fits || it->get<int64_t>() < min || it->get<int64_t>() > max)
    bad_request(std::string("'") + name + "' must be an integer from " + std::to_string(min) + " to " +
                std::to_string(max));
  return it->get<int64_t>();
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// A GUID, braces optional ("{8-4-4-4-12}" of hex digits).
bool looks_like_guid(std::string_view id) {
  if (id.size() == 38 && id.front() == '{' && id.back() == '}') id = id.substr(1, 36);
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? id[i] != '-' : !std::isxdigit(static_cast<unsigned char>(id[i]))) return false;
  }
  return true;
}

Job job_at(ApiContext& ctx, const Request& req) {
  const std::string id = req.matches[1];
  if (!looks_like_guid(id)) bad_request("'" + shown(id) + "' is not a job id (a GUID)");
  return value_or_refuse(ctx.queue.get_job(id));
}

json job_with_files(const Job& job) {
  const JobInfo info = value_or_refuse(job.info());
  const std::vector<FileInfo> files = value_or_refuse(job.files());
  return job_json(info, &files);
}

std::vector<FileSpec> file_specs(const json& body) {
  auto it = body.find("files");
  if (it == body.end()) return {};
  if (!it->is_array()) bad_request("'files' must be an array of {remote_url, local_path}");
  std::vector<FileSpec> specs;
  for (const json& f : *it) {
    if (!f.is_object()) bad_request("each file must be an object {remote_url, local_path}");
    for (auto k = f.begin(); k != f.end(); ++k)
      if (k.key() != "remote_url" && k.key() != "local_path") bad_request("unknown field '" + k.key() + "' in a file");
    specs.push_back({*text_field(f, "remote_url", true), *text_field(f, "local_path", true)});
  }
  return specs;
}

JobPriority priority_named(const std::string& name) {
  JobPriority p{};
  if (!parse_priority(name, &p)) bad_request("unknown priority '" + shown(name) + "' (FOREGROUND, HIGH, NORMAL or LOW)");
  return p;
}

ProxySettings proxy_from(const json& j) {
  if (!j.is_object()) bad_request("'proxy_settings' must be an object {usage, proxy_list, bypass_list}");
  const json fields = j;  // checked like a body
  for (auto k = fields.begin(); k != fields.end(); ++k)
    if (k.key() != "usage" && k.key() != "proxy_list" && k.key() != "bypass_list")
      bad_request("unknown field '" + k.key() + "' in proxy_settings");
  ProxySettings p;
  const std::string usage = upper(*text_field(j, "usage", true));
  if (usage == "PRECONFIG") p.usage = ProxyUsage::preconfig;
  else if (usage == "NO_PROXY") p.usage = ProxyUsage::no_proxy;
  else if (usage == "OVERRIDE") p.usage = ProxyUsage::override_list;
  else bad_request("unknown proxy usage '" + shown(usage) + "' (PRECONFIG, NO_PROXY or OVERRIDE)");
  p.proxy_list = text_field(j, "proxy_list").value_or("");
  p.bypass_list = text_field(j, "bypass_list").value_or("");
  return p;
}

PropertyChanges property_changes(const json& body) {
  PropertyChanges c;
  c.display_name = text_field(body, "display_name");
  c.description = text_field(body, "description");
  c.reply_file_name = text_field(body, "reply_file_name");
  if (auto p = text_field(body, "priority")) c.priority = priority_named(*p);
  c.minimum_retry_delay = integer_field(body, "minimum_retry_delay", 0, kMaxSeconds);
  c.no_progress_timeout = integer_field(body, "no_progress_timeout", 0, kMaxSeconds);
  c.security_flags = integer_field(body, "security_flags", 0, 0xFFFFFFFFLL);
  if (auto it = body.find("custom_headers"); it != body.end()) {
    if (!it->is_array()) bad_request("'custom_headers' must be an array of \"Name: value\" strings");
    std::vector<std::string> headers;
    for (const json& h : *it) {
      if (!h.is_string()) bad_request("'custom_headers' must be an array of \"Name: value\" strings");
      headers.push_back(h.get<std::string>());
    }
    c.custom_headers = std::move(headers);
  }
  if (auto it = body.find("proxy_settings"); it != body.end()) c.proxy = proxy_from(*it);
  return c;
}

// Applies the changes in a fixed order (check_properties' order); the first
// refusal stops. Checked beforehand, only the job's state (at the first
// setter, before any change), the store or a change on disk since can still
// refuse.
void apply(Job& job, const PropertyChanges& c) {
  if (c.display_name) check(job.set_display_name(*c.display_name));
  if (c.description) check(job.set_description(*c.description));
  if (c.priority) check(job.set_priority(*c.priority));
  if (c.minimum_retry_delay) check(job.set_minimum_retry_delay(std::chrono::seconds(*c.minimum_retry_delay)));
  if (c.no_progress_timeout) check(job.set_no_progress_timeout(std::chrono::seconds(*c.no_progress_timeout)));
  if (c.security_flags) check(job.set_security_flags(static_cast<uint32_t>(*c.security_flags)));
  if (c.custom_headers) check(job.set_custom_headers(*c.custom_headers));
  if (c.proxy) check(job.set_proxy_settings(*c.proxy));
  if (c.reply_file_name) check(job.set_reply_file_name(*c.reply_file_name));
}

const std::vector<std::string_view> kPropertyFields = {
    "display_name", "description", "priority", "minimum_retry_delay", "no_progress_timeout",
    "security_flags", "custom_headers", "proxy_settings", "reply_file_name"};

JobType type_named(const std::string& name) {
  const std::string n = upper(name);
  if (n == "DOWNLOAD") return JobType::download;
  if (n == "UPLOAD") return JobType::upload;
  if (n == "UPLOAD_REPLY") return JobType::upload_reply;
  bad_request("unknown job type '" + shown(name) + "' (DOWNLOAD, UPLOAD or UPLOAD_REPLY)");
}

void create_job(ApiContext& ctx, const Request& req, Response& res) {
  check_query(req, {});
  const json body = body_of(req, {"display_name", "type", "description", "priority", "minimum_retry_delay",
                                  "no_progress_timeout", "security_flags", "custom_headers", "proxy_settings",
                                  "reply_file_name", "files", "resume"});
  const std::string name = *text_field(body, "display_name", true);
  const JobType type = type_named(text_field(body, "type").value_or("DOWNLOAD"));
  json rest = body;
  rest.erase("display_name");
  rest.erase("type");
  rest.erase("files");
  rest.erase("resume");
  const PropertyChanges changes = property_changes(rest);
  const std::vector<FileSpec> files = file_specs(body);
  bool resume = false;
  if (auto it = body.find("resume"); it != body.end()) {
    if (!it->is_boolean()) bad_request("'resume' must be true or false");
    resume = it->get<bool>();
  }
  // Checked before the job is made, so a refused request makes none.
  check(check_properties(changes, type));
  check(check_new_files(files, type, ctx.allow_other_schemes));
  Job job = value_or_refuse(ctx.queue.create_job(name, type));
  // What the checks cannot see (a target another job holds, the store)
  // refuses after the job exists: it is cancelled, so no half-made job runs.
  try {
    apply(job, changes);
    if (!files.empty()) check(job.add_files(files));
    if (resume) check(job.resume());
  } catch (const ApiError& e) {
    const std::error_code cancelled = job.cancel();
    throw ApiError{e.status, e.hresult,
                   e.message + " (the job made for this request, " + job.id() +
                       (cancelled ? ", could not be cancelled: " + cancelled.message() + "; it is left as it is)"
                                  : ", was cancelled)")};
  }
  res.set_header("Location", "/api/jobs/" + job.id());
  send_json(res, job_with_files(job), 201);
}

void list_jobs(ApiContext& ctx, const Request& req, Response& res) {
  check_query(req, {"all"});
  bool all = false;
  if (req.has_param("all")) {
    const std::string v = req.get_param_value("all");
    if (v != "true" && v != "false" && v != "1" && v != "0") bad_request("'all' must be true or false");
    all = v == "true" || v == "1";
  }
  const std::vector<JobInfo> infos = value_or_refuse(ctx.queue.job_infos(all));
  json jobs = json::array();
  for (const JobInfo& i : infos) jobs.push_back(job_json(i, nullptr));
  send_json(res, {{"jobs", std::move(jobs)}});
}

// POST /api/jobs/{id}/<action>: no fields, the job with its files back.
void job_action(ApiContext& ctx, const Request& req, Response& res, const std::string& action) {
  check_query(req, {});
  body_of(req, {});
  Job job = job_at(ctx, req);
  if (action == "suspend") check(job.suspend());
  else if (action == "resume") check(job.resume());
  else if (action == "cancel") check(job.cancel());
  else if (action == "complete") {
    CompleteStatus status{};
    check(job.complete(&status));
    send_json(res, {{"status", status == CompleteStatus::all_files ? "S_OK" : "BG_S_PARTIAL_COMPLETE"},
                    {"job", job_with_files(job)}});
    return;
  }
  send_json(res, job_with_files(job));
}

void credential_names(const std::string& target, const std::string& scheme, AuthTarget* t, AuthScheme* s) {
  const std::string tu = upper(target), su = upper(scheme);
  if (tu == "SERVER") *t = AuthTarget::server;
  else if (tu == "PROXY") *t = AuthTarget::proxy;
  else bad_request("unknown credentials target '" + shown(target) + "' (SERVER or PROXY)");
  if (su == "BASIC") *s = AuthScheme::basic;
  else if (su == "DIGEST") *s = AuthScheme::digest;
  else if (su == "BEARER") *s = AuthScheme::bearer;
  else bad_request("unknown credentials scheme '" + shown(scheme) + "' (BASIC, DIGEST or BEARER)");
}

void set_credentials(ApiContext& ctx, const Request& req, Response& res) {
  check_query(req, {});
  const json body = body_of(req, {"target", "scheme", "user", "password"});
  AuthTarget target{};
  AuthScheme scheme{};
  credential_names(*text_field(body, "target", true), *text_field(body, "scheme", true), &target, &scheme);
  const std::string user = text_field(body, "user").value_or("");
  const std::string password = *text_field(body, "password", true);
  Job job = job_at(ctx, req);
  check(job.set_credentials(target, scheme, user, password));
  res.status = 204;
}

void remove_credentials(ApiContext& ctx, const Request& req, Response& res) {
  check_query(req, {});
  body_of(req, {});
  AuthTarget target{};
  AuthScheme scheme{};
  credential_names(req.matches[2], req.matches[3], &target, &scheme);
  Job job = job_at(ctx, req);
  check(job.remove_credentials(target, scheme));
  res.status = 204;
}

json status_json(ApiContext& ctx) {
  json worker = {{"running", true}, {"error", nullptr}};
  if (auto ec = ctx.queue.worker_error()) {
    worker["running"] = false;
    worker["error"] = {{"name", hresult_name(to_hresult(ec))}, {"hresult", hresult_hex(to_hresult(ec))},
                       {"message", ec.message()}};
  }
  return {{"queue", shown_queue(ctx.queue.path())}, {"version", "0.1.0"}, {"worker", worker}};
}

}  // namespace

void install_api(httplib::Server& server, ApiContext& ctx) {
  ApiContext* c = &ctx;
  const std::string job = R"(/api/jobs/([^/]+))";
  server.Get("/api/status", route([c](const Request& req, Response& res) {
    check_query(req, {});
    send_json(res, status_json(*c));
  }));
  server.Get("/api/jobs", route([c](const Request& req, Response& res) { list_jobs(*c, req, res); }));
  server.Post("/api/jobs", route([c](const Request& req, Response& res) { create_job(*c, req, res); }));
  server.Get(job, route([c](const Request& req, Response& res) {
    check_query(req, {});
    send_json(res, job_with_files(job_at(*c, req)));
  }));
  server.Patch(job, route([c](const Request& req, Response& res) {
    check_query(req, {});
    const PropertyChanges changes = property_changes(body_of(req, kPropertyFields));
    Job j = job_at(*c, req);
    const JobInfo info = value_or_refuse(j.info());
    // A final job's first setter refuses it (409) before changing anything.
    if (!is_final(info.state)) check(check_properties(changes, info.type));
    apply(j, changes);
    send_json(res, job_with_files(j));
  }));
  server.Get(job + "/files", route([c](const Request& req, Response& res) {
    check_query(req, {});
    send_json(res, {{"files", job_with_files(job_at(*c, req))["files"]}});
  }));
  server.Post(job + "/files", route([c](const Request& req, Response& res) {
    check_query(req, {});
    const json body = body_of(req, {"files"});
    const std::vector<FileSpec> files = file_specs(body);
    if (files.empty()) bad_request("'files' must list at least one {remote_url, local_path}");
    Job j = job_at(*c, req);
    check(j.add_files(files));
    send_json(res, job_with_files(j));
  }));
  for (const char* action : {"suspend", "resume", "cancel", "complete"}) {
    const std::string a = action;
    server.Post(job + "/" + a, route([c, a](const Request& req, Response& res) { job_action(*c, req, res, a); }));
  }
  server.Put(job + "/credentials", route([c](const Request& req, Response& res) { set_credentials(*c, req, res); }));
  server.Delete(job + "/credentials/([^/]+)/([^/]+)",
                route([c](const Request& req, Response& res) { remove_credentials(*c, req, res); }));
}

}  // namespace xferq::cli
