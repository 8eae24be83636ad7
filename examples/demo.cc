// xferq-demo — a guided tour of xferq for newcomers.
//
// Runs an in-process HTTP server, queues three download jobs against it, shows
// their progress live, cancels the big one mid-transfer (and proves nothing of
// it is left behind), completes the others and checks every byte that arrived.
// Exits 0 only if every check passed.
//
//   xferq-demo               work in a fresh temp directory, removed at the end
//   xferq-demo --dir DIR     work in DIR and keep it (queue.db + the files)
#include <stdlib.h>

#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http_fixture.h"
#include "xferq/xferq.h"

namespace {

namespace fs = std::filesystem;
using xferq::testing::FixtureServer;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kMiB = 1024 * 1024;
// Progress lines are printed this often; the state is polled more often so
// the cancel happens promptly once the threshold is crossed.
constexpr auto kPrintEvery = std::chrono::milliseconds(250);
constexpr auto kPollEvery = std::chrono::milliseconds(20);

// ------------------------------------------------------------------ console

// Callbacks run on xferq's worker thread while main() prints progress, so
// every line goes through one mutex to keep lines whole.
std::mutex g_console_mu;

std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string strf(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

void say(const std::string& line) {
  std::lock_guard<std::mutex> lk(g_console_mu);
  std::cout << line << '\n' << std::flush;
}

void heading(const std::string& title) {
  say("");
  say(title);
  say(std::string(title.size(), '-'));
}

std::string mib(int64_t bytes) {
  if (bytes < 0) return "?";
  return strf("%.1f", static_cast<double>(bytes) / kMiB);
}

std::string percent(int64_t done, int64_t total) {
  if (total <= 0) return "  ?%";
  return strf("%3d%%", static_cast<int>(100 * done / total));
}

std::string hresult_of(std::error_code ec) { return xferq::hresult_name(xferq::to_hresult(ec)); }

// ------------------------------------------------------------------- checks

// Every verifiable claim the demo makes is a check: printed as OK / FAIL and
// counted, so the exit status says whether xferq behaved.
class Checks {
 public:
  bool check(bool ok, const std::string& what) {
    say(strf("   [%s] %s", ok ? " OK " : "FAIL", what.c_str()));
    ++total_;
    if (!ok) ++failed_;
    return ok;
  }
  int total() const { return total_; }
  int failed() const { return failed_; }

 private:
  int total_ = 0;
  int failed_ = 0;
};

// ------------------------------------------------------------ command line

struct Args {
  std::string dir;  // empty: use a temp dir removed at the end
  bool help = false;
  std::string error;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      a.help = true;
    } else if (arg == "--dir") {
      if (i + 1 >= argc || !*argv[i + 1]) a.error = "--dir needs a directory";
      else a.dir = argv[++i];
    } else if (arg.rfind("--dir=", 0) == 0 && arg.size() > 6) {
      a.dir = arg.substr(6);
    } else {
      a.error = "unknown argument: " + arg;
    }
  }
  return a;
}

void print_usage(std::ostream& out, const char* argv0) {
  out << "Usage: " << argv0 << " [--dir DIR] [--help]\n" << R"(
A guided tour of xferq: serves a few files from an in-process HTTP server,
downloads them with background jobs, cancels one mid-transfer, completes the
others and verifies every byte. Takes a few seconds.

  --dir DIR   keep the queue file and downloads in DIR (created if missing;
              must not already hold a queue.db) instead of a temp directory
              that is removed at the end
  --help      show this text

Exit status: 0 if every check passed, 1 if one failed, 2 on bad usage.
)";
}

// --------------------------------------------------------- work directory

