// commands_notify.cc — `xferq setnotifycmdline` / `getnotifycmdline`
// (bitsadmin /SetNotifyCmdLine, /GetNotifyCmdLine): a job's notify command
// line, a program and its arguments, each kept as one argument (no shell).
#include <iostream>

#include "command_support.h"
#include "commands.h"

namespace xferq::cli {

int cmd_setnotifycmdline(const Globals& g, const std::vector<std::string>& words) {
  return guarded([&] {
    if (words.size() < 2)
      throw Fail{{kExitUsage, "usage: setnotifycmdline JOB PROGRAM [ARG ...] (PROGRAM \"\" and no ARG: remove)"}};
    const std::string& program = words[1];
    const std::vector<std::string> args(words.begin() + 2, words.end());
    auto q = open_queue(g, false);
    Job job = find_job(*q, words[0]);
    check(job.set_notify_command_line(program, args), job, "set the notify command line of");
    std::cout << (program.empty() && args.empty() ? std::string("Notify command line removed.\n")
                                                  : "Notify command line set (" + std::to_string(args.size()) +
                                                        " argument(s)).\n");
    return kExitOk;
  });
}

int cmd_getnotifycmdline(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    const NotifyCommandLine c = get(job.notify_command_line());
    if (g.json) {
      print_json({{"id", job.id()}, {"program", c.program}, {"args", c.args}});
      return kExitOk;
    }
    // One line each, program first; control characters escaped (an
    // argument may hold a newline).
    if (c.program.empty()) {
      std::cout << "(none)\n";
      return kExitOk;
    }
    std::cout << shown(c.program) << "\n";
    for (const std::string& a : c.args) std::cout << shown(a) << "\n";
    return kExitOk;
  });
}

}  // namespace xferq::cli
