// commands.cc — what each `xferq` subcommand does.
#include "commands.h"
#include "fileset.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace xferq::cli {
namespace {

namespace fs = std::filesystem;

std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) { g_signal.store(sig); }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Thrown inside a command to stop it with a reported failure.
struct Fail {
  Failure f;
};

[[noreturn]] void fail(const std::error_code& ec, const std::string& text = "") {
  throw Fail{{exit_status_for(ec), describe(ec, text)}};
}

[[noreturn]] void fail_arg(const std::string& text) {
  throw Fail{{kExitBadArgument, describe(make_error_code(Errc::invalid_arg), text)}};
}

// `create`: the command may create the queue (create, transfer, run); the
// others read or steer an existing one and never make a file or directory.
std::unique_ptr<Queue> open_queue(const Globals& g, bool worker, bool create = false) {
  QueueOptions o;
  o.start_worker = worker;
  o.create_if_missing = create;
  const std::string path = resolve_db_path(g.db, create);
  auto q = Queue::open(path, o);
  if (!q && q.error() == make_error_code(Errc::file_not_found))
    fail(q.error(), "no queue at " + shown(path) + " (xferq create makes one)");
  if (!q) fail(q.error(), "cannot open the queue " + shown(path) + ": " + q.error().message());
  return std::move(*q);
}

// A GUID, or a display name unique among active jobs.
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

// Reports a call's error; DO_E_INVALID_STATE says which call and state.
void check(const std::error_code& ec, const Job& job, const std::string& verb) {
  if (!ec) return;
  if (ec == make_error_code(Errc::invalid_state))
    fail(ec, "cannot " + verb + " a job that is " + state_of(job));
  fail(ec);
}

template <typename T>
T get(Result<T> r) {
  if (!r) fail(r.error());
  return std::move(*r);
}

std::string absolute_path(const std::string& p) {
  if (p.empty()) fail_arg("empty local path");
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(p), ec);
  if (ec) fail_arg("cannot make '" + p + "' absolute: " + ec.message());
  return abs.lexically_normal().string();
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
  return job_json(info, &files);
}

template <typename F>
int guarded(F&& f) {
  try {
    return f();
  } catch (const Fail& e) {
    return report(e.f);
  } catch (const std::exception& e) {
    return report(Failure{kExitFailure, std::string("E_FAIL: ") + e.what()});
  }
}

}  // namespace

int cmd_create(const Globals& g, const std::string& name, JobType type) {
  return guarded([&] {
    auto q = open_queue(g, false, true);
    Job job = get(q->create_job(name, type));
    std::cout << job.id() << "\n";
    return kExitOk;
  });
}

int cmd_addfile(const Globals& g, const std::string& jobref, const std::string& url, const std::string& path) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    const std::string abs = absolute_path(path);
    check(job.add_file(url, abs), job, "add a file to");
    // The URL as the queue shows it: credentials in it are never printed.
    auto files = get(job.files());
    std::cout << "Added " << shown(files.empty() ? url : files.back().remote_url) << " -> "
              << shown(files.empty() ? abs : files.back().local_path) << " to job " << job.id() << ".\n";
    return kExitOk;
  });
}

int cmd_addfileset(const Globals& g, const std::string& jobref, const std::string& listfile) {
  return guarded([&] {
    std::ifstream in(listfile);
    if (!in) fail(make_error_code(Errc::file_not_found), "cannot read " + listfile);
    std::vector<FilesetEntry> entries;
    int bad_line = 0;
    if (!parse_fileset(in, &entries, &bad_line))
      fail_arg(shown(listfile) + ":" + std::to_string(bad_line) + ": expected \"URL PATH\"");
    std::vector<FileSpec> specs;
    for (const FilesetEntry& e : entries) specs.push_back({e.url, absolute_path(e.path)});
    if (specs.empty()) fail_arg(listfile + " lists no files");
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.add_files(specs), job, "add files to");
    std::cout << "Added " << specs.size() << " file(s) to job " << job.id() << ".\n";
    return kExitOk;
  });
}

