// commands.cc — the subcommands that make and steer jobs, one call each
// (create, addfile, list, info, the getters and setters, suspend, resume,
// cancel, complete, reset). HTTP options: commands_http.cc; serving the
// queue (run, monitor, transfer): commands_serve.cc.
#include "command_support.h"
#include "commands.h"
#include "fileset.h"

#include <cstdlib>
#include <cctype>
#include <fstream>
#include <iostream>

namespace xferq::cli {

int cmd_create(const Globals& g, const std::string& name, JobType type) {
  return guarded([&] {
    auto q = open_queue(g, false, true);
    Job job = get(q->create_job(name, type));
    std::cout << job.id() << "\n";
    return kExitOk;
  });
}

int cmd_addfile(const Globals& g, const std::string& jobref, const std::string& url, const std::string& path,
                const FileIntegrity& integrity) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    const std::string abs = absolute_path(path);
    check(job.add_files({FileSpec(url, abs, integrity)}), job, "add a file to");
    // The URL as the queue shows it: credentials in it are never printed.
    auto files = get(job.files());
    std::cout << "Added " << shown(files.empty() ? url : files.back().remote_url) << " -> "
              << shown(files.empty() ? abs : files.back().local_path) << " to job " << job.id() << ".\n";
    return kExitOk;
  });
}

int cmd_addfilewithranges(const Globals& g, const std::string& jobref, const std::string& url,
                          const std::string& path, const std::string& ranges) {
  return guarded([&] {
    std::vector<FileRange> list;
    if (!parse_range_list(ranges, &list))
      fail_arg("the ranges must be OFFSET:LENGTH[,OFFSET:LENGTH...] (LENGTH a number or eof): " + shown(ranges));
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    const std::string abs = absolute_path(path);
    check(job.add_file_with_ranges(url, abs, list), job, "add a file to");
    auto files = get(job.files());
    std::cout << "Added " << list.size() << " range(s) of "
              << shown(files.empty() ? url : files.back().remote_url) << " -> "
              << shown(files.empty() ? abs : files.back().local_path) << " to job " << job.id() << ".\n";
    return kExitOk;
  });
}

namespace {
// A file index from the command line (0 for the first file).
uint32_t parse_file_index(const std::string& text) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || !end || *end != '\0' || v > 0xFFFFFFFFul)
    fail_arg("the file index must be a number (0 for the first file): " + shown(text));
  return static_cast<uint32_t>(v);
}
}  // namespace

int cmd_setfileintegrity(const Globals& g, const std::string& jobref, const std::string& index,
                         const FileIntegrity& integrity) {
  return guarded([&] {
    const uint32_t i = parse_file_index(index);
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_file_integrity(i, integrity), job, "set the integrity check of");
    std::cout << (integrity.empty() ? "Integrity check of file " + std::to_string(i) + " removed.\n"
                                    : "Integrity check of file " + std::to_string(i) + " set.\n");
    return kExitOk;
  });
}

int cmd_setvalidationstate(const Globals& g, const std::string& jobref, const std::string& index,
                           const std::string& state) {
  return guarded([&] {
    const uint32_t i = parse_file_index(index);
    std::string s = state;
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (s != "TRUE" && s != "FALSE") fail_arg("the state must be TRUE or FALSE, not " + shown(state));
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_validation_state(i, s == "TRUE"), job, "set the validation state of");
    std::cout << (s == "TRUE" ? "File " + std::to_string(i) + " accepted.\n"
                              : "File " + std::to_string(i) + " rejected: the job is in ERROR; resume fetches it again.\n");
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
                << "NO PROGRESS TIMEOUT: " << i.no_progress_timeout.count() << "\n"
                << "MAX DOWNLOAD SIZE: " << (i.max_download_size ? std::to_string(i.max_download_size) : "NONE")
                << " MAX DOWNLOAD TIME: " << i.maximum_download_time.count()
                << " (USED: " << i.download_time_used.count() << ")\n";
      print_tls_lines(get(job.tls_options()));
      const NotifyCommandLine notify = get(job.notify_command_line());
      std::cout << "NOTIFY COMMAND LINE: " << (notify.program.empty() ? "NONE" : "'" + shown(notify.program) + "'");
      for (const std::string& a : notify.args) std::cout << " '" << shown(a) << "'";
      std::cout << "\n";
      std::cout << "FILES:\n";
      for (const FileInfo& f : get(job.files())) print_file_lines(f);
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


}  // namespace xferq::cli