// Where the queue file and downloads live. A temp dir is removed on exit so
// repeated runs leave nothing behind; a --dir is kept for the user to inspect.
class WorkDir {
 public:
  static std::unique_ptr<WorkDir> make(const std::string& requested, std::string* error) {
    std::unique_ptr<WorkDir> w(new WorkDir);
    std::error_code ec;
    if (requested.empty()) {
      std::string tmpl = (fs::temp_directory_path(ec) / "xferq-demo-XXXXXX").string();
      if (ec || !::mkdtemp(tmpl.data())) {
        *error = "cannot create a temp directory";
        return nullptr;
      }
      w->path_ = tmpl;
      w->keep_ = false;
      return w;
    }
    fs::create_directories(requested, ec);
    if (ec) {
      *error = "cannot create " + requested + ": " + ec.message();
      return nullptr;
    }
    // xferq needs absolute local paths.
    w->path_ = fs::absolute(requested, ec).lexically_normal().string();
    if (!w->path_.empty() && w->path_.back() == '/') w->path_.pop_back();
    // A queue from an earlier run would bring its own jobs along and blur
    // what this run shows; ask for a fresh directory instead.
    if (fs::exists(w->file("queue.db"))) {
      *error = w->path_ + " already holds a queue.db from an earlier run; pick another --dir or delete it";
      return nullptr;
    }
    w->keep_ = true;
    return w;
  }
  ~WorkDir() {
    if (keep_) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  bool kept() const { return keep_; }

 private:
  WorkDir() = default;
  std::string path_;
  bool keep_ = false;
};

// ------------------------------------------------------------ the catalog

// One file the server offers and where the demo downloads it to.
struct DemoFile {
  std::string url_path;    // on the fixture server
  std::string local_name;  // in the work directory
  size_t size;
  uint32_t seed;           // make_body seed: distinct content per file
  size_t bytes_per_sec;    // 0 = full speed
  std::string body;        // filled by serve()
};

struct DemoJob {
  std::string name;
  std::vector<DemoFile> files;
  xferq::Job job;
};

// "big-iso" is throttled and large so it is certainly mid-transfer when we
// cancel it; "photos" is throttled too so its progress can be watched;
// "docs" goes at full loopback speed.
std::vector<DemoJob> make_catalog() {
  return {
      {"docs",
       {{"/docs/manual.pdf", "manual.pdf", 3 * kMiB, 11, 0, {}},
        {"/docs/release-notes.txt", "release-notes.txt", 1 * kMiB + 4321, 12, 0, {}}},
       {}},
      {"big-iso", {{"/iso/big.iso", "big.iso", 12 * kMiB, 21, 2 * kMiB, {}}}, {}},
      {"photos",
       {{"/photos/beach.jpg", "beach.jpg", 2 * kMiB + 77, 31, 2 * kMiB, {}},
        {"/photos/sunset.jpg", "sunset.jpg", 3 * kMiB + 5, 32, 2 * kMiB, {}}},
       {}},
  };
}

void serve(FixtureServer& server, std::vector<DemoJob>& jobs) {
  heading("1. Serving files from an in-process HTTP server");
  say("   base URL: " + server.url("/"));
  for (auto& j : jobs) {
    for (auto& f : j.files) {
      f.body = xferq::testing::make_body(f.size, f.seed);
      xferq::testing::Resource r;
      r.body = f.body;
      // An ETag lets xferq resume a partial file safely (If-Range).
      r.etag = strf("\"%s-v1\"", f.local_name.c_str());
      r.last_modified = "Mon, 01 Jan 2024 00:00:00 GMT";
      r.bytes_per_sec = f.bytes_per_sec;
      server.set(f.url_path, r);
      const std::string speed =
          f.bytes_per_sec ? strf("throttled to %s MiB/s", mib(f.bytes_per_sec).c_str()) : "full speed";
      say(strf("   %-24s %5s MiB  %s", f.url_path.c_str(), mib(f.size).c_str(), speed.c_str()));
    }
  }
}

// --------------------------------------------------------------- the queue

std::unique_ptr<xferq::Queue> open_queue(const std::string& db) {
  xferq::QueueOptions options;
  // Commit progress often so the live display (and the cancel threshold)
  // moves smoothly; the default of 500 ms would look jumpy in a short demo.
  options.progress_interval = std::chrono::milliseconds(100);
  auto q = xferq::Queue::open(db, options);
  if (!q) {
    say(strf("cannot open the queue %s: %s (%s)", db.c_str(), q.error().message().c_str(),
             hresult_of(q.error()).c_str()));
    return nullptr;
  }
  return std::move(*q);
}

// Callbacks get only the job id; map it back to the demo's names. The map is
// filled before any job is resumed and never changes afterwards, so the
// worker thread may read it without a lock.
void register_callbacks(xferq::Queue& queue, const std::vector<DemoJob>& jobs) {
  std::map<std::string, std::string> names;
  for (const auto& j : jobs) names[j.job.id()] = j.name;
  auto name_of = [names](const std::string& id) {
    auto it = names.find(id);
    return it == names.end() ? id : it->second;
  };
  xferq::JobCallbacks cb;
  cb.transferred = [name_of](const std::string& id) {
    say(strf("   >> callback: '%s' is TRANSFERRED (all bytes on disk, waiting for complete())",
             name_of(id).c_str()));
  };
  cb.error = [name_of](const std::string& id, const xferq::JobErrorInfo& e) {
    say(strf("   >> callback: '%s' entered ERROR: %s (%s) %s", name_of(id).c_str(),
             xferq::hresult_name(e.hresult).c_str(), std::string(xferq::to_string(e.context)).c_str(),
             e.description.c_str()));
  };
  queue.set_callbacks(cb);
}

bool create_jobs(xferq::Queue& queue, const FixtureServer& server, const WorkDir& dir,
                 std::vector<DemoJob>& jobs) {
  heading("2. Creating jobs (they start SUSPENDED; resume() queues them)");
  for (auto& j : jobs) {
    auto job = queue.create_job(j.name);
    if (!job) {
      say(strf("   create_job(%s) failed: %s", j.name.c_str(), hresult_of(job.error()).c_str()));
      return false;
    }
    j.job = *job;
    std::vector<xferq::FileSpec> specs;
    for (const auto& f : j.files) specs.push_back({server.url(f.url_path), dir.file(f.local_name)});
    if (auto ec = j.job.add_files(specs)) {
      say(strf("   add_files(%s) failed: %s", j.name.c_str(), hresult_of(ec).c_str()));
      return false;
    }
    say(strf("   %-8s %s  %zu file(s)", j.name.c_str(), j.job.id().c_str(), j.files.size()));
  }
  return true;
}

bool resume_all(std::vector<DemoJob>& jobs) {
  for (auto& j : jobs) {
    if (auto ec = j.job.resume()) {
      say(strf("   resume(%s) failed: %s", j.name.c_str(), hresult_of(ec).c_str()));
      return false;
    }
  }
  return true;
}

// ------------------------------------------------------- live progress view

// Prints a line for each job whose state or byte count moved since it was
// last shown, so finished jobs do not repeat themselves every tick.
class ProgressView {
 public:
  explicit ProgressView(SteadyClock::time_point start) : start_(start) {}