namespace {

// One line per job and a count, as `list` prints them.
void print_job_lines(const std::vector<JobInfo>& infos) {
  for (const JobInfo& i : infos) {
    std::cout << i.id << " '" << shown(i.display_name) << "' " << to_string(i.state) << " "
              << i.progress.files_transferred << " / " << i.progress.files_total << " "
              << i.progress.bytes_transferred << " / " << size_text(i.progress.bytes_total) << "\n";
  }
  std::cout << "Listed " << infos.size() << " job(s).\n";
}

}  // namespace

int cmd_list(const Globals& g, bool all) {
  return guarded([&] {
    auto q = open_queue(g, false);
    auto infos = get(q->job_infos(all));
    if (g.json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const JobInfo& i : infos) {
        auto job = q->get_job(i.id);
        auto files = job ? job->files() : Result<std::vector<FileInfo>>(job.error());
        arr.push_back(job_json(i, files ? &*files : nullptr));
      }
      print_json(arr);
      return kExitOk;
    }
    print_job_lines(infos);
    return kExitOk;
  });
}

int cmd_info(const Globals& g, const std::string& jobref, bool verbose) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    if (g.json) {
      print_json(full_json(job));
      return kExitOk;
    }
    JobInfo i = get(job.info());
    std::cout << "GUID: " << i.id << " DISPLAY: '" << shown(i.display_name) << "'\n"
              << "TYPE: " << to_string(i.type) << " STATE: " << to_string(i.state)
              << " OWNER: " << i.owner << "\n"
              << "PRIORITY: " << to_string(i.priority) << " FILES: " << i.progress.files_transferred << " / "
              << i.progress.files_total << " BYTES: " << i.progress.bytes_transferred << " / "
              << size_text(i.progress.bytes_total) << "\n"
              << "CREATION TIME: " << iso8601(i.times.creation)
              << " MODIFICATION TIME: " << iso8601(i.times.modification) << "\n"
              << "COMPLETION TIME: "
              << (i.times.transfer_completion ? iso8601(*i.times.transfer_completion) : std::string("UNKNOWN"))
              << "\n"
              << "ERROR COUNT: " << i.error_count << "\n";
    if (i.error)
      std::cout << "ERROR: " << hresult_hex(i.error->hresult) << " " << hresult_name(i.error->hresult)
                << " CONTEXT: " << to_string(i.error->context) << " - " << shown(i.error->description) << "\n";
    if (verbose) {
      std::cout << "DESCRIPTION: " << shown(i.description) << "\n"
                << "MINIMUM RETRY DELAY: " << i.minimum_retry_delay.count() << "\n"
                << "NO PROGRESS TIMEOUT: " << i.no_progress_timeout.count() << "\n";
      auto files = get(job.files());
      std::cout << "FILES:\n";
      for (const FileInfo& f : files)
        std::cout << "  " << f.bytes_transferred << " / " << size_text(f.bytes_total) << " "
                  << (f.completed ? "COMPLETED" : "WORKING") << " " << shown(f.remote_url) << " -> "
                  << shown(f.local_path) << (f.final_url.empty() ? std::string() : " (from " + shown(f.final_url) + ")")
                  << "\n";
    }
    return kExitOk;
  });
}

int cmd_getstate(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    JobState s = get(job.state());
    if (g.json)
      print_json({{"id", job.id()}, {"state", std::string(to_string(s))}});
    else
      std::cout << to_string(s) << "\n";
    return kExitOk;
  });
}

int cmd_getprogress(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    JobProgress p = get(job.progress());
    if (g.json) {
      nlohmann::json j = progress_json(p);
      j["id"] = job.id();
      print_json(j);
    } else {
      std::cout << p.bytes_transferred << " / " << size_text(p.bytes_total) << " bytes, "
                << p.files_transferred << " / " << p.files_total << " files\n";
    }
    return kExitOk;
  });
}

int cmd_geterror(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    auto e = job.error();
    if (!e) {
      if (e.error() == make_error_code(Errc::error_information_unavailable))
        fail(e.error(), "job " + job.id() + " is " + state_of(job) + ", not in ERROR or TRANSIENT_ERROR");
      fail(e.error());
    }
    if (g.json) {
      print_json({{"id", job.id()}, {"error", error_json(*e)}});
    } else {
      std::cout << "ERROR CODE: " << hresult_hex(e->hresult) << " - " << hresult_name(e->hresult) << "\n"
                << "ERROR CONTEXT: " << to_string(e->context) << "\n"
                << "DESCRIPTION: " << shown(e->description) << "\n";
      if (e->file_index) {
        auto files = job.files();
        if (files && *e->file_index < files->size())
          std::cout << "FILE: " << shown((*files)[*e->file_index].remote_url) << " -> "
                    << shown((*files)[*e->file_index].local_path) << "\n";
      }
    }
    return kExitOk;
  });
}

