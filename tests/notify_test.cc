// notify_test.cc — notifications: the notify command line
// (Job::set_notify_command_line: runs on TRANSFERRED / ERROR only, without a
// shell, in the worker's process, reruns, no zombies, persistence, argument
// checks) and the file_transferred / progress callbacks (order, throttle).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "bits_upload_server.h"
#include "test_util.h"
#include "fs/spawn.h"
#include "worker/notifier.h"

namespace xferq::testing {
namespace {

using std::chrono::milliseconds;

// Lines of a file ("" lines dropped); none if it does not exist.
std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

// Children of this process that are zombies (exited, not collected).
int zombie_children() {
  int n = 0;
  const std::string me = std::to_string(::getpid());
  DIR* d = ::opendir("/proc");
  if (!d) return 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const std::string stat = read_file(std::string("/proc/") + e->d_name + "/stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 4 >= stat.size()) continue;
    // "pid (comm) S ppid ..."
    std::istringstream rest(stat.substr(close + 2));
    std::string state, ppid;
    rest >> state >> ppid;
    if (ppid == me && state == "Z") ++n;
  }
  ::closedir(d);
  return n;
}

class NotifyTest : public ::testing::Test {
 protected:
  std::string db() const { return dir / "queue.db"; }
  // A download job of one file served by the fixture at `path`.
  Job download_job(Queue& q, const std::string& path, const std::string& name) {
    auto job = q.create_job(name);
    EXPECT_TRUE(job.ok());
    EXPECT_FALSE(job->add_file(server.url(path), dir / name));
    return *job;
  }
  ScratchDir dir;
  FixtureServer server;
};

TEST_F(NotifyTest, CommandRunsOnTransferredWithoutShellAndJobIdSubstituted) {
  server.set("/a", body_resource(make_body(10000)));
  auto q = open_queue(db(), test_options());
  Job job = download_job(*q, "/a", "a.out");
  // touch is the program; "a;b" would be two commands under a shell.
  ASSERT_FALSE(job.set_notify_command_line("/usr/bin/touch", {dir / "done-{job}", dir / "a;b"}));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  EXPECT_TRUE(wait_for([&] { return exists(dir / ("done-" + job.id())); })) << "notify program did not run";
  EXPECT_TRUE(wait_for([&] { return exists(dir / "a;b"); }));
  EXPECT_FALSE(exists(dir / "a"));
  EXPECT_FALSE(exists(dir / "b"));
  EXPECT_FALSE(exists(dir / "done-{job}"));
  // Collected by the worker: no zombie stays behind.
  EXPECT_TRUE(wait_for([] { return zombie_children() == 0; }, milliseconds(5000)));
}

// A program still running when the worker stops is collected all the same.
TEST_F(NotifyTest, ProgramOutlivingTheWorkerLeavesNoZombie) {
  server.set("/a", body_resource(make_body(1000)));
  auto q = open_queue(db(), test_options());
  Job job = download_job(*q, "/a", "a.out");
  const std::string started = dir / "started", ended = dir / "ended";
  ASSERT_FALSE(job.set_notify_command_line(
      "/bin/sh", {"-c", ": > \"$1\"; sleep 1; : > \"$2\"", "sh", started, ended}));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred));
  ASSERT_TRUE(wait_for([&] { return exists(started); }));
  q->stop_worker();
  q.reset();
  EXPECT_FALSE(exists(ended));  // still running when the worker was gone
  ASSERT_TRUE(wait_for([&] { return exists(ended); }));
  std::this_thread::sleep_for(milliseconds(300));  // it exits right after: a zombie unless collected
  EXPECT_TRUE(wait_for([] { return zombie_children() == 0; }, milliseconds(5000)));
}

