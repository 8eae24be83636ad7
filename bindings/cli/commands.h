// commands.h — the subcommands of `xferq`; each returns the exit status.
#ifndef XFERQ_BINDINGS_CLI_COMMANDS_H_
#define XFERQ_BINDINGS_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include "cli.h"
#include "serve_support.h"

namespace xferq::cli {

// type: a download (default), or an upload / upload-reply job (--upload, --upload-reply).
int cmd_create(const Globals& g, const std::string& name, JobType type = JobType::download);
// Upload-reply jobs: where complete() puts the server's reply.
int cmd_setreplyfilename(const Globals& g, const std::string& job, const std::string& path);
// integrity: what the file must be (--size, --sha256, --sha512; empty: unchecked).
int cmd_addfile(const Globals& g, const std::string& job, const std::string& url, const std::string& path,
                const FileIntegrity& integrity = FileIntegrity());
// ranges: "OFFSET:LENGTH[,...]" ("eof" for to the end); a bad spec is a usage error.
int cmd_addfilewithranges(const Globals& g, const std::string& job, const std::string& url, const std::string& path,
                          const std::string& ranges);
int cmd_setfileintegrity(const Globals& g, const std::string& job, const std::string& index,
                         const FileIntegrity& integrity);
int cmd_setvalidationstate(const Globals& g, const std::string& job, const std::string& index,
                           const std::string& state);
int cmd_addfileset(const Globals& g, const std::string& job, const std::string& listfile);
int cmd_list(const Globals& g, bool all);
int cmd_info(const Globals& g, const std::string& job, bool verbose);
int cmd_getstate(const Globals& g, const std::string& job);
int cmd_getprogress(const Globals& g, const std::string& job);
int cmd_geterror(const Globals& g, const std::string& job);
int cmd_setpriority(const Globals& g, const std::string& job, const std::string& priority);
int cmd_setdisplayname(const Globals& g, const std::string& job, const std::string& name);
int cmd_setdescription(const Globals& g, const std::string& job, const std::string& text);
int cmd_setcustomheaders(const Globals& g, const std::string& job, const std::vector<std::string>& headers);
int cmd_getcustomheaders(const Globals& g, const std::string& job);
int cmd_setsecurityflags(const Globals& g, const std::string& job, const std::string& flags);
int cmd_getsecurityflags(const Globals& g, const std::string& job);
int cmd_setcredentials(const Globals& g, const std::string& job, const std::vector<std::string>& args);
int cmd_setproxysettings(const Globals& g, const std::string& job, const std::vector<std::string>& args);
int cmd_removecredentials(const Globals& g, const std::string& job, const std::vector<std::string>& args);
int cmd_setclientcertificate(const Globals& g, const std::string& job, const std::vector<std::string>& args);
int cmd_removeclientcertificate(const Globals& g, const std::string& job);
// A PEM bundle or a hashed directory; "" goes back to the queue's / system's.
int cmd_setcacertificates(const Globals& g, const std::string& job, const std::string& path);
int cmd_setremotename(const Globals& g, const std::string& job, const std::vector<std::string>& args);
int cmd_replaceremoteprefix(const Globals& g, const std::string& job, const std::vector<std::string>& args);
int cmd_setmaxdownloadtime(const Globals& g, const std::string& job, const std::string& seconds);
int cmd_getmaxdownloadtime(const Globals& g, const std::string& job);
int cmd_setmaxdownloadsize(const Globals& g, const std::string& job, const std::string& bytes);
int cmd_getmaxdownloadsize(const Globals& g, const std::string& job);
int cmd_setminretrydelay(const Globals& g, const std::string& job, const std::string& seconds);
int cmd_setnoprogresstimeout(const Globals& g, const std::string& job, const std::string& seconds);
// Bandwidth limits (commands_bandwidth.cc).
int cmd_setbandwidth(const Globals& g, const std::string& rate, const std::string& priority);
int cmd_setjobbandwidth(const Globals& g, const std::string& job, const std::string& rate);
int cmd_getjobbandwidth(const Globals& g, const std::string& job);
int cmd_setbandwidthschedule(const Globals& g, const std::vector<std::string>& windows);
int cmd_getbandwidth(const Globals& g);
// words: JOB PROGRAM [ARG ...]; PROGRAM "" and no ARG removes it.
int cmd_setnotifycmdline(const Globals& g, const std::vector<std::string>& words);
int cmd_getnotifycmdline(const Globals& g, const std::string& job);
int cmd_suspend(const Globals& g, const std::string& job);
int cmd_resume(const Globals& g, const std::string& job);
int cmd_cancel(const Globals& g, const std::string& job);
int cmd_complete(const Globals& g, const std::string& job);
int cmd_reset(const Globals& g);
// `time_slice_s` < 0: the default time slice (QueueOptions::time_slice).
int cmd_run(const Globals& g, bool until_idle, double time_slice_s = -1);
// The worker plus the HTTP API, live events and dashboard (serve_command.cc).
int cmd_serve(const Globals& g, const ServeOptions& options);
// Reprints the job list every `refresh` seconds until SIGINT/SIGTERM, or
// `count` times if count > 0; clears the screen first when stdout is a tty.
int cmd_monitor(const Globals& g, bool all, double refresh, long count);
int cmd_transfer(const Globals& g, const std::vector<std::string>& pairs, const std::string& name,
                 const std::string& priority);

}  // namespace xferq::cli

#endif  // XFERQ_BINDINGS_CLI_COMMANDS_H_
