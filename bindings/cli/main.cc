// main.cc — `xferq`, a bitsadmin-like command for xferq queues.
//
//   xferq [--db PATH] [--json] COMMAND ARGS...
//
// Exit status: 0 success, 2 usage error, 3 job not found, 4 call not valid in
// the job's state, 5 bad argument, 130 interrupted, 1 anything else. Failures
// print one line on stderr: "xferq: HRESULT_NAME: what went wrong".
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli.h"
#include "commands.h"

namespace xferq::cli {

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

int main(int argc, char** argv) {
  using namespace xferq::cli;
  Globals g;
  CLI::App app{"xferq: a background transfer queue (bitsadmin-like)", "xferq"};
  app.set_version_flag("--version", "xferq " XFERQ_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--db", g.db, "queue file, or a postgresql:// URL (default: $XFERQ_DB, $XDG_DATA_HOME/xferq/queue.db, ~/.local/share/xferq/queue.db)");
  app.add_flag("--json", g.json, "JSON output for list, info, getstate, getprogress, geterror, getbandwidth");

  std::function<int()> action;
  std::string job, a, b, ranges_spec;
  bool flag = false;
  bool upload = false, upload_reply = false;
  std::vector<std::string> pairs;

  xferq::FileIntegrity integrity;
  auto add_integrity_options = [](CLI::App* s, xferq::FileIntegrity* e) {
    s->add_option("--size", e->size, "the file's size in bytes");
    s->add_option("--sha256", e->sha256, "the file's SHA-256, hex");
    s->add_option("--sha512", e->sha512, "the file's SHA-512, hex");
  };
  auto job_cmd = [&](const char* name, const char* help, int (*fn)(const Globals&, const std::string&)) {
    auto* s = app.add_subcommand(name, help);
    s->add_option("JOB", job, "job GUID or unique display name")->required();
    s->callback([&, fn] { action = [&, fn] { return fn(g, job); }; });
    return s;
  };
  auto job_arg_cmd = [&](const char* name, const char* argname, const char* help,
                         int (*fn)(const Globals&, const std::string&, const std::string&)) {
    auto* s = app.add_subcommand(name, help);
    s->add_option("JOB", job, "job GUID or unique display name")->required();
    s->add_option(argname, a)->required();
    s->callback([&, fn] { action = [&, fn] { return fn(g, job, a); }; });
    return s;
  };

  {
    auto* s = app.add_subcommand("create", "create a SUSPENDED job (a download unless --upload / --upload-reply) and print its GUID");
    s->add_option("NAME", a, "display name")->required();
    auto* up = s->add_flag("--upload", upload, "an upload job (BITS upload protocol; one file, PATH is sent to URL)");
    s->add_flag("--upload-reply", upload_reply, "an upload job whose server answers with a reply file")->excludes(up);
    s->callback([&] {
      action = [&] {
        return cmd_create(g, a, upload_reply ? xferq::JobType::upload_reply
                                : upload     ? xferq::JobType::upload
                                             : xferq::JobType::download);
      };
    });
  }
  {
    auto* s = app.add_subcommand("addfile", "add a file (URL to local PATH) to a job");
    s->add_option("JOB", job)->required();
    s->add_option("URL", a)->required();
    s->add_option("PATH", b)->required();
    add_integrity_options(s, &integrity);
    s->callback([&] { action = [&] { return cmd_addfile(g, job, a, b, integrity); }; });
  }
  {
    auto* s = app.add_subcommand("addfilewithranges",
                                 "add only these byte ranges of URL, back-to-back, as PATH: "
                                 "OFFSET:LENGTH[,OFFSET:LENGTH...] (LENGTH eof: to the end)");
    s->add_option("JOB", job)->required();
    s->add_option("URL", a)->required();
    s->add_option("PATH", b)->required();
    s->add_option("RANGES", ranges_spec)->required();
    s->callback([&] { action = [&] { return cmd_addfilewithranges(g, job, a, b, ranges_spec); }; });
  }
  {
    auto* s = app.add_subcommand("setfileintegrity",
                                 "what a download's file must be: FILE_INDEX [--size N] [--sha256 HEX] [--sha512 HEX]");
    s->add_option("JOB", job)->required();
    s->add_option("FILE_INDEX", a)->required();
    add_integrity_options(s, &integrity);
    s->callback([&] { action = [&] { return cmd_setfileintegrity(g, job, a, integrity); }; });
  }
  {
    auto* s = app.add_subcommand("setvalidationstate",
                                 "reject (FALSE) or accept (TRUE) a transferred file: FILE_INDEX TRUE|FALSE");
    s->add_option("JOB", job)->required();
    s->add_option("FILE_INDEX", a)->required();
    s->add_option("STATE", b)->required();
    s->callback([&] { action = [&] { return cmd_setvalidationstate(g, job, a, b); }; });
  }
  job_arg_cmd("addfileset", "LISTFILE", "add the files listed (\"URL PATH\" lines) to a job", cmd_addfileset);
  {
    auto* s = app.add_subcommand("list", "list active jobs");
    s->add_flag("--all", flag, "include CANCELLED and ACKNOWLEDGED jobs");
    s->callback([&] { action = [&] { return cmd_list(g, flag); }; });
  }
  {
    auto* s = app.add_subcommand("info", "show a job");
    s->add_option("JOB", job)->required();
    s->add_flag("--verbose", flag, "also the description, retry settings and files");
    s->callback([&] { action = [&] { return cmd_info(g, job, flag); }; });
  }
  job_cmd("getstate", "print a job's state", cmd_getstate);
  job_cmd("getprogress", "print a job's progress", cmd_getprogress);
  job_cmd("geterror", "print a job's last error", cmd_geterror);
  job_arg_cmd("setpriority", "PRIORITY", "FOREGROUND, HIGH, NORMAL or LOW", cmd_setpriority);
  job_arg_cmd("setdisplayname", "NAME", "rename a job", cmd_setdisplayname);
  job_arg_cmd("setdescription", "TEXT", "set a job's description", cmd_setdescription);
  {
    auto* s = app.add_subcommand("setcustomheaders",
                                 "set a job's custom HTTP headers (\"Name: value\" each; none: remove them)");
    s->add_option("JOB", job, "job GUID or unique display name")->required();
    s->add_option("HEADER", pairs, "\"Name: value\"");
    s->callback([&] { action = [&] { return cmd_setcustomheaders(g, job, pairs); }; });
  }
  job_arg_cmd("setsecurityflags", "FLAGS",
              "BITS's redirect flags: 0x0000 allow, 0x0100 allow and report, 0x0200 disallow; | 0x0800 allow https->http",
              cmd_setsecurityflags);
  {
    auto* s = app.add_subcommand("setcredentials",
                                 "set a job's credentials: SERVER|PROXY BASIC|DIGEST|BEARER USER PASSWORD (- reads stdin)");
    s->add_option("JOB", job, "job GUID or unique display name")->required();
    s->add_option("ARGS", pairs, "SERVER|PROXY BASIC|DIGEST|BEARER USER PASSWORD")->expected(4);
    s->callback([&] { action = [&] { return cmd_setcredentials(g, job, pairs); }; });
  }
  {
    auto* s = app.add_subcommand("removecredentials", "remove a job's credentials: SERVER|PROXY BASIC|DIGEST|BEARER");
    s->add_option("JOB", job, "job GUID or unique display name")->required();
    s->add_option("ARGS", pairs, "SERVER|PROXY BASIC|DIGEST|BEARER")->expected(2);
    s->callback([&] { action = [&] { return cmd_removecredentials(g, job, pairs); }; });
  }
  {
    auto* s = app.add_subcommand("setproxysettings", "set a job's proxy: PRECONFIG | NO_PROXY | OVERRIDE LIST [BYPASS]");
    s->add_option("JOB", job, "job GUID or unique display name")->required();
    s->add_option("ARGS", pairs, "PRECONFIG|NO_PROXY|OVERRIDE [LIST [BYPASS]]")->expected(1, 3);
    s->callback([&] { action = [&] { return cmd_setproxysettings(g, job, pairs); }; });
  }
  job_cmd("getsecurityflags", "print a job's security flags", cmd_getsecurityflags);
  auto job_args_cmd = [&](const char* name, const char* help, const char* argnames, int min, int max,
                          int (*fn)(const Globals&, const std::string&, const std::vector<std::string>&)) {
    auto* s = app.add_subcommand(name, help);
    s->add_option("JOB", job, "job GUID or unique display name")->required();
    s->add_option("ARGS", pairs, argnames)->expected(min, max);
    s->callback([&, fn] { action = [&, fn] { return fn(g, job, pairs); }; });
    return s;
  };
  job_args_cmd("setclientcertificate", "set a job's TLS client certificate: CERTFILE [KEYFILE [-]] (PEM; - reads the key's passphrase from stdin)",
               "CERTFILE [KEYFILE [-]]", 1, 3, cmd_setclientcertificate);
  job_cmd("removeclientcertificate", "remove a job's TLS client certificate", cmd_removeclientcertificate);
  job_arg_cmd("setcacertificates", "PATH", "trust the CAs of a PEM bundle or a hashed directory (\"\": the system's)",
              cmd_setcacertificates);
  job_args_cmd("setremotename", "point a download's file at a new URL: FILE_INDEX URL (bytes fetched are kept)",
               "FILE_INDEX URL", 2, 2, cmd_setremotename);
  job_args_cmd("replaceremoteprefix", "rewrite the URLs of a job's files: OLD_PREFIX NEW_PREFIX", "OLD_PREFIX NEW_PREFIX",
               2, 2, cmd_replaceremoteprefix);
  job_arg_cmd("setmaxdownloadtime", "SECONDS", "most time CONNECTING + TRANSFERRING (0: the default, 90 days)",
              cmd_setmaxdownloadtime);
  job_cmd("getmaxdownloadtime", "print a job's maximum download time (seconds)", cmd_getmaxdownloadtime);
  job_arg_cmd("setmaxdownloadsize", "BYTES", "most bytes the job may download (0: no limit)", cmd_setmaxdownloadsize);
  job_cmd("getmaxdownloadsize", "print a job's maximum download size (bytes; 0: no limit)", cmd_getmaxdownloadsize);
  job_cmd("getcustomheaders", "print a job's custom headers (credentials' values hidden)", cmd_getcustomheaders);
  job_arg_cmd("setreplyfilename", "PATH", "upload-reply jobs: where complete() puts the reply",
              cmd_setreplyfilename);
  job_arg_cmd("setminretrydelay", "SECONDS", "seconds to wait before retrying a transient error",
              cmd_setminretrydelay);
  job_arg_cmd("setnoprogresstimeout", "SECONDS", "seconds without progress before a transient error is fatal",
              cmd_setnoprogresstimeout);
  {
    // Everything after JOB is taken as it is ("-c" included): the program's
    // arguments are not xferq's options.
    auto* s = app.add_subcommand("setnotifycmdline",
                                 "run PROGRAM (absolute path, no shell) with ARGs when the job is TRANSFERRED or in "
                                 "ERROR; {job} in an ARG becomes the job's GUID; an empty PROGRAM removes it");
    s->prefix_command();
    s->fallthrough(false);
    s->footer("usage: xferq setnotifycmdline JOB PROGRAM [ARG ...]");
    s->callback([&, s] { action = [&, s] { return cmd_setnotifycmdline(g, s->remaining()); }; });
  }
  job_cmd("getnotifycmdline", "print a job's notify command line: the program, then each argument, one a line",
          cmd_getnotifycmdline);
  job_cmd("suspend", "pause a job", cmd_suspend);
  job_cmd("resume", "queue a job for transfer", cmd_resume);
  job_cmd("cancel", "cancel a job and delete its temporary files", cmd_cancel);
  job_cmd("complete", "accept a job's files (rename them to their final paths)", cmd_complete);
  {
    auto* s = app.add_subcommand("reset", "cancel every active job");
    s->callback([&] { action = [&] { return cmd_reset(g); }; });
  }
  double time_slice = -1;  // -1: QueueOptions' default
  {
    auto* s = app.add_subcommand("run", "serve the queue (run transfers) until SIGINT/SIGTERM");
    s->add_flag("--until-idle", flag, "stop when no job is queued, connecting, transferring or retrying");
    s->add_option("--time-slice", time_slice,
                  "seconds a job keeps its slot while a job of its priority waits (round robin; "
                  "0: none; default 300)")
        ->check(CLI::Range(0.0, 4294967.0));
    s->callback([&] { action = [&] { return cmd_run(g, flag, time_slice); }; });
  }
  xferq::cli::ServeOptions serve;
  {
    auto* s = app.add_subcommand("serve", "serve the queue: the worker, a JSON API with live events, and a dashboard");
    s->add_option("--listen", serve.listen, "HOST:PORT to listen on (default 127.0.0.1:8080; port 0: any free one; "
                                            "a non-loopback address needs --tls-cert and --tls-key)");
    s->add_option("--token", serve.token, "the API token (default: the token file's, or a new one)");
    s->add_option("--token-file", serve.token_file, "where the token is kept, mode 0600 (default: QUEUE-serve.token)");
    s->add_option("--tls-cert", serve.tls_cert, "PEM certificate: serve HTTPS");
    s->add_option("--tls-key", serve.tls_key, "PEM private key for --tls-cert");
    s->add_option("--max-transfers", serve.max_transfers, "transfers at once (default 4)");
    s->add_option("--event-interval", serve.event_interval_ms, "milliseconds between a job's progress events (default 500)");
    s->callback([&] { action = [&] { return cmd_serve(g, serve); }; });
  }
  double refresh = 1.0;
  long count = 0;
  {
    auto* s = app.add_subcommand("monitor", "show the job list, refreshed, until SIGINT");
    s->add_flag("--all", flag, "include CANCELLED and ACKNOWLEDGED jobs");
    s->add_option("--refresh", refresh, "seconds between refreshes (default 1)");
    s->add_option("--count", count, "stop after this many refreshes (default 0: until SIGINT)");
    s->callback([&] { action = [&] { return cmd_monitor(g, flag, refresh, count); }; });
  }
  {
    auto* s = app.add_subcommand("transfer", "download files now, with a worker of its own");
    s->add_option("URL_PATH", pairs, "URL PATH [URL PATH ...]")->required();
    s->add_option("--name", a, "display name of the job");
    s->add_option("--priority", b, "FOREGROUND (default), HIGH, NORMAL or LOW");
    s->callback([&] { action = [&] { return cmd_transfer(g, pairs, a, b); }; });
  }

  // Bandwidth limits (commands_bandwidth.cc): bytes per second, with an
  // optional k / M / G (x1000) suffix; 0 is none.
  {
    auto* s = app.add_subcommand("setbandwidth", "set the queue-wide bandwidth limit, or with --priority a cap on each transfer of that priority");
    s->add_option("BYTES_PER_SEC", a, "bytes per second (k, M, G suffixes; 0: none)")->required();
    s->add_option("--priority", b, "FOREGROUND, HIGH, NORMAL or LOW");
    s->callback([&] { action = [&] { return cmd_setbandwidth(g, a, b); }; });
  }
  job_arg_cmd("setjobbandwidth", "BYTES_PER_SEC", "set a job's own bandwidth limit (0: none)", cmd_setjobbandwidth);
  job_cmd("getjobbandwidth", "print a job's own bandwidth limit (0: none)", cmd_getjobbandwidth);
  {
    auto* s = app.add_subcommand("setbandwidthschedule",
                                 "replace the bandwidth schedule: windows \"DAYS START-END BYTES_PER_SEC\" (e.g. \"mon-fri 09-17 1M\"); none removes it; the first matching window wins");
    s->add_option("WINDOW", pairs, "\"DAYS START-END BYTES_PER_SEC\"");
    s->callback([&] { action = [&] { return cmd_setbandwidthschedule(g, pairs); }; });
  }
  {
    auto* s = app.add_subcommand("getbandwidth", "show the bandwidth limits and schedule");
    s->callback([&] { action = [&] { return cmd_getbandwidth(g); }; });
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "xferq: usage: " << e.what() << " (see xferq --help)\n";
    return kExitUsage;
  }
  if (!action) {
    std::cerr << "xferq: usage: no command given (see xferq --help)\n";
    return kExitUsage;
  }
  return action();
}