TEST_F(NotifyTest, CommandRunsInTheWorkersProcessWithItsArgumentsIntact) {
  server.set("/a", body_resource(make_body(1000)));
  auto q = open_queue(db(), test_options());
  Job job = download_job(*q, "/a", "a.out");
  // /bin/sh is the program here, given a script: the arguments after it
  // arrive one by one, spaces, quotes and newlines included.
  const std::string out = dir / "args";
  ASSERT_FALSE(job.set_notify_command_line(
      "/bin/sh", {"-c", "echo $PPID > \"$1\"; printf '%s\\n' \"$2\" \"$3\" >> \"$1\"", "sh", out,
                  "x y 'z' {job}", "$(false)"}));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred));
  ASSERT_TRUE(wait_for([&] { return lines_of(out).size() == 3; })) << read_file(out);
  const auto l = lines_of(out);
  EXPECT_EQ(l[0], std::to_string(::getpid()));  // a child of this process
  EXPECT_EQ(l[1], "x y 'z' " + job.id());
  EXPECT_EQ(l[2], "$(false)");
}

TEST_F(NotifyTest, CommandRunsOnErrorAndNotOnOtherStates) {
  Resource missing;
  missing.status = 404;
  server.set("/missing", missing);
  server.set("/slow", body_resource(make_body(400000), 100000));
  auto q = open_queue(db(), test_options());
  const std::string log = dir / "log";
  const std::vector<std::string> args = {"-c", "echo \"$1\" >> \"$2\"", "sh", "{job}", log};
  Job bad = download_job(*q, "/missing", "bad.out");
  Job slow = download_job(*q, "/slow", "slow.out");
  Job idle = download_job(*q, "/missing", "idle.out");
  for (Job* j : {&bad, &slow, &idle}) ASSERT_FALSE(j->set_notify_command_line("/bin/sh", args));
  ASSERT_FALSE(bad.resume());
  ASSERT_TRUE(wait_state(bad, JobState::error)) << state_name(bad);
  ASSERT_TRUE(wait_for([&] { return lines_of(log).size() == 1; }));
  EXPECT_EQ(lines_of(log)[0], bad.id());
  // Running, suspended, resumed, cancelled: nothing runs.
  ASSERT_FALSE(slow.resume());
  ASSERT_TRUE(wait_state(slow, JobState::transferring));
  ASSERT_FALSE(slow.suspend());
  ASSERT_FALSE(slow.resume());
  ASSERT_FALSE(slow.cancel());
  ASSERT_FALSE(idle.cancel());
  ASSERT_FALSE(bad.complete());  // ERROR -> ACKNOWLEDGED
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(lines_of(log).size(), 1u) << read_file(log);
}

TEST_F(NotifyTest, FailedCommandRunsAgainAfterTheRetryDelayUntilTheJobMovesOn) {
  server.set("/a", body_resource(make_body(1000)));
  auto q = open_queue(db(), test_options());
  Job job = download_job(*q, "/a", "a.out");
  ASSERT_FALSE(job.set_minimum_retry_delay(std::chrono::seconds(0)));  // the rerun floor is 1 s
  const std::string log = dir / "runs";
  ASSERT_FALSE(job.set_notify_command_line("/bin/sh", {"-c", "echo run >> \"$1\"; exit 3", "sh", log}));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred));
  ASSERT_TRUE(wait_for([&] { return lines_of(log).size() >= 2; }, milliseconds(8000))) << read_file(log);
  ASSERT_FALSE(job.complete());
  const size_t runs = lines_of(log).size();
  std::this_thread::sleep_for(milliseconds(2500));
  EXPECT_LE(lines_of(log).size(), runs + 1);  // at most one that had started already
}

TEST_F(NotifyTest, SucceededCommandRunsOnce) {
  server.set("/a", body_resource(make_body(1000)));
  auto q = open_queue(db(), test_options());
  Job job = download_job(*q, "/a", "a.out");
  ASSERT_FALSE(job.set_minimum_retry_delay(std::chrono::seconds(0)));
  const std::string log = dir / "runs";
  ASSERT_FALSE(job.set_notify_command_line("/bin/sh", {"-c", "echo run >> \"$1\"", "sh", log}));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred));
  ASSERT_TRUE(wait_for([&] { return lines_of(log).size() == 1; }));
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(lines_of(log).size(), 1u);
}

