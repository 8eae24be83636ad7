// command_line.cc — the global options, the state commands (the group the
// front runs itself), the helpers every group uses, and parsing.
#include "command_line.h"

#include <iostream>

#include "commands.h"

namespace xferq::cli {

void add_global_options(CLI::App& app, CommandLine& c) {
  app.name("xferq");
  app.description("xferq: a background transfer queue (bitsadmin-like)");
  app.set_version_flag("--version", "xferq " XFERQ_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--db", c.g.db, "queue file, or a postgresql:// URL (default: $XFERQ_DB, $XDG_DATA_HOME/xferq/queue.db, ~/.local/share/xferq/queue.db)");
  app.add_flag("--json", c.g.json, "JSON output for list, info, getstate, getprogress, geterror, getbandwidth");
}

CLI::App* add_job_command(CLI::App& app, CommandLine& c, const char* name, const char* help,
                          int (*fn)(const Globals&, const std::string&)) {
  auto* s = app.add_subcommand(name, help);
  s->add_option("JOB", c.job, "job GUID or unique display name")->required();
  s->callback([&c, fn] { c.action = [&c, fn] { return fn(c.g, c.job); }; });
  return s;
}

CLI::App* add_job_arg_command(CLI::App& app, CommandLine& c, const char* name, const char* argname,
                              const char* help, int (*fn)(const Globals&, const std::string&, const std::string&)) {
  auto* s = app.add_subcommand(name, help);
  s->add_option("JOB", c.job, "job GUID or unique display name")->required();
  s->add_option(argname, c.a)->required();
  s->callback([&c, fn] { c.action = [&c, fn] { return fn(c.g, c.job, c.a); }; });
  return s;
}

CLI::App* add_job_args_command(CLI::App& app, CommandLine& c, const char* name, const char* help,
                               const char* argnames, int min, int max,
                               int (*fn)(const Globals&, const std::string&, const std::vector<std::string>&)) {
  auto* s = app.add_subcommand(name, help);
  s->add_option("JOB", c.job, "job GUID or unique display name")->required();
  s->add_option("ARGS", c.pairs, argnames)->expected(min, max);
  s->callback([&c, fn] { c.action = [&c, fn] { return fn(c.g, c.job, c.pairs); }; });
  return s;
}

void add_state_commands(CLI::App& app, CommandLine& c) {
  {
    auto* s = app.add_subcommand("create", "create a SUSPENDED job (a download unless --upload / --upload-reply) and print its GUID");
    s->add_option("NAME", c.a, "display name")->required();
    auto* up = s->add_flag("--upload", c.upload, "an upload job (BITS upload protocol; one file, PATH is sent to URL)");
    s->add_flag("--upload-reply", c.upload_reply, "an upload job whose server answers with a reply file")->excludes(up);
    s->callback([&c] {
      c.action = [&c] {
        return cmd_create(c.g, c.a, c.upload_reply ? JobType::upload_reply
                                    : c.upload     ? JobType::upload
                                                   : JobType::download);
      };
    });
  }
  add_job_command(app, c, "getstate", "print a job's state", cmd_getstate);
  add_job_command(app, c, "getprogress", "print a job's progress", cmd_getprogress);
  add_job_arg_command(app, c, "setpriority", "PRIORITY", "FOREGROUND, HIGH, NORMAL or LOW", cmd_setpriority);
  add_job_command(app, c, "suspend", "pause a job", cmd_suspend);
  add_job_command(app, c, "resume", "queue a job for transfer", cmd_resume);
  add_job_command(app, c, "cancel", "cancel a job and delete its temporary files", cmd_cancel);
  add_job_command(app, c, "complete", "accept a job's files (rename them to their final paths)", cmd_complete);
  auto* s = app.add_subcommand("reset", "cancel every active job");
  s->callback([&c] { c.action = [&c] { return cmd_reset(c.g); }; });
}

int parse_command_line(CLI::App& app, CommandLine& c, int argc, char** argv) {
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
  if (!c.action) {
    std::cerr << "xferq: usage: no command given (see xferq --help)\n";
    return kExitUsage;
  }
  return -1;
}

}  // namespace xferq::cli