int cmd_setpriority(const Globals& g, const std::string& jobref, const std::string& priority) {
  return guarded([&] {
    JobPriority p;
    if (!parse_priority(priority, &p))
      fail_arg("unknown priority '" + priority + "' (FOREGROUND, HIGH, NORMAL or LOW)");
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_priority(p), job, "set the priority of");
    std::cout << "Priority set to " << to_string(p) << ".\n";
    return kExitOk;
  });
}

int cmd_setdisplayname(const Globals& g, const std::string& jobref, const std::string& name) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_display_name(name), job, "rename");
    std::cout << "Display name set to '" << shown(name) << "'.\n";
    return kExitOk;
  });
}

int cmd_setcustomheaders(const Globals& g, const std::string& jobref, const std::vector<std::string>& headers) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_custom_headers(headers), job, "set the custom headers of");
    std::cout << (headers.empty() ? std::string("Custom headers removed.\n")
                                  : std::to_string(headers.size()) + " custom header(s) set.\n");
    return kExitOk;
  });
}

int cmd_getcustomheaders(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    for (const std::string& h : get(job.custom_headers())) std::cout << shown(hidden_secret(h)) << "\n";
    return kExitOk;
  });
}

int cmd_setsecurityflags(const Globals& g, const std::string& jobref, const std::string& text) {
  return guarded([&] {
    // bitsadmin /SetSecurityFlags takes the BITS value, decimal or 0x-hex.
    char* end = nullptr;
    const unsigned long v = std::strtoul(text.c_str(), &end, 0);
    if (text.empty() || !end || *end != '\0' || v > 0xFFFFFFFFul) fail_arg("security flags must be a number: " + shown(text));
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_security_flags(static_cast<uint32_t>(v)), job, "set the security flags of");
    std::cout << "Security flags set to " << hresult_hex(static_cast<uint32_t>(v)) << ".\n";
    return kExitOk;
  });
}

namespace {

// bitsadmin's words: SERVER|PROXY and BASIC|DIGEST|BEARER (any case).
void parse_auth(const std::string& target_word, const std::string& scheme_word, AuthTarget* target,
                AuthScheme* scheme) {
  std::string t = target_word, s = scheme_word;
  for (char& c : t) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (t == "SERVER") *target = AuthTarget::server;
  else if (t == "PROXY") *target = AuthTarget::proxy;
  else fail_arg("the target must be SERVER or PROXY, not " + shown(target_word));
  if (s == "BASIC") *scheme = AuthScheme::basic;
  else if (s == "DIGEST") *scheme = AuthScheme::digest;
  else if (s == "BEARER") *scheme = AuthScheme::bearer;
  else fail_arg("the scheme must be BASIC, DIGEST or BEARER, not " + shown(scheme_word));
}

}  // namespace

int cmd_setcredentials(const Globals& g, const std::string& jobref, const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.size() != 4) throw Fail{{kExitUsage, "usage: setcredentials JOB SERVER|PROXY BASIC|DIGEST|BEARER USER PASSWORD"}};
    AuthTarget target;
    AuthScheme scheme;
    parse_auth(args[0], args[1], &target, &scheme);
    std::string password = args[3];
    if (password == "-") {
      // From standard input, so that it need not show in the process list.
      if (!std::getline(std::cin, password)) fail_arg("no password on standard input");
      if (!password.empty() && password.back() == '\r') password.pop_back();
    }
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_credentials(target, scheme, args[2], password), job, "set the credentials of");
    std::cout << "Credentials set.\n";  // never echoed
    return kExitOk;
  });
}

