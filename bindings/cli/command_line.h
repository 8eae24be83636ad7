// command_line.h — `xferq`'s command line: the global options, the
// subcommands in groups, and parsing.
//
// Two programs parse it. The full command (main.cc, installed as
// libexec/xferq/xferq-full) registers every group. The front (front.cc,
// installed as bin/xferq) registers only the state calls, which need neither
// the worker, nor libcurl, nor libpq, so that `xferq cancel` starts in a few
// milliseconds; it hands every other command line to the full command. Both
// register a group with the same function, so a command's options, help and
// errors are the same whichever program runs it.
//
// Thread safety: none; used by main() before any thread starts.
#ifndef XFERQ_BINDINGS_CLI_COMMAND_LINE_H_
#define XFERQ_BINDINGS_CLI_COMMAND_LINE_H_

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "cli.h"
#include "serve_support.h"

namespace xferq::cli {

// Where the parsed arguments land; `action` is the chosen command, bound to them.
struct CommandLine {
  Globals g;
  std::string job, a, b, ranges_spec;
  bool flag = false;
  bool upload = false, upload_reply = false;
  std::vector<std::string> pairs;
  FileIntegrity integrity;
  double time_slice = -1;  // -1: QueueOptions' default
  double refresh = 1.0;
  long count = 0;
  ServeOptions serve;
  std::function<int()> action;

  CommandLine() = default;
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;
};

// The program's name, description, --version, --db and --json.
void add_global_options(CLI::App& app, CommandLine& c);

// The state calls and getters, which the front runs itself (command_line.cc):
// create, getstate, getprogress, setpriority, suspend, resume, cancel,
// complete, reset. None takes or shows a URL.
void add_state_commands(CLI::App& app, CommandLine& c);

// Every other command (command_line_full.cc): files, views, HTTP options,
// notification, bandwidth, and those that run a worker (run, serve, transfer,
// monitor). Only the full command links them.
void add_other_commands(CLI::App& app, CommandLine& c);

// Parses argv into `c`. Returns -1 when c.action is set and should run;
// otherwise the exit status to return (help and version printed, or a usage
// error reported on stderr).
int parse_command_line(CLI::App& app, CommandLine& c, int argc, char** argv);

// Helpers for the groups: a subcommand taking JOB; JOB and one more
// argument; JOB and `min`..`max` more.
CLI::App* add_job_command(CLI::App& app, CommandLine& c, const char* name, const char* help,
                          int (*fn)(const Globals&, const std::string&));
CLI::App* add_job_arg_command(CLI::App& app, CommandLine& c, const char* name, const char* argname,
                              const char* help, int (*fn)(const Globals&, const std::string&, const std::string&));
CLI::App* add_job_args_command(CLI::App& app, CommandLine& c, const char* name, const char* help,
                               const char* argnames, int min, int max,
                               int (*fn)(const Globals&, const std::string&, const std::vector<std::string>&));

}  // namespace xferq::cli

#endif  // XFERQ_BINDINGS_CLI_COMMAND_LINE_H_
