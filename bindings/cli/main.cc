// main.cc — the full `xferq` command, for xferq queues: every subcommand.
// Installed as libexec/xferq/xferq-full; bin/xferq (front.cc) runs the state
// calls itself and hands everything else here (command_line.h says why).
//
//   xferq [--db PATH] [--json] COMMAND ARGS...
//
// Exit status: 0 success, 2 usage error, 3 job not found, 4 call not valid in
// the job's state, 5 bad argument, 130 interrupted, 1 anything else. Failures
// print one line on stderr: "xferq: HRESULT_NAME: what went wrong".
#include "command_line.h"

int main(int argc, char** argv) {
  using namespace xferq::cli;
  CommandLine c;
  CLI::App app;
  add_global_options(app, c);
  add_state_commands(app, c);
  add_other_commands(app, c);
  const int status = parse_command_line(app, c, argc, argv);
  return status >= 0 ? status : c.action();
}
