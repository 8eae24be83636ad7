// commands_serve.cc — the subcommands that serve the queue or watch it:
// run (the worker until a signal or idle), monitor, and transfer (one job,
// start to finish, with a progress line redrawn on the job's progress
// callback and a line per finished file from its file_transferred callback).
#include "command_support.h"
#include "commands.h"
#include "serve_support.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <sstream>
#include <vector>

namespace xferq::cli {

int cmd_run(const Globals& g, bool until_idle, double time_slice_s) {
  return guarded([&] {
    // Before the queue starts its threads: they inherit the blocked signals
    // and this thread takes them (see StopSignals).
    StopSignals stop;
    auto q = open_queue(g, true, true);
    if (time_slice_s >= 0) {
      // Right after open: the worker's first claims fill free slots, which no
      // slice length affects; rotation only starts once every slot is busy.
      const auto ms = std::chrono::milliseconds(std::llround(time_slice_s * 1000));
      if (auto ec = q->set_time_slice(ms)) fail(ec, "cannot set the time slice: " + ec.message());
    }
    notify_systemd_ready();  // under a Type=notify unit: the queue is open, the worker started
    auto busy = [&]() -> bool {
      // The worker stopped because the queue failed under it: say why, exit non-zero.
      if (auto ec = q->worker_error()) fail(ec, "the worker stopped: " + ec.message());
      auto infos = q->job_infos(false);
      if (!infos && infos.error() == make_error_code(Errc::busy)) return true;  // passing: keep serving
      if (!infos) fail(infos.error());
      for (const JobInfo& i : *infos) {
        switch (i.state) {
          case JobState::queued:
          case JobState::connecting:
          case JobState::transferring:
          case JobState::transient_error:
            return true;
          default:
            break;
        }
      }
      return false;
    };
    for (;;) {
      if (!until_idle) {
        if (auto ec = q->worker_error()) fail(ec, "the worker stopped: " + ec.message());
      } else if (!busy()) {
        break;
      }
      if (stop.wait(std::chrono::milliseconds(50))) break;
    }
    notify_systemd_stopping();
    q->stop_worker();
    // A served queue stopped by a signal is a normal end; --until-idle cut
    // short by one is an interruption.
    if (stop.taken() && until_idle) return kExitInterrupted;
    return kExitOk;
  });
}

int cmd_monitor(const Globals& g, bool all, double refresh, long count) {
  return guarded([&] {
    if (!(refresh >= 0.0) || refresh > 86400.0) fail_arg("--refresh must be between 0 and 86400 seconds");
    if (count < 0) fail_arg("--count must not be negative");
    StopSignals stop;  // before the queue's checkpoint thread starts
    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    auto q = open_queue(g, false);
    const auto period = std::chrono::microseconds(static_cast<int64_t>(refresh * 1e6));
    for (long n = 0; !stop.taken() && (count == 0 || n < count); ++n) {
      // The first list at once; each later one after the refresh period.
      if (stop.wait(n > 0 ? std::chrono::nanoseconds(period) : std::chrono::nanoseconds(0))) break;
      auto infos = q->job_infos(all);
      if (!infos) {
        // A busy database is transient: say so and try again next time.
        if (tty) std::cout << "\033[H\033[2J";
        std::cout << "xferq: " << describe(infos.error()) << "\n" << std::flush;
        continue;
      }
      if (tty) std::cout << "\033[H\033[2J";
      print_job_lines(*infos);
      std::cout << std::flush;
    }
    return kExitOk;  // SIGINT is how a monitor is meant to end
  });
}

namespace {

// Rate and ETA for `transfer`: a rate smoothed over the last samples, so the
// ETA does not jump with every progress commit.
class ProgressMeter {
 public:
  void sample(int64_t bytes) {
    const auto now = std::chrono::steady_clock::now();
    if (have_) {
      const double dt = std::chrono::duration<double>(now - at_).count();
      if (dt >= 0.2) {
        const double instant = static_cast<double>(bytes - bytes_) / dt;
        rate_ = rate_ < 0 ? instant : 0.7 * rate_ + 0.3 * instant;
        at_ = now;
        bytes_ = bytes;
      }
    } else {
      have_ = true;
      at_ = now;
      bytes_ = bytes;
    }
  }
  double rate() const { return rate_ < 0 ? 0 : rate_; }
  // "12.3 MiB/s  ETA 0:42", or "" before the first measurement.
  std::string text(int64_t done, int64_t total) const {
    if (rate_ < 0) return "";
    std::ostringstream out;
    out.setf(std::ios::fixed);
    out.precision(1);
    out << rate() / (1024.0 * 1024.0) << " MiB/s";
    if (total > 0 && rate() > 1) {
      const auto left = static_cast<int64_t>(static_cast<double>(total - done) / rate());
      out << "  ETA " << left / 60 << ":" << (left % 60 < 10 ? "0" : "") << left % 60;
    }
    return out.str();
  }

