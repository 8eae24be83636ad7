// front.cc — `xferq`, the command operators and scripts run: the front.
//
// It runs the state calls itself (command_line.h: create, getstate,
// getprogress, setpriority, suspend, resume, cancel, complete, reset) on a
// SQLite queue, linked with the control library — no worker, no libcurl, no
// libpq — so that a process started to cancel a job starts in a few
// milliseconds instead of the ~20 that loading libcurl's and libpq's some
// forty shared libraries takes. Any other command line (another command, a
// postgresql:// queue, --help, --version) it hands, unchanged, to the full
// command with execv(): same process, same pid, same exit status.
//
// The full command is found next to this program's real path (a build tree)
// or at ../libexec/xferq/xferq-full from it (an installed tree).
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

#include "command_line.h"

namespace xferq::cli {
namespace {

// The subcommand named on the command line: the first argument that is
// neither an option nor --db's value; "" if there is none.
std::string subcommand_of(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--db") {
      ++i;
    } else if (arg == "--") {
      return "";
    } else if (arg.empty() || arg[0] != '-') {
      return arg;
    }
  }
  return "";
}

bool registered(CLI::App& app, const std::string& name) {
  if (name.empty()) return false;
  for (const CLI::App* s : app.get_subcommands([](CLI::App*) { return true; }))
    if (s->get_name() == name) return true;
  return false;
}

// Replaces this process with the full command, or reports why it cannot.
int run_full_command(char** argv) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return report(Failure{kExitFailure, "E_FAIL: cannot find this program's path: " + ec.message()});
  const fs::path dir = self.parent_path();
  for (const fs::path& full : {dir / "xferq-full", dir / ".." / "libexec" / "xferq" / "xferq-full"}) {
    if (::access(full.c_str(), X_OK) != 0) continue;
    ::execv(full.c_str(), argv);
    return report(Failure{kExitFailure, "E_FAIL: cannot run " + full.string() + ": " + std::strerror(errno)});
  }
  return report(Failure{kExitFailure, "E_FAIL: the full xferq command (xferq-full) is not installed beside " +
                                          self.string()});
}

}  // namespace
}  // namespace xferq::cli

int main(int argc, char** argv) {
  using namespace xferq::cli;
  CommandLine c;
  CLI::App app;
  add_global_options(app, c);
  add_state_commands(app, c);
  if (!registered(app, subcommand_of(argc, argv))) return run_full_command(argv);
  const int status = parse_command_line(app, c, argc, argv);
  if (status >= 0) return status;
  // A server queue needs libpq, which only the full command links.
  if (is_database_url(resolve_db_path(c.g.db, false))) return run_full_command(argv);
  return c.action();
}