int cmd_setproxysettings(const Globals& g, const std::string& jobref, const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.empty() || args.size() > 3)
      throw Fail{{kExitUsage, "usage: setproxysettings JOB PRECONFIG|NO_PROXY|OVERRIDE [LIST [BYPASS]]"}};
    std::string usage = args[0];
    for (char& c : usage) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ProxySettings p;
    if (usage == "PRECONFIG") p.usage = ProxyUsage::preconfig;
    else if (usage == "NO_PROXY") p.usage = ProxyUsage::no_proxy;
    else if (usage == "OVERRIDE") p.usage = ProxyUsage::override_list;
    else fail_arg("the usage must be PRECONFIG, NO_PROXY or OVERRIDE, not " + shown(args[0]));
    if (args.size() > 1) p.proxy_list = args[1];
    if (args.size() > 2) p.bypass_list = args[2];
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_proxy_settings(p), job, "set the proxy settings of");
    std::cout << "Proxy settings set.\n";
    return kExitOk;
  });
}

int cmd_removecredentials(const Globals& g, const std::string& jobref, const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.size() != 2) throw Fail{{kExitUsage, "usage: removecredentials JOB SERVER|PROXY BASIC|DIGEST|BEARER"}};
    AuthTarget target;
    AuthScheme scheme;
    parse_auth(args[0], args[1], &target, &scheme);
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.remove_credentials(target, scheme), job, "remove the credentials of");
    std::cout << "Credentials removed.\n";
    return kExitOk;
  });
}

int cmd_getsecurityflags(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    std::cout << hresult_hex(get(job.security_flags())) << "\n";
    return kExitOk;
  });
}

int cmd_setdescription(const Globals& g, const std::string& jobref, const std::string& text) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_description(text), job, "set the description of");
    std::cout << "Description set.\n";
    return kExitOk;
  });
}

int cmd_setreplyfilename(const Globals& g, const std::string& jobref, const std::string& path) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    const std::string abs = absolute_path(path);
    check(job.set_reply_file_name(abs), job, "set the reply file name of");
    std::cout << "Reply file name set to " << shown(abs) << ".\n";
    return kExitOk;
  });
}

int cmd_setminretrydelay(const Globals& g, const std::string& jobref, const std::string& seconds) {
  return guarded([&] {
    const int64_t s = parse_seconds(seconds);
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_minimum_retry_delay(std::chrono::seconds(s)), job, "set the minimum retry delay of");
    std::cout << "Minimum retry delay set to " << get(job.minimum_retry_delay()).count() << " s.\n";
    return kExitOk;
  });
}

int cmd_setnoprogresstimeout(const Globals& g, const std::string& jobref, const std::string& seconds) {
  return guarded([&] {
    const int64_t s = parse_seconds(seconds);
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_no_progress_timeout(std::chrono::seconds(s)), job, "set the no-progress timeout of");
    std::cout << "No-progress timeout set to " << get(job.no_progress_timeout()).count() << " s.\n";
    return kExitOk;
  });
}

int cmd_suspend(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.suspend(), job, "suspend");
    std::cout << "Job suspended.\n";
    return kExitOk;
  });
}

int cmd_resume(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.resume(), job, "resume");
    std::cout << "Job resumed.\n";
    return kExitOk;
  });
}

int cmd_cancel(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.cancel(), job, "cancel");
    std::cout << "Job canceled.\n";
    return kExitOk;
  });
}

int cmd_complete(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    CompleteStatus st = CompleteStatus::all_files;
    check(job.complete(&st), job, "complete");
    if (st == CompleteStatus::partial)
      std::cout << "Job partially completed (" << hresult_name(kBG_S_PARTIAL_COMPLETE)
                << "): only the finished files were kept.\n";
    else
      std::cout << "Job completed.\n";
    return kExitOk;
  });
}

int cmd_reset(const Globals& g) {
  return guarded([&] {
    auto q = open_queue(g, false);
    auto jobs = get(q->jobs(false));
    size_t cancelled = 0;
    for (Job& job : jobs) {
      auto ec = job.cancel();
      if (!ec) {
        ++cancelled;
        std::cout << job.id() << " canceled.\n";
      } else {
        std::cerr << "xferq: " << describe(ec, job.id() + " could not be canceled: " + ec.message()) << "\n";
      }
    }
    std::cout << cancelled << " out of " << jobs.size() << " jobs canceled.\n";
    return cancelled == jobs.size() ? kExitOk : kExitFailure;
  });
}