TEST_F(NotifyTest, BadCommandLinesAreRefusedAtSetTimeAndChangeNothing) {
  auto q = open_queue(db(), test_options(false));
  auto job = q->create_job("j");
  ASSERT_TRUE(job.ok());
  ASSERT_FALSE(job->set_notify_command_line("/usr/bin/touch", {"x"}));
  const std::string plain = dir / "plain";
  write_file(plain, "#!/bin/sh\n");
  ::chmod(plain.c_str(), 0644);
  auto code = [&](std::string_view program, std::vector<std::string> args) {
    return job->set_notify_command_line(program, args);
  };
  EXPECT_EQ(code("touch", {}), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(code("usr/bin/touch", {}), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(code(dir / "nothing", {}), make_error_code(Errc::file_not_found));
  EXPECT_EQ(code(dir.path(), {}), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(code(plain, {}), make_error_code(Errc::access_denied));  // root too: no x bit at all
  EXPECT_EQ(code("", {"x"}), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(code("/usr/bin/touch", {std::string("a\0b", 3)}), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(code(std::string("/usr/bin/touch\0", 15), {}), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(code("/" + std::string(4096, 'a'), {}), make_error_code(Errc::string_too_long));
  EXPECT_EQ(code("/usr/bin/touch", {std::string(2000, 'a'), std::string(2000, 'b')}),
            make_error_code(Errc::string_too_long));  // 4,001 with the separator
  EXPECT_FALSE(code("/usr/bin/touch", {std::string(1999, 'a'), std::string(2000, 'b')}));
  auto c = job->notify_command_line();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->program, "/usr/bin/touch");
  ASSERT_EQ(c->args.size(), 2u);
  EXPECT_EQ(c->args[0].size(), 1999u);
  // Both empty removes it.
  ASSERT_FALSE(code("", {}));
  c = job->notify_command_line();
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->program.empty());
  EXPECT_TRUE(c->args.empty());
  // Final jobs: DO_E_INVALID_STATE; an empty handle: BG_E_NOT_FOUND.
  ASSERT_FALSE(job->cancel());
  EXPECT_EQ(code("/usr/bin/touch", {}), make_error_code(Errc::invalid_state));
  EXPECT_EQ(Job().set_notify_command_line("", {}), make_error_code(Errc::not_found));
}

TEST_F(NotifyTest, CommandLinePersistsAcrossReopen) {
  std::string id;
  const std::vector<std::string> args = {"a;b", "", "two words", "line\nbreak", "{job}", "\xC3\xA9"};
  {
    auto q = open_queue(db(), test_options(false));
    auto job = q->create_job("j");
    ASSERT_TRUE(job.ok());
    id = job->id();
    ASSERT_FALSE(job->set_notify_command_line("/usr/bin/touch", args));
    auto other = q->create_job("k");  // no command line: reads back empty
    ASSERT_TRUE(other.ok());
    auto none = other->notify_command_line();
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->program.empty());
    EXPECT_TRUE(none->args.empty());
  }
  auto q = open_queue(db(), test_options(false));
  auto job = q->get_job(id);
  ASSERT_TRUE(job.ok());
  auto c = job->notify_command_line();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->program, "/usr/bin/touch");
  EXPECT_EQ(c->args, args);
}

TEST(NotifySubstitute, EveryTokenBecomesTheJobId) {
  using detail::Notifier;
  const std::vector<std::string> in = {"{job}", "a{job}b{job}", "{JOB}", "{job", "", "x"};
  const std::vector<std::string> out = {"{ID}", "a{ID}b{ID}", "{JOB}", "{job", "", "x"};
  EXPECT_EQ(Notifier::substitute(in, "{ID}"), out);
}

// The process effects layer itself: descriptors of the parent are not
// inherited (close-on-exec or not), stdio is /dev/null, exit statuses are
// collected without blocking, and a missing program is an error, not a child.
TEST(Spawn, ClosesDescriptorsNullsStdioAndCollectsExits) {
  ScratchDir dir;
  const std::string probe = dir / "probe";
  const int leaked = ::open((dir / "held").c_str(), O_CREAT | O_WRONLY, 0600);  // no O_CLOEXEC
  ASSERT_GE(leaked, 3);
  const std::string script = "if [ -e /proc/$$/fd/" + std::to_string(leaked) +
                             " ]; then echo open; else echo closed; fi > \"$1\"; "
                             "readlink /proc/$$/fd/0 >> \"$1\"; exit 7";
  detail::ChildProcesses children;
  auto pid = detail::spawn_program("/bin/sh", {"-c", script, "sh", probe});
  ASSERT_TRUE(pid.ok()) << pid.error().message();
  children.add(*pid);
  std::vector<detail::ChildProcesses::Exit> exits;
  ASSERT_TRUE(wait_for([&] {
    for (const auto& e : children.collect()) exits.push_back(e);
    return !exits.empty();
  }));
  ::close(leaked);
  EXPECT_EQ(exits[0].pid, *pid);
  EXPECT_FALSE(exits[0].success);  // exit 7
  EXPECT_TRUE(children.empty());
  EXPECT_EQ(lines_of(probe), (std::vector<std::string>{"closed", "/dev/null"}));
  auto missing = detail::spawn_program(dir / "nothing", {});
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), make_error_code(Errc::file_not_found));
}

