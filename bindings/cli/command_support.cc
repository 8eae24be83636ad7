// command_support.cc — see command_support.h.
#include "command_support.h"
#include "fileset.h"

#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace xferq::cli {

namespace fs = std::filesystem;

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

bool StopSignals::wait(std::chrono::nanoseconds timeout) {
  if (taken_) return true;
  if (timeout.count() < 0) timeout = std::chrono::nanoseconds(0);
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const timespec ts{static_cast<time_t>(s.count()), static_cast<long>((timeout - s).count())};
  // EINTR (another signal's handler ran) or EAGAIN (the time passed): not taken.
  if (::sigtimedwait(&set_, nullptr, &ts) > 0) taken_ = true;
  return taken_;
}

[[noreturn]] void fail(const std::error_code& ec, const std::string& text) {
  throw Fail{{exit_status_for(ec), describe(ec, text)}};
}

[[noreturn]] void fail_arg(const std::string& text) {
  throw Fail{{kExitBadArgument, describe(make_error_code(Errc::invalid_arg), text)}};
}

std::unique_ptr<Queue> open_queue(const Globals& g, bool worker, bool create) {
  QueueOptions o;
  o.start_worker = worker;
  o.create_if_missing = create;
  const std::string path = resolve_db_path(g.db, create);
  auto q = Queue::open(path, o);
  if (!q && q.error() == make_error_code(Errc::file_not_found))
    fail(q.error(), "no queue at " + shown_queue(path) + " (xferq create makes one)");
  if (!q) fail(q.error(), "cannot open the queue " + shown_queue(path) + ": " + q.error().message());
  return std::move(*q);
}

Job find_job(Queue& q, const std::string& ref) {
  auto j = q.get_job(ref);
  if (j) return *j;
  if (j.error() != make_error_code(Errc::not_found) && j.error() != make_error_code(Errc::invalid_arg))
    fail(j.error());
  auto infos = q.job_infos(false);
  if (!infos) fail(infos.error());
  std::vector<std::string> matches;
  for (const JobInfo& i : *infos)
    if (i.display_name == ref) matches.push_back(i.id);
  if (matches.empty()) fail(make_error_code(Errc::not_found), "no job with id or name '" + ref + "'");
  if (matches.size() > 1) {
    std::string list;
    for (const auto& m : matches) list += (list.empty() ? "" : ", ") + m;
    fail_arg("the name '" + ref + "' matches several jobs: " + list);
  }
  auto found = q.get_job(matches.front());
  if (!found) fail(found.error());
  return *found;
}

std::string state_of(const Job& job) {
  auto s = job.state();
  return s ? std::string(to_string(*s)) : std::string("UNKNOWN");
}

void check(const std::error_code& ec, const Job& job, const std::string& verb) {
  if (!ec) return;
  if (ec == make_error_code(Errc::invalid_state))
    fail(ec, "cannot " + verb + " a job that is " + state_of(job));
  fail(ec);
}

std::string absolute_path(const std::string& p) {
  if (p.empty()) fail_arg("empty local path");
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(p), ec);
  if (ec) fail_arg("cannot make '" + p + "' absolute: " + ec.message());
  return abs.lexically_normal().string();
}

std::string secret_from_stdin(const char* what) {
  std::string secret;
  if (!std::getline(std::cin, secret)) fail_arg(std::string("no ") + what + " on standard input");
  if (!secret.empty() && secret.back() == '\r') secret.pop_back();
  return secret;
}

int64_t parse_seconds(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
    fail_arg("'" + s + "' is not a number of seconds");
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno == ERANGE || v > 0x7FFFFFFFull) fail_arg("'" + s + "' seconds is too large");
  return static_cast<int64_t>(v);
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << "\n"; }

nlohmann::json full_json(const Job& job) {
  JobInfo info = get(job.info());
  auto files = get(job.files());
  nlohmann::json j = job_json(info, &files);
  // The TLS options (paths only: the key's passphrase is never read back).
  const TlsOptions tls = get(job.tls_options());
  j["tls"] = {{"ca_bundle", tls.ca_bundle},
              {"ca_directory", tls.ca_directory},
              {"client_certificate", tls.client_certificate},
              {"client_key", tls.client_key},
              {"has_client_key_password", tls.has_client_key_password}};
  const NotifyCommandLine notify = get(job.notify_command_line());
  j["notify_command_line"] = {{"program", notify.program}, {"args", notify.args}};
  return j;
}