  void print(const std::vector<DemoJob>& jobs) {
    const double t = std::chrono::duration<double>(SteadyClock::now() - start_).count();
    for (const auto& j : jobs) {
      auto info = j.job.info();
      if (!info) continue;
      const auto& p = info->progress;
      const std::string line =
          strf("%-8s %-15s %5s / %5s MiB  %s", j.name.c_str(), std::string(xferq::to_string(info->state)).c_str(),
               mib(p.bytes_transferred).c_str(), mib(p.bytes_total).c_str(),
               percent(p.bytes_transferred, p.bytes_total).c_str());
      if (last_[j.name] == line) continue;
      last_[j.name] = line;
      say(strf("   [%5.2fs] %s", t, line.c_str()));
    }
  }

  // Polls `done` every kPollEvery and prints progress every kPrintEvery until
  // `done` holds or `timeout` passes. Returns `done`'s last value.
  bool run_until(const std::vector<DemoJob>& jobs, const std::function<bool()>& done,
                 std::chrono::milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    auto next_print = SteadyClock::now();
    for (;;) {
      if (SteadyClock::now() >= next_print) {
        print(jobs);
        next_print += kPrintEvery;
      }
      if (done()) return true;
      if (SteadyClock::now() >= deadline) return false;
      std::this_thread::sleep_for(kPollEvery);
    }
  }

 private:
  SteadyClock::time_point start_;
  std::map<std::string, std::string> last_;
};

// -------------------------------------------------------------- helpers

std::string base_name(const std::string& path) { return fs::path(path).filename().string(); }

// Temp files are hidden siblings of the final file ending in ".part"; the
// ones of a file start with "." + its name.
std::vector<std::string> part_files(const std::string& dir, const std::string& local_name = "") {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const bool is_part = name.size() > 5 && name.compare(name.size() - 5, 5, ".part") == 0;
    if (is_part && (local_name.empty() || name.rfind("." + local_name + ".", 0) == 0)) out.push_back(name);
  }
  return out;
}