// ---- Callbacks -------------------------------------------------------------

TEST_F(NotifyTest, FileTransferredFiresOncePerFileInOrder) {
  const size_t n = 3;
  std::vector<FileSpec> files;
  for (size_t i = 0; i < n; ++i) {
    server.set("/f" + std::to_string(i), body_resource(make_body(20000 + i, static_cast<uint32_t>(i))));
    files.push_back({server.url("/f" + std::to_string(i)), dir / ("f" + std::to_string(i))});
  }
  auto q = open_queue(db(), test_options());
  std::mutex mu;
  std::vector<std::string> events;
  JobProgress last{};
  JobCallbacks cb;
  cb.file_transferred = [&](const std::string&, uint32_t idx) {
    std::lock_guard<std::mutex> l(mu);
    events.push_back("file " + std::to_string(idx));
  };
  cb.transferred = [&](const std::string&) {
    std::lock_guard<std::mutex> l(mu);
    events.push_back("transferred");
  };
  cb.progress = [&](const std::string&, const JobProgress& p) {
    std::lock_guard<std::mutex> l(mu);
    last = p;
  };
  q->set_callbacks(cb);
  auto job = q->create_job("files");
  ASSERT_TRUE(job.ok());
  ASSERT_FALSE(job->add_files(files));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transferred));
  ASSERT_TRUE(wait_for([&] {
    std::lock_guard<std::mutex> l(mu);
    return !events.empty() && events.back() == "transferred";
  }));
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(events, (std::vector<std::string>{"file 0", "file 1", "file 2", "transferred"}));
  // The last progress call (unthrottled at TRANSFERRED) shows every byte.
  EXPECT_EQ(last.files_transferred, n);
  EXPECT_EQ(last.files_total, n);
  EXPECT_EQ(last.bytes_transferred, last.bytes_total);
  EXPECT_EQ(last.bytes_total, 20000 * 3 + 0 + 1 + 2);
}

// Uploads: progress after each Ack, the one file reported, and the notify
// program on TRANSFERRED too.
TEST_F(NotifyTest, UploadReportsItsFileAndProgressAndRunsTheCommand) {
  BitsUploadServer bits;
  const std::string body = make_body(200 * 1024, 5);
  write_file(dir / "up.bin", body);
  QueueOptions o = test_options();
  o.upload_fragment_bytes = 64 * 1024;
  auto q = open_queue(db(), o);
  std::mutex mu;
  std::vector<uint32_t> files;
  std::vector<JobProgress> calls;
  std::atomic<bool> done{false};
  JobCallbacks cb;
  cb.progress_interval = milliseconds(0);
  cb.file_transferred = [&](const std::string&, uint32_t idx) {
    std::lock_guard<std::mutex> l(mu);
    files.push_back(idx);
  };
  cb.progress = [&](const std::string&, const JobProgress& p) {
    std::lock_guard<std::mutex> l(mu);
    calls.push_back(p);
  };
  cb.transferred = [&](const std::string&) { done = true; };
  q->set_callbacks(cb);
  auto job = q->create_job("up", JobType::upload);
  ASSERT_TRUE(job.ok());
  ASSERT_FALSE(job->add_file(bits.url("/up/up.bin"), dir / "up.bin"));
  ASSERT_FALSE(job->set_notify_command_line("/usr/bin/touch", {dir / "uploaded-{job}"}));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_for([&] { return done.load(); }));
  ASSERT_TRUE(bits.uploaded("/up/up.bin", nullptr));
  EXPECT_TRUE(wait_for([&] { return exists(dir / ("uploaded-" + job->id())); }));
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(files, std::vector<uint32_t>{0});
  // Four fragments' Acks (interval 0: each one), then the final call.
  ASSERT_GE(calls.size(), 4u);
  EXPECT_EQ(calls.back().bytes_transferred, static_cast<int64_t>(body.size()));
  EXPECT_EQ(calls.back().files_transferred, 1u);
}