void print_job_lines(const std::vector<JobInfo>& infos) {
  for (const JobInfo& i : infos) {
    std::cout << i.id << " '" << shown(i.display_name) << "' " << to_string(i.state) << " "
              << i.progress.files_transferred << " / " << i.progress.files_total << " "
              << i.progress.bytes_transferred << " / " << size_text(i.progress.bytes_total) << "\n";
  }
  std::cout << "Listed " << infos.size() << " job(s).\n";
}

void print_file_lines(const FileInfo& f) {
  std::cout << "  " << f.bytes_transferred << " / " << size_text(f.bytes_total) << " "
            << (f.completed ? "COMPLETED" : "WORKING") << " " << shown(f.remote_url) << " -> " << shown(f.local_path)
            << (f.final_url.empty() ? std::string() : " (from " + shown(f.final_url) + ")") << "\n";
  if (!f.ranges.empty()) std::cout << "    RANGES: " << range_list_text(f.ranges) << "\n";
  const FileIntegrity& e = f.integrity;
  if (!e.empty()) {
    std::cout << "    EXPECTED:";
    if (e.size >= 0) std::cout << " SIZE " << e.size;
    if (!e.sha256.empty()) std::cout << " SHA-256 " << e.sha256;
    if (!e.sha512.empty()) std::cout << " SHA-512 " << e.sha512;
    std::cout << "\n";
  }
  if (f.http_status == 0) return;
  std::cout << "    HTTP " << f.http_status;
  if (!f.content_type.empty()) std::cout << " TYPE: " << shown(f.content_type);
  if (!f.etag.empty()) std::cout << " ETAG: " << shown(f.etag);
  if (!f.last_modified.empty()) std::cout << " LAST-MODIFIED: " << shown(f.last_modified);
  if (!f.content_disposition.empty()) std::cout << " DISPOSITION: " << shown(f.content_disposition);
  std::cout << "\n";
}

void print_tls_lines(const TlsOptions& t) {
  if (t.ca_bundle.empty() && t.ca_directory.empty() && t.client_certificate.empty()) return;
  std::cout << "TLS:";
  if (!t.ca_bundle.empty()) std::cout << " CA BUNDLE: " << shown(t.ca_bundle);
  if (!t.ca_directory.empty()) std::cout << " CA DIRECTORY: " << shown(t.ca_directory);
  if (!t.client_certificate.empty()) std::cout << " CLIENT CERTIFICATE: " << shown(t.client_certificate);
  if (!t.client_key.empty()) std::cout << " KEY: " << shown(t.client_key);
  if (t.has_client_key_password) std::cout << " (KEY PASSPHRASE SET)";
  std::cout << "\n";
}

int exit_status_for(const std::error_code& ec) {
  if (!ec) return kExitOk;
  switch (static_cast<Errc>(to_hresult(ec))) {
    case Errc::not_found:
      return kExitNotFound;
    case Errc::invalid_state:
      return kExitInvalidState;
    case Errc::invalid_arg:
    case Errc::not_implemented:
    case Errc::string_too_long:
    case Errc::unsupported_scheme:
    case Errc::too_many_files_in_job:
    case Errc::too_many_files:
    case Errc::empty:
      return kExitBadArgument;
    default:
      return kExitFailure;
  }
}

std::string describe(const std::error_code& ec, const std::string& text) {
  return hresult_name(to_hresult(ec)) + ": " + (text.empty() ? ec.message() : text);
}

int report(const Failure& f) {
  std::cerr << "xferq: " << f.message << "\n";
  return f.status;
}

int report(const std::error_code& ec, const std::string& text) {
  return report(Failure{exit_status_for(ec), describe(ec, text)});
}

std::string resolve_db_path(const std::string& flag, bool create_dirs) {
  namespace fs = std::filesystem;
  std::string path = flag;
  if (path.empty()) {
    if (const char* e = std::getenv("XFERQ_DB"); e && *e) {
      path = e;
    } else if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) {
      path = std::string(x) + "/xferq/queue.db";
    } else if (const char* h = std::getenv("HOME"); h && *h) {
      path = std::string(h) + "/.local/share/xferq/queue.db";
    } else {
      path = "xferq-queue.db";
    }
  }
  // A PostgreSQL queue's URL is not a file: no absolute path, no directory.
  if (is_database_url(path)) return path;
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(path), ec);
  if (!ec) {
    path = abs.lexically_normal().string();
    if (create_dirs && abs.has_parent_path()) fs::create_directories(abs.parent_path(), ec);
  }
  return path;
}

}  // namespace xferq::cli