 private:
  bool have_ = false;
  std::chrono::steady_clock::time_point at_;
  int64_t bytes_ = 0;
  double rate_ = -1;
};

// "[########............]  42%" for a terminal.
std::string bar(int64_t done, int64_t total) {
  constexpr int kWidth = 24;
  if (total <= 0) return "[" + std::string(kWidth, '?') + "]    ?%";
  const int filled = static_cast<int>(kWidth * done / total);
  const int pct = static_cast<int>(100 * done / total);
  std::string pct_text = std::to_string(pct);
  return "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] " +
         std::string(3 - std::min<size_t>(3, pct_text.size()), ' ') + pct_text + "%";
}

// What the transfer's callbacks report to the command's loop (they run on
// the worker thread): the files finished since the loop last looked, and
// whether anything changed, so the loop redraws at once instead of at its
// next 100 ms tick.
// Thread safety: every member is guarded by mu.
struct TransferEvents {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<uint32_t> files_done;
  bool changed = false;

  void note(const uint32_t* file) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (file) files_done.push_back(*file);
      changed = true;
    }
    cv.notify_one();
  }
  // The callbacks that feed it, for the job `id`.
  JobCallbacks callbacks(const std::string& id) {
    JobCallbacks cb;
    cb.progress_interval = std::chrono::milliseconds(100);
    cb.file_transferred = [this, id](const std::string& job_id, uint32_t file) {
      if (job_id == id) note(&file);
    };
    cb.progress = [this](const std::string&, const JobProgress&) { note(nullptr); };
    cb.transferred = [this](const std::string&) { note(nullptr); };
    cb.error = [this](const std::string&, const JobErrorInfo&) { note(nullptr); };
    return cb;
  }
  // Waits up to `timeout` for a change; returns the files finished since.
  std::vector<uint32_t> wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, timeout, [this] { return changed; });
    changed = false;
    std::vector<uint32_t> out;
    out.swap(files_done);
    return out;
  }
};

}  // namespace