// Counts progress calls over a throttled transfer.
struct ProgressLog {
  std::mutex mu;
  std::vector<JobProgress> calls;
  std::atomic<bool> transferred{false};
  JobCallbacks callbacks(milliseconds interval, uint32_t percent) {
    JobCallbacks cb;
    cb.progress_interval = interval;
    cb.progress_percent = percent;
    cb.progress = [this](const std::string&, const JobProgress& p) {
      std::lock_guard<std::mutex> l(mu);
      calls.push_back(p);
    };
    cb.transferred = [this](const std::string&) { transferred = true; };
    return cb;
  }
};

TEST_F(NotifyTest, ProgressCallbackIsRateLimitedByTheInterval) {
  // ~2 s at 100 KB/s; the queue commits progress every 50 ms (~40 commits).
  server.set("/slow", body_resource(make_body(200000), 100000));
  auto q = open_queue(db(), test_options());
  ProgressLog log;
  const milliseconds interval(300);
  q->set_callbacks(log.callbacks(interval, 0));
  Job job = download_job(*q, "/slow", "slow.out");
  const auto start = std::chrono::steady_clock::now();
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] { return log.transferred.load(); }, milliseconds(20000)));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  std::lock_guard<std::mutex> l(log.mu);
  // A bound, not a timing: one call per interval at most, the first one
  // free, plus the final one at TRANSFERRED.
  const auto bound = static_cast<size_t>(elapsed / interval) + 2;
  EXPECT_LE(log.calls.size(), bound) << "elapsed ms " << std::chrono::duration_cast<milliseconds>(elapsed).count();
  ASSERT_GE(log.calls.size(), 2u);  // progress along the way, and the end
  for (size_t i = 1; i < log.calls.size(); ++i)
    EXPECT_GE(log.calls[i].bytes_transferred, log.calls[i - 1].bytes_transferred);
  EXPECT_EQ(log.calls.back().bytes_transferred, 200000);
}

TEST_F(NotifyTest, ProgressCallbackByPercentSteps) {
  server.set("/slow", body_resource(make_body(200000), 200000));
  auto q = open_queue(db(), test_options());
  ProgressLog log;
  q->set_callbacks(log.callbacks(milliseconds(0), 25));
  Job job = download_job(*q, "/slow", "slow.out");
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] { return log.transferred.load(); }, milliseconds(20000)));
  std::lock_guard<std::mutex> l(log.mu);
  // Steps 0..4 of 25 % once each at most (bytes_total is known from the
  // first commit), plus the final call.
  EXPECT_LE(log.calls.size(), 6u);
  ASSERT_GE(log.calls.size(), 2u);
  std::vector<int64_t> steps;
  for (size_t i = 0; i + 1 < log.calls.size(); ++i)
    steps.push_back(log.calls[i].bytes_transferred * 100 / 200000 / 25);
  for (size_t i = 1; i < steps.size(); ++i) EXPECT_GT(steps[i], steps[i - 1]);
  EXPECT_EQ(log.calls.back().bytes_transferred, 200000);
}

}  // namespace
}  // namespace xferq::testing