int cmd_run(const Globals& g, bool until_idle) {
  return guarded([&] {
    install_signal_handlers();
    auto q = open_queue(g, true, true);
    auto busy = [&]() -> bool {
      // The worker stopped because the queue failed under it: say why, exit non-zero.
      if (auto ec = q->worker_error()) fail(ec, "the worker stopped: " + ec.message());
      auto infos = q->job_infos(false);
      if (!infos && infos.error() == make_error_code(Errc::busy)) return true;  // passing: keep serving
      if (!infos) fail(infos.error());
      for (const JobInfo& i : *infos) {
        switch (i.state) {
          case JobState::queued:
          case JobState::connecting:
          case JobState::transferring:
          case JobState::transient_error:
            return true;
          default:
            break;
        }
      }
      return false;
    };
    while (g_signal.load() == 0) {
      if (!until_idle) {
        if (auto ec = q->worker_error()) fail(ec, "the worker stopped: " + ec.message());
      } else if (!busy()) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    q->stop_worker();
    // A served queue stopped by a signal is a normal end; --until-idle cut
    // short by one is an interruption.
    if (g_signal.load() != 0 && until_idle) return kExitInterrupted;
    return kExitOk;
  });
}

int cmd_monitor(const Globals& g, bool all, double refresh, long count) {
  return guarded([&] {
    if (!(refresh >= 0.0) || refresh > 86400.0) fail_arg("--refresh must be between 0 and 86400 seconds");
    if (count < 0) fail_arg("--count must not be negative");
    install_signal_handlers();
    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    auto q = open_queue(g, false);
    const auto period = std::chrono::microseconds(static_cast<int64_t>(refresh * 1e6));
    for (long n = 0; g_signal.load() == 0 && (count == 0 || n < count); ++n) {
      if (n > 0) {
        const auto end = std::chrono::steady_clock::now() + period;
        while (g_signal.load() == 0 && std::chrono::steady_clock::now() < end)
          std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
              std::chrono::milliseconds(20), end - std::chrono::steady_clock::now()));
        if (g_signal.load() != 0) break;
      }
      auto infos = q->job_infos(all);
      if (!infos) {
        // A busy database is transient: say so and try again next time.
        if (tty) std::cout << "\033[H\033[2J";
        std::cout << "xferq: " << describe(infos.error()) << "\n" << std::flush;
        continue;
      }
      if (tty) std::cout << "\033[H\033[2J";
      print_job_lines(*infos);
      std::cout << std::flush;
    }
    return kExitOk;  // SIGINT is how a monitor is meant to end
  });
}

namespace {

// Rate and ETA for `transfer`: a rate smoothed over the last samples, so the
// ETA does not jump with every progress commit.
class ProgressMeter {
 public:
  void sample(int64_t bytes) {
    const auto now = std::chrono::steady_clock::now();
    if (have_) {
      const double dt = std::chrono::duration<double>(now - at_).count();
      if (dt >= 0.2) {
        const double instant = static_cast<double>(bytes - bytes_) / dt;
        rate_ = rate_ < 0 ? instant : 0.7 * rate_ + 0.3 * instant;
        at_ = now;
        bytes_ = bytes;
      }
    } else {
      have_ = true;
      at_ = now;
      bytes_ = bytes;
    }
  }
  double rate() const { return rate_ < 0 ? 0 : rate_; }
  // "12.3 MiB/s  ETA 0:42", or "" before the first measurement.
  std::string text(int64_t done, int64_t total) const {
    if (rate_ < 0) return "";
    std::ostringstream out;
    out.setf(std::ios::fixed);
    out.precision(1);
    out << rate() / (1024.0 * 1024.0) << " MiB/s";
    if (total > 0 && rate() > 1) {
      const auto left = static_cast<int64_t>(static_cast<double>(total - done) / rate());
      out << "  ETA " << left / 60 << ":" << (left % 60 < 10 ? "0" : "") << left % 60;
    }
    return out.str();
  }

 private:
  bool have_ = false;
  std::chrono::steady_clock::time_point at_;
  int64_t bytes_ = 0;
  double rate_ = -1;
};

// "[########............]  42%" for a terminal.
std::string bar(int64_t done, int64_t total) {
  constexpr int kWidth = 24;
  if (total <= 0) return "[" + std::string(kWidth, '?') + "]    ?%";
  const int filled = static_cast<int>(kWidth * done / total);
  const int pct = static_cast<int>(100 * done / total);
  std::string pct_text = std::to_string(pct);
  return "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] " +
         std::string(3 - std::min<size_t>(3, pct_text.size()), ' ') + pct_text + "%";
}

}  // namespace