int cmd_transfer(const Globals& g, const std::vector<std::string>& pairs, const std::string& name,
                 const std::string& priority) {
  return guarded([&] {
    if (pairs.empty() || pairs.size() % 2 != 0)
      throw Fail{{kExitUsage, "usage: transfer URL PATH [URL PATH ...]"}};
    JobPriority prio = JobPriority::foreground;
    if (!priority.empty() && !parse_priority(priority, &prio))
      fail_arg("unknown priority '" + priority + "' (FOREGROUND, HIGH, NORMAL or LOW)");
    std::vector<FileSpec> specs;
    for (size_t k = 0; k < pairs.size(); k += 2) specs.push_back({pairs[k], absolute_path(pairs[k + 1])});

    StopSignals stop;        // before the worker starts (see StopSignals)
    TransferEvents events;  // outlives q: the worker's callbacks point at it
    auto q = open_queue(g, true, true);
    Job job = get(q->create_job(name.empty() ? std::string("xferq transfer") : name));
    q->set_callbacks(events.callbacks(job.id()));
    auto abandon = [&](const Failure& f) {
      job.cancel();
      throw Fail{f};
    };
    if (auto ec = job.add_files(specs)) abandon({exit_status_for(ec), describe(ec)});
    if (auto ec = job.set_priority(prio)) abandon({exit_status_for(ec), describe(ec)});
    if (auto ec = job.resume()) abandon({exit_status_for(ec), describe(ec)});
    std::cout << "Transfer job " << job.id() << " started.\n" << std::flush;

    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    std::vector<bool> printed(specs.size(), false);
    auto print_file = [&](uint32_t file) {
      if (file >= specs.size() || printed[file]) return;
      printed[file] = true;
      if (tty) std::cout << "\r\033[K";
      std::cout << "File " << file + 1 << " / " << specs.size() << " transferred: " << shown(specs[file].local_path)
                << "\n" << std::flush;
    };
    ProgressMeter meter;
    std::string last;
    for (;;) {
      if (stop.wait(std::chrono::nanoseconds(0))) {
        auto ec = job.cancel();
        std::cerr << "xferq: interrupted; job " << job.id()
                  << (ec ? " could not be canceled: " + describe(ec) : std::string(" canceled.")) << "\n";
        return kExitInterrupted;
      }
      auto info = job.info();
      if (!info) fail(info.error());
      const JobInfo& i = *info;
      meter.sample(i.progress.bytes_transferred);
      if (tty) {
        // One line, redrawn in place: bar, bytes, rate, ETA.
        std::cout << "\r\033[K" << bar(i.progress.bytes_transferred, i.progress.bytes_total) << "  "
                  << i.progress.bytes_transferred / 1024 << " / "
                  << (i.progress.bytes_total < 0 ? std::string("?") : std::to_string(i.progress.bytes_total / 1024))
                  << " KiB  " << meter.text(i.progress.bytes_transferred, i.progress.bytes_total) << "  "
                  << to_string(i.state) << std::flush;
        if (i.state == JobState::transferred || i.state == JobState::error || is_final(i.state))
          std::cout << "\n";
      }
      std::ostringstream line;
      line << to_string(i.state) << ": " << i.progress.bytes_transferred << " / "
           << size_text(i.progress.bytes_total) << " bytes, " << i.progress.files_transferred << " / "
           << i.progress.files_total << " files";
      if (i.state == JobState::transient_error && i.error)
        line << " (" << hresult_name(i.error->hresult) << ": " << i.error->description << "; will retry)";
      if (!tty && line.str() != last) {
        last = line.str();
        const std::string rate = meter.text(i.progress.bytes_transferred, i.progress.bytes_total);
        std::cout << last << (rate.empty() ? "" : ", " + rate) << "\n" << std::flush;
      }
      if (i.state == JobState::transferred) {
        // Every file is done; the last one's callback may not have run yet.
        for (uint32_t f = 0; f < specs.size(); ++f) print_file(f);
        CompleteStatus st;
        if (auto ec = job.complete(&st)) check(ec, job, "complete");
        std::cout << "Transfer complete.\n";
        return kExitOk;
      }
      if (i.state == JobState::error) {
        std::string text = "the transfer failed";
        uint32_t hr = 0;
        if (i.error) {
          hr = i.error->hresult;
          text = i.error->description + " (" + std::string(to_string(i.error->context)) + ")";
        }
        job.cancel();
        std::cerr << "xferq: " << hresult_name(hr) << ": " << text << "; job " << job.id() << " canceled.\n";
        return kExitFailure;
      }
      if (is_final(i.state)) {
        std::cerr << "xferq: job " << job.id() << " was " << to_string(i.state) << " by someone else.\n";
        return kExitFailure;
      }
      for (const uint32_t file : events.wait(std::chrono::milliseconds(100))) print_file(file);
    }
  });
}


}  // namespace xferq::cli
