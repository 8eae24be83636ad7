// command_line_full.cc — every command but the state calls: files, views,
// HTTP options, notification, bandwidth, and the commands that run a worker.
// Only the full command (main.cc) links this group; command_line.h says why.
#include <utility>

#include "command_line.h"
#include "commands.h"

namespace xferq::cli {

namespace {

void add_integrity_options(CLI::App* s, FileIntegrity* e) {
  s->add_option("--size", e->size, "the file's size in bytes");
  s->add_option("--sha256", e->sha256, "the file's SHA-256, hex");
  s->add_option("--sha512", e->sha512, "the file's SHA-512, hex");
}

// Adding files and judging them.
void add_file_commands(CLI::App& app, CommandLine& c) {
  {
    auto* s = app.add_subcommand("addfile", "add a file (URL to local PATH) to a job");
    s->add_option("JOB", c.job)->required();
    s->add_option("URL", c.a)->required();
    s->add_option("PATH", c.b)->required();
    add_integrity_options(s, &c.integrity);
    s->callback([&c] { c.action = [&c] { return cmd_addfile(c.g, c.job, c.a, c.b, c.integrity); }; });
  }
  {
    auto* s = app.add_subcommand("addfilewithranges",
                                 "add only these byte ranges of URL, back-to-back, as PATH: "
                                 "OFFSET:LENGTH[,OFFSET:LENGTH...] (LENGTH eof: to the end)");
    s->add_option("JOB", c.job)->required();
    s->add_option("URL", c.a)->required();
    s->add_option("PATH", c.b)->required();
    s->add_option("RANGES", c.ranges_spec)->required();
    s->callback([&c] { c.action = [&c] { return cmd_addfilewithranges(c.g, c.job, c.a, c.b, c.ranges_spec); }; });
  }
  {
    auto* s = app.add_subcommand("setfileintegrity",
                                 "what a download's file must be: FILE_INDEX [--size N] [--sha256 HEX] [--sha512 HEX]");
    s->add_option("JOB", c.job)->required();
    s->add_option("FILE_INDEX", c.a)->required();
    add_integrity_options(s, &c.integrity);
    s->callback([&c] { c.action = [&c] { return cmd_setfileintegrity(c.g, c.job, c.a, c.integrity); }; });
  }
  {
    auto* s = app.add_subcommand("setvalidationstate",
                                 "reject (FALSE) or accept (TRUE) a transferred file: FILE_INDEX TRUE|FALSE");
    s->add_option("JOB", c.job)->required();
    s->add_option("FILE_INDEX", c.a)->required();
    s->add_option("STATE", c.b)->required();
    s->callback([&c] { c.action = [&c] { return cmd_setvalidationstate(c.g, c.job, c.a, c.b); }; });
  }
  add_job_arg_command(app, c, "addfileset", "LISTFILE", "add the files listed (\"URL PATH\" lines) to a job",
                      cmd_addfileset);
}

// Views and the job's own properties.
void add_view_commands(CLI::App& app, CommandLine& c) {
  {
    auto* s = app.add_subcommand("list", "list active jobs");
    s->add_flag("--all", c.flag, "include CANCELLED and ACKNOWLEDGED jobs");
    s->callback([&c] { c.action = [&c] { return cmd_list(c.g, c.flag); }; });
  }
  {
    auto* s = app.add_subcommand("info", "show a job");
    s->add_option("JOB", c.job)->required();
    s->add_flag("--verbose", c.flag, "also the description, retry settings and files");
    s->callback([&c] { c.action = [&c] { return cmd_info(c.g, c.job, c.flag); }; });
  }
  add_job_command(app, c, "geterror", "print a job's last error", cmd_geterror);
  add_job_arg_command(app, c, "setdisplayname", "NAME", "rename a job", cmd_setdisplayname);
  add_job_arg_command(app, c, "setdescription", "TEXT", "set a job's description", cmd_setdescription);
  add_job_arg_command(app, c, "setreplyfilename", "PATH", "upload-reply jobs: where complete() puts the reply",
                      cmd_setreplyfilename);
  add_job_arg_command(app, c, "setminretrydelay", "SECONDS", "seconds to wait before retrying a transient error",
                      cmd_setminretrydelay);
  add_job_arg_command(app, c, "setnoprogresstimeout", "SECONDS",
                      "seconds without progress before a transient error is fatal", cmd_setnoprogresstimeout);
}

// HTTP options: headers, security flags, credentials, proxy, TLS, URLs, limits.
void add_http_commands(CLI::App& app, CommandLine& c) {
  {
    auto* s = app.add_subcommand("setcustomheaders",
                                 "set a job's custom HTTP headers (\"Name: value\" each; none: remove them)");
    s->add_option("JOB", c.job, "job GUID or unique display name")->required();
    s->add_option("HEADER", c.pairs, "\"Name: value\"");
    s->callback([&c] { c.action = [&c] { return cmd_setcustomheaders(c.g, c.job, c.pairs); }; });
  }
  add_job_arg_command(app, c, "setsecurityflags", "FLAGS",
                      "BITS's redirect flags: 0x0000 allow, 0x0100 allow and report, 0x0200 disallow; | 0x0800 allow "
                      "https->http",
                      cmd_setsecurityflags);
  add_job_args_command(app, c, "setcredentials",
                       "set a job's credentials: SERVER|PROXY BASIC|DIGEST|BEARER USER PASSWORD (- reads stdin)",
                       "SERVER|PROXY BASIC|DIGEST|BEARER USER PASSWORD", 4, 4, cmd_setcredentials);
  add_job_args_command(app, c, "removecredentials", "remove a job's credentials: SERVER|PROXY BASIC|DIGEST|BEARER",
                       "SERVER|PROXY BASIC|DIGEST|BEARER", 2, 2, cmd_removecredentials);
  add_job_args_command(app, c, "setproxysettings", "set a job's proxy: PRECONFIG | NO_PROXY | OVERRIDE LIST [BYPASS]",
                       "PRECONFIG|NO_PROXY|OVERRIDE [LIST [BYPASS]]", 1, 3, cmd_setproxysettings);
  add_job_command(app, c, "getsecurityflags", "print a job's security flags", cmd_getsecurityflags);
  add_job_args_command(app, c, "setclientcertificate",
                       "set a job's TLS client certificate: CERTFILE [KEYFILE [-]] (PEM; - reads the key's passphrase "
                       "from stdin)",
                       "CERTFILE [KEYFILE [-]]", 1, 3, cmd_setclientcertificate);
  add_job_command(app, c, "removeclientcertificate", "remove a job's TLS client certificate",
                  cmd_removeclientcertificate);
  add_job_arg_command(app, c, "setcacertificates", "PATH",
                      "trust the CAs of a PEM bundle or a hashed directory (\"\": the system's)", cmd_setcacertificates);
  add_job_args_command(app, c, "setremotename",
                       "point a download's file at a new URL: FILE_INDEX URL (bytes fetched are kept)", "FILE_INDEX URL",
                       2, 2, cmd_setremotename);
  add_job_args_command(app, c, "replaceremoteprefix", "rewrite the URLs of a job's files: OLD_PREFIX NEW_PREFIX",
                       "OLD_PREFIX NEW_PREFIX", 2, 2, cmd_replaceremoteprefix);
  add_job_arg_command(app, c, "setmaxdownloadtime", "SECONDS",
                      "most time CONNECTING + TRANSFERRING (0: the default, 90 days)", cmd_setmaxdownloadtime);
  add_job_command(app, c, "getmaxdownloadtime", "print a job's maximum download time (seconds)",
                  cmd_getmaxdownloadtime);
  add_job_arg_command(app, c, "setmaxdownloadsize", "BYTES", "most bytes the job may download (0: no limit)",
                      cmd_setmaxdownloadsize);
  add_job_command(app, c, "getmaxdownloadsize", "print a job's maximum download size (bytes; 0: no limit)",
                  cmd_getmaxdownloadsize);
  add_job_command(app, c, "getcustomheaders", "print a job's custom headers (credentials' values hidden)",
                  cmd_getcustomheaders);
}

void add_notify_commands(CLI::App& app, CommandLine& c) {
  // Everything after JOB is taken as it is ("-c" included): the program's
  // arguments are not xferq's options.
  auto* s = app.add_subcommand("setnotifycmdline",
                               "run PROGRAM (absolute path, no shell) with ARGs when the job is TRANSFERRED or in "
                               "ERROR; {job} in an ARG becomes the job's GUID; an empty PROGRAM removes it");
  s->prefix_command();
  s->fallthrough(false);
  s->footer("usage: xferq setnotifycmdline JOB PROGRAM [ARG ...]");
  s->callback([&c, s] { c.action = [&c, s] { return cmd_setnotifycmdline(c.g, s->remaining()); }; });
  add_job_command(app, c, "getnotifycmdline",
                  "print a job's notify command line: the program, then each argument, one a line",
                  cmd_getnotifycmdline);
}

// The commands that run a worker, or watch one.
void add_worker_commands(CLI::App& app, CommandLine& c) {
  {
    auto* s = app.add_subcommand("run", "serve the queue (run transfers) until SIGINT/SIGTERM");
    s->add_flag("--until-idle", c.flag, "stop when no job is queued, connecting, transferring or retrying");
    s->add_option("--time-slice", c.time_slice,
                  "seconds a job keeps its slot while a job of its priority waits (round robin; "
                  "0: none; default 300)")
        ->check(CLI::Range(0.0, 4294967.0));
    s->callback([&c] { c.action = [&c] { return cmd_run(c.g, c.flag, c.time_slice); }; });
  }
  {
    ServeOptions& o = c.serve;
    auto* s = app.add_subcommand("serve", "serve the queue: the worker, a JSON API with live events, and a dashboard");
    s->add_option("--listen", o.listen, "HOST:PORT to listen on (default 127.0.0.1:8080; port 0: any free one; "
                                        "a non-loopback address needs --tls-cert and --tls-key)");
    s->add_option("--token", o.token,
                  "the API token, or - to read it from standard input (default: the token file's, or a new one)");
    s->add_option("--token-file", o.token_file, "where the token is kept, mode 0600 (default: QUEUE-serve.token)");
    s->add_option("--tls-cert", o.tls_cert, "PEM certificate: serve HTTPS");
    s->add_option("--tls-key", o.tls_key, "PEM private key for --tls-cert");
    s->add_option("--max-transfers", o.max_transfers, "transfers at once (default 4)");
    s->add_option("--event-interval", o.event_interval_ms, "milliseconds between a job's progress events (default 500)");
    s->add_option("--origin", o.origins,
                  "an origin the API also accepts from browsers, e.g. https://xferq.example.com for a host name or "
                  "a reverse proxy (repeatable; the --listen address's origin is always accepted)")
        ->allow_extra_args(false);  // one origin per --origin
    s->callback([&c] { c.action = [&c] { return cmd_serve(c.g, c.serve); }; });
  }
  {
    auto* s = app.add_subcommand("monitor", "show the job list, refreshed, until SIGINT");
    s->add_flag("--all", c.flag, "include CANCELLED and ACKNOWLEDGED jobs");
    s->add_option("--refresh", c.refresh, "seconds between refreshes (default 1)");
    s->add_option("--count", c.count, "stop after this many refreshes (default 0: until SIGINT)");
    s->callback([&c] { c.action = [&c] { return cmd_monitor(c.g, c.flag, c.refresh, c.count); }; });
  }
  auto* s = app.add_subcommand("transfer", "download files now, with a worker of its own");
  s->add_option("URL_PATH", c.pairs, "URL PATH [URL PATH ...]")->required();
  s->add_option("--name", c.a, "display name of the job");
  s->add_option("--priority", c.b, "FOREGROUND (default), HIGH, NORMAL or LOW");
  s->callback([&c] { c.action = [&c] { return cmd_transfer(c.g, c.pairs, c.a, c.b); }; });
}

// Bandwidth limits (commands_bandwidth.cc): bytes per second, with an
// optional k / M / G (x1000) suffix; 0 is none.
void add_bandwidth_commands(CLI::App& app, CommandLine& c) {
  {
    auto* s = app.add_subcommand("setbandwidth", "set the queue-wide bandwidth limit, or with --priority a cap on each transfer of that priority");
    s->add_option("BYTES_PER_SEC", c.a, "bytes per second (k, M, G suffixes; 0: none)")->required();
    s->add_option("--priority", c.b, "FOREGROUND, HIGH, NORMAL or LOW");
    s->callback([&c] { c.action = [&c] { return cmd_setbandwidth(c.g, c.a, c.b); }; });
  }
  add_job_arg_command(app, c, "setjobbandwidth", "BYTES_PER_SEC", "set a job's own bandwidth limit (0: none)",
                      cmd_setjobbandwidth);
  add_job_command(app, c, "getjobbandwidth", "print a job's own bandwidth limit (0: none)", cmd_getjobbandwidth);
  {
    auto* s = app.add_subcommand("setbandwidthschedule",
                                 "replace the bandwidth schedule: windows \"DAYS START-END BYTES_PER_SEC\" (e.g. \"mon-fri 09-17 1M\"); none removes it; the first matching window wins");
    s->add_option("WINDOW", c.pairs, "\"DAYS START-END BYTES_PER_SEC\"");
    s->callback([&c] { c.action = [&c] { return cmd_setbandwidthschedule(c.g, c.pairs); }; });
  }
  auto* s = app.add_subcommand("getbandwidth", "show the bandwidth limits and schedule");
  s->callback([&c] { c.action = [&c] { return cmd_getbandwidth(c.g); }; });
}

}  // namespace

void add_other_commands(CLI::App& app, CommandLine& c) {
  add_file_commands(app, c);
  add_view_commands(app, c);
  add_http_commands(app, c);
  add_notify_commands(app, c);
  add_worker_commands(app, c);
  add_bandwidth_commands(app, c);
}

}  // namespace xferq::cli