int cmd_transfer(const Globals& g, const std::vector<std::string>& pairs, const std::string& name,
                 const std::string& priority) {
  return guarded([&] {
    if (pairs.empty() || pairs.size() % 2 != 0)
      throw Fail{{kExitUsage, "usage: transfer URL PATH [URL PATH ...]"}};
    JobPriority prio = JobPriority::foreground;
    if (!priority.empty() && !parse_priority(priority, &prio))
      fail_arg("unknown priority '" + priority + "' (FOREGROUND, HIGH, NORMAL or LOW)");
    std::vector<FileSpec> specs;
    for (size_t k = 0; k < pairs.size(); k += 2) specs.push_back({pairs[k], absolute_path(pairs[k + 1])});

    install_signal_handlers();
    auto q = open_queue(g, true, true);
    Job job = get(q->create_job(name.empty() ? std::string("xferq transfer") : name));
    auto abandon = [&](const Failure& f) {
      job.cancel();
      throw Fail{f};
    };
    if (auto ec = job.add_files(specs)) abandon({exit_status_for(ec), describe(ec)});
    if (auto ec = job.set_priority(prio)) abandon({exit_status_for(ec), describe(ec)});
    if (auto ec = job.resume()) abandon({exit_status_for(ec), describe(ec)});
    std::cout << "Transfer job " << job.id() << " started.\n" << std::flush;

    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    ProgressMeter meter;
    std::string last;
    for (;;) {
      if (g_signal.load() != 0) {
        auto ec = job.cancel();
        std::cerr << "xferq: interrupted; job " << job.id()
                  << (ec ? " could not be canceled: " + describe(ec) : std::string(" canceled.")) << "\n";
        return kExitInterrupted;
      }
      auto info = job.info();
      if (!info) fail(info.error());
      const JobInfo& i = *info;
      meter.sample(i.progress.bytes_transferred);
      if (tty) {
        // One line, redrawn in place: bar, bytes, rate, ETA.
        std::cout << "\r\033[K" << bar(i.progress.bytes_transferred, i.progress.bytes_total) << "  "
                  << i.progress.bytes_transferred / 1024 << " / "
                  << (i.progress.bytes_total < 0 ? std::string("?") : std::to_string(i.progress.bytes_total / 1024))
                  << " KiB  " << meter.text(i.progress.bytes_transferred, i.progress.bytes_total) << "  "
                  << to_string(i.state) << std::flush;
        if (i.state == JobState::transferred || i.state == JobState::error || is_final(i.state))
          std::cout << "\n";
      }
      std::ostringstream line;
      line << to_string(i.state) << ": " << i.progress.bytes_transferred << " / "
           << size_text(i.progress.bytes_total) << " bytes, " << i.progress.files_transferred << " / "
           << i.progress.files_total << " files";
      if (i.state == JobState::transient_error && i.error)
        line << " (" << hresult_name(i.error->hresult) << ": " << i.error->description << "; will retry)";
      if (!tty && line.str() != last) {
        last = line.str();
        const std::string rate = meter.text(i.progress.bytes_transferred, i.progress.bytes_total);
        std::cout << last << (rate.empty() ? "" : ", " + rate) << "\n" << std::flush;
      }
      if (i.state == JobState::transferred) {
        CompleteStatus st;
        if (auto ec = job.complete(&st)) check(ec, job, "complete");
        std::cout << "Transfer complete.\n";
        return kExitOk;
      }
      if (i.state == JobState::error) {
        std::string text = "the transfer failed";
        uint32_t hr = 0;
        if (i.error) {
          hr = i.error->hresult;
          text = i.error->description + " (" + std::string(to_string(i.error->context)) + ")";
        }
        job.cancel();
        std::cerr << "xferq: " << hresult_name(hr) << ": " << text << "; job " << job.id() << " canceled.\n";
        return kExitFailure;
      }
      if (is_final(i.state)) {
        std::cerr << "xferq: job " << job.id() << " was " << to_string(i.state) << " by someone else.\n";
        return kExitFailure;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
}

}  // namespace xferq::cli