void print_job_error(const DemoJob& j) {
  auto e = j.job.error();
  if (!e) return;
  say(strf("          last error: %s (%s) %s", xferq::hresult_name(e->hresult).c_str(),
           std::string(xferq::to_string(e->context)).c_str(), e->description.c_str()));
}

std::string state_name(const xferq::Job& job) {
  auto s = job.state();
  return s ? std::string(xferq::to_string(*s)) : "<" + hresult_of(s.error()) + ">";
}

// ------------------------------------------------------------ the stages

// Waits until big-iso has moved > 1 MiB, cancels it and proves the cancel
// left nothing behind and stopped the transfer.
void cancel_big_job(DemoJob& big, const FixtureServer& server, const WorkDir& dir,
                    const std::vector<DemoJob>& all, ProgressView& view, Checks& checks) {
  heading("3. Transferring (a line whenever a job moves, every 250 ms)");
  say("   (a job's total reads ? until the server has told the size of all its files)");
  const bool reached = view.run_until(
      all,
      [&] {
        auto p = big.job.progress();
        return p && p->bytes_transferred > static_cast<int64_t>(kMiB);
      },
      std::chrono::seconds(5));
  if (!checks.check(reached, "'big-iso' transferred more than 1 MiB")) {
    say(strf("          it is %s", state_name(big.job).c_str()));
    print_job_error(big);
    return;
  }

  heading("4. Cancelling 'big-iso' mid-transfer");
  // Record the temp path now: after cancel() the job's files are gone.
  std::string temp_path;
  if (auto files = big.job.files(); files && !files->empty()) temp_path = (*files)[0].temp_path;
  std::error_code size_ec;
  const auto on_disk = temp_path.empty() ? 0 : fs::file_size(temp_path, size_ec);
  say(strf("   temp file before cancel: %s (%s MiB on disk)",
           temp_path.empty() ? "<none recorded>" : base_name(temp_path).c_str(),
           size_ec ? "?" : mib(static_cast<int64_t>(on_disk)).c_str()));
  say(strf("   state before cancel: %s", state_name(big.job).c_str()));

  const auto t0 = SteadyClock::now();
  const std::error_code ec = big.job.cancel();
  const double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
  checks.check(!ec, strf("cancel() returned %s in %.1f ms", hresult_of(ec).c_str(), ms));

  auto st = big.job.state();
  checks.check(st && *st == xferq::JobState::cancelled, "state is now " + state_name(big.job));
  checks.check(!temp_path.empty() && !fs::exists(temp_path), "its temp file no longer exists");
  const auto leftovers = part_files(dir.path(), big.files[0].local_name);
  checks.check(leftovers.empty(), strf("no .%s.*.part file is left in the directory (%zu found)",
                                       big.files[0].local_name.c_str(), leftovers.size()));
  checks.check(!fs::exists(dir.file(big.files[0].local_name)), "no final big.iso was created");

  const std::error_code again = big.job.cancel();
  checks.check(again == xferq::make_error_code(xferq::Errc::invalid_state),
               "a second cancel() is refused with " + hresult_of(again));

  // The server's log shows whether the connection really ended. Give the
  // close a moment to reach the server's sending thread.
  auto connection_done = [&] {
    for (const auto& r : server.requests_for(big.files[0].url_path))
      if (!r.finished) return false;
    return true;
  };
  const auto until = SteadyClock::now() + std::chrono::seconds(2);
  while (!connection_done() && SteadyClock::now() < until) std::this_thread::sleep_for(kPollEvery);
  const long long sent = server.body_bytes_sent(big.files[0].url_path);
  checks.check(connection_done(), strf("the download stopped: the server sent %s of %s MiB",
                                       mib(sent).c_str(), mib(big.files[0].size).c_str()));
}

// Waits for the remaining jobs to be TRANSFERRED (or fail for good).
bool wait_transferred(const std::vector<DemoJob*>& rest, const std::vector<DemoJob>& all,
                      ProgressView& view, Checks& checks) {
  heading("5. Waiting for the other jobs");
  auto state_is = [](const DemoJob* j, xferq::JobState s) {
    auto st = j->job.state();
    return st && *st == s;
  };
  view.run_until(
      all,
      [&] {
        for (const DemoJob* j : rest)
          if (!state_is(j, xferq::JobState::transferred) && !state_is(j, xferq::JobState::error)) return false;
        return true;
      },
      std::chrono::seconds(6));
  view.print(all);
  bool all_ok = true;
  for (const DemoJob* j : rest) {
    const bool ok = state_is(j, xferq::JobState::transferred);
    checks.check(ok, strf("'%s' is %s", j->name.c_str(), state_name(j->job).c_str()));
    if (!ok) print_job_error(*j);
    all_ok = all_ok && ok;
  }
  return all_ok;
}

// complete() renames the temp files to their final names; then every byte
// is compared with what the server holds.
void complete_and_verify(const std::vector<DemoJob*>& rest, Checks& checks) {
  heading("6. Completing and verifying");
  for (DemoJob* j : rest) {
    auto st = j->job.state();
    if (!st || *st != xferq::JobState::transferred) continue;
    xferq::CompleteStatus status = xferq::CompleteStatus::partial;
    const std::error_code ec = j->job.complete(&status);
    checks.check(!ec && status == xferq::CompleteStatus::all_files,
                 strf("complete('%s') returned %s, %s; job is %s", j->name.c_str(), hresult_of(ec).c_str(),
                      status == xferq::CompleteStatus::all_files ? "all files" : "partial",
                      state_name(j->job).c_str()));
    if (ec) continue;
    auto files = j->job.files();
    for (size_t i = 0; i < j->files.size(); ++i) {
      const DemoFile& f = j->files[i];
      const std::string path = files && i < files->size() ? (*files)[i].local_path : "";
      const bool same = !path.empty() && xferq::testing::file_content_hash(path) ==
                                              xferq::testing::content_hash(f.body);
      checks.check(same, strf("%-18s %5s MiB  SHA-256 %s the server's", f.local_name.c_str(),
                              mib(f.size).c_str(), same ? "matches" : "DIFFERS FROM"));
    }
  }
}

void summarize(const Checks& checks, const WorkDir& dir, const std::string& db, double seconds) {
  heading("Summary");
  if (checks.failed() == 0)
    say(strf("   All %d checks passed in %.1f s.", checks.total(), seconds));
  else
    say(strf("   %d of %d checks FAILED (%.1f s).", checks.failed(), checks.total(), seconds));
  say("");
  say("   The queue is an ordinary SQLite file; look inside with:");
  say(strf("     sqlite3 %s 'SELECT * FROM job_summary'", db.c_str()));
  if (dir.kept())
    say(strf("   The downloaded files are in %s.", dir.path().c_str()));
  else
    say("   (this run's temp directory is removed on exit; run with --dir DIR to keep it)");
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  if (args.help) {
    print_usage(std::cout, argv[0]);
    return 0;
  }
  if (!args.error.empty()) {
    std::cerr << "xferq-demo: " << args.error << "\n\n";
    print_usage(std::cerr, argv[0]);
    return 2;
  }

  std::string error;
  auto dir = WorkDir::make(args.dir, &error);
  if (!dir) {
    std::cerr << "xferq-demo: " << error << "\n";
    return 2;
  }
  const std::string db = dir->file("queue.db");
  const auto start = SteadyClock::now();

  say("xferq demo: background transfers on SQLite + libcurl");
  say("====================================================");
  say("   work directory: " + dir->path() + (dir->kept() ? "" : " (temporary)"));
  say("   queue file:     " + db);

  Checks checks;
  {
    // The server is declared first so it outlives the queue: the worker may
    // still be talking to it while the queue shuts down.
    FixtureServer server;
    std::vector<DemoJob> jobs = make_catalog();
    serve(server, jobs);

    std::unique_ptr<xferq::Queue> queue = open_queue(db);
    if (!queue || !create_jobs(*queue, server, *dir, jobs)) return 1;
    register_callbacks(*queue, jobs);
    if (!resume_all(jobs)) return 1;

    DemoJob& big = jobs[1];
    std::vector<DemoJob*> rest = {&jobs[0], &jobs[2]};
    ProgressView view(start);
    cancel_big_job(big, server, *dir, jobs, view, checks);
    if (wait_transferred(rest, jobs, view, checks)) complete_and_verify(rest, checks);

    const auto stray = part_files(dir->path());
    checks.check(stray.empty(), strf("no *.part temp files remain in the directory (%zu found)", stray.size()));
    // Stop the worker before the server and the directory go away.
    queue.reset();
  }

  summarize(checks, *dir, db, std::chrono::duration<double>(SteadyClock::now() - start).count());
  return checks.failed() == 0 ? 0 : 1;
}
