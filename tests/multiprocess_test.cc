// multiprocess_test.cc — several `xferq` processes on ONE queue file at once.
//
// Children are fork + exec only (of /bin/sh running CLI commands, or of the
// CLI itself): nothing of gtest or the fixture server runs in a child.
#include <cstdlib>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "test_util.h"

namespace xferq::testing {
namespace {

const std::string kCli = XFERQ_CLI_PATH;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

class MultiProcessTest : public ::testing::Test {
 protected:
  std::string db() const { return dir_ / "queue.db"; }

  struct Run {
    int status = -1;
    std::string out, err;
  };

  Run cli(std::vector<std::string> args, std::chrono::milliseconds timeout = std::chrono::milliseconds(30000)) {
    args.insert(args.begin(), {"--db", db()});
    const std::string out = dir_ / "cli.out", err = dir_ / "cli.err";
    Run r;
    r.status = wait_exit(spawn(kCli, args, out, err), timeout);
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
  }

  std::string state(const std::string& job) {
    Run r = cli({"getstate", job});
    std::string s = r.out;
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return r.status == 0 ? s : "exit " + std::to_string(r.status) + ": " + r.err;
  }

  ScratchDir dir_;
};

// Eight processes, each running 25 create/addfile/(cancel | setdescription +
// suspend | resume) sequences of CLI commands on the same queue file.
TEST_F(MultiProcessTest, EightProcessesShareOneQueueWithoutLosingJobsOrReportingBusy) {
  constexpr int kProcs = 8;
  // 25 jobs per process; the sanitizer presets run fewer (CMakePresets.json):
  // each is four process starts, ten times slower under a sanitizer.
  const char* env_jobs = std::getenv("XFERQ_MULTIPROCESS_JOBS");
  const int kJobs = env_jobs && std::atoi(env_jobs) >= 3 ? std::atoi(env_jobs) : 25;  // each i % 3 case
  // A queue that exists before the rush (as it would in real use); read-only
  // commands such as `list` never create one.
  ASSERT_TRUE(open_queue(db(), test_options(false)));
  ASSERT_EQ(cli({"list"}).status, 0);
  // A URL nothing serves: no worker runs, so it is never fetched.
  const std::string url = "http://127.0.0.1:9/never.bin";
  const std::string script =
      "set -e\n"
      "X=\"$1\"; DB=\"$2\"; P=\"$3\"; N=\"$4\"; URL=\"$5\"; DIR=\"$6\"\n"
      "i=0\n"
      "while [ $i -lt $N ]; do\n"
      "  name=\"p$P-j$i\"\n"
      "  \"$X\" --db \"$DB\" create \"$name\" >/dev/null\n"
      "  \"$X\" --db \"$DB\" addfile \"$name\" \"$URL\" \"$DIR/p$P-$i.bin\" >/dev/null\n"
      "  case $((i % 3)) in\n"
      "    0) \"$X\" --db \"$DB\" cancel \"$name\" >/dev/null ;;\n"
      "    1) \"$X\" --db \"$DB\" setdescription \"$name\" \"described by $P\" >/dev/null\n"
      "       \"$X\" --db \"$DB\" suspend \"$name\" >/dev/null ;;\n"
      "    2) \"$X\" --db \"$DB\" resume \"$name\" >/dev/null ;;\n"
      "  esac\n"
      "  i=$((i + 1))\n"
      "done\n";
  const std::string script_path = dir_ / "child.sh";
  write_file(script_path, script);

  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p)
    pids.push_back(spawn("/bin/sh",
                         {script_path, kCli, db(), std::to_string(p), std::to_string(kJobs), url, dir_.path()},
                         dir_ / ("p" + std::to_string(p) + ".out"), dir_ / ("p" + std::to_string(p) + ".err")));
  for (int p = 0; p < kProcs; ++p) {
    const int st = wait_exit(pids[p], std::chrono::milliseconds(240000));
    const std::string err = read_file(dir_ / ("p" + std::to_string(p) + ".err"));
    EXPECT_EQ(st, 0) << "process " << p << ": " << err;
    EXPECT_EQ(lower(err).find("locked"), std::string::npos) << "process " << p << ": " << err;
    EXPECT_EQ(err.find("BUSY"), std::string::npos) << "process " << p << ": " << err;
    EXPECT_EQ(err, "") << "process " << p;
  }

  Run list = cli({"--json", "list", "--all"});
  ASSERT_EQ(list.status, 0) << list.err;
  auto jobs = nlohmann::json::parse(list.out);
  ASSERT_TRUE(jobs.is_array());
  EXPECT_EQ(jobs.size(), static_cast<size_t>(kProcs * kJobs));  // nothing lost, nothing doubled

  std::map<std::string, std::string> state_by_name;
  std::map<std::string, int> states;
  for (const auto& j : jobs) {
    const std::string name = j["display_name"], st = j["state"];
    EXPECT_TRUE(state_by_name.emplace(name, st).second) << "duplicate " << name;
    ++states[st];
    EXPECT_EQ(j["files_total"], 1) << name;
  }
  for (int p = 0; p < kProcs; ++p) {
    for (int i = 0; i < kJobs; ++i) {
      const std::string name = "p" + std::to_string(p) + "-j" + std::to_string(i);
      auto it = state_by_name.find(name);
      ASSERT_NE(it, state_by_name.end()) << name << " was lost";
      const char* want = i % 3 == 0 ? "CANCELLED" : i % 3 == 1 ? "SUSPENDED" : "QUEUED";
      EXPECT_EQ(it->second, want) << name;
    }
  }
  const int kCancelled = kProcs * ((kJobs + 2) / 3);  // i = 0, 3, ..., 24 (of 25)
  const int kSuspended = kProcs * ((kJobs + 1) / 3);  // i = 1, 4, ..., 22
  const int kQueued = kProcs * (kJobs / 3);           // i = 2, 5, ..., 23
  EXPECT_EQ(states["CANCELLED"], kCancelled);
  EXPECT_EQ(states["SUSPENDED"], kSuspended);
  EXPECT_EQ(states["QUEUED"], kQueued);

  // The descriptions written by other processes are all there.
  Run info = cli({"--json", "info", "p5-j1"});
  ASSERT_EQ(info.status, 0) << info.err;
  EXPECT_EQ(nlohmann::json::parse(info.out)["description"], "described by 5");
  // Nothing was ever downloaded, so no temp files either.
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

// `xferq run` serves the queue in one process; suspend, resume and
// setpriority from other processes each take effect on the running transfer.
TEST_F(MultiProcessTest, RunInOneProcessObeysSuspendResumeAndPriorityFromOthers) {
  FixtureServer server;
  const std::string body = make_body(1536 * 1024, 11);
  server.set("/big.bin", body_resource(body, 384 * 1024));  // about 4 s in all
  Run created = cli({"create", "served"});
  ASSERT_EQ(created.status, 0) << created.err;
  std::string id = created.out;
  while (!id.empty() && id.back() == '\n') id.pop_back();
  ASSERT_EQ(cli({"addfile", id, server.url("/big.bin"), dir_ / "big.bin"}).status, 0);
  ASSERT_EQ(cli({"resume", id}).status, 0);

  pid_t worker = spawn(kCli, {"--db", db(), "run"}, dir_ / "worker.out", dir_ / "worker.err");
  ASSERT_TRUE(wait_for([&] { return server.body_bytes_sent("/big.bin") > 64 * 1024; },
                       std::chrono::milliseconds(20000)))
      << read_file(dir_ / "worker.err");
  // The worker commits progress periodically; wait until some is on record,
  // so there is something for a Range request to continue from.
  ASSERT_TRUE(wait_for(
      [&] {
        Run p = cli({"--json", "getprogress", id});
        return p.status == 0 && nlohmann::json::parse(p.out)["bytes_transferred"].get<long long>() > 0;
      },
      std::chrono::milliseconds(20000)));

  // Suspend: the worker drops the connection; the server's request ends.
  Run suspend = cli({"suspend", id});
  ASSERT_EQ(suspend.status, 0) << suspend.err;
  EXPECT_TRUE(wait_for(
      [&] {
        for (const auto& r : server.requests_for("/big.bin"))
          if (!r.finished) return false;
        return true;
      },
      std::chrono::milliseconds(5000)));
  EXPECT_EQ(state(id), "SUSPENDED");
  const size_t requests_before = server.requests_for("/big.bin").size();
  const long long sent = server.body_bytes_sent("/big.bin");
  EXPECT_LT(sent, static_cast<long long>(body.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(server.requests_for("/big.bin").size(), requests_before);  // stays stopped

  // Resume: a new request, with a Range that continues where it stopped.
  Run resume = cli({"resume", id});
  ASSERT_EQ(resume.status, 0) << resume.err;
  ASSERT_TRUE(wait_for([&] { return server.requests_for("/big.bin").size() > requests_before; },
                       std::chrono::milliseconds(10000)))
      << read_file(dir_ / "worker.err");
  const auto after = server.requests_for("/big.bin");
  const std::string range = after[requests_before].range;
  EXPECT_EQ(range.rfind("bytes=", 0), 0u) << range;
  EXPECT_NE(range, "bytes=0-") << range;

  // Priority, set while it transfers.
  Run prio = cli({"setpriority", id, "HIGH"});
  ASSERT_EQ(prio.status, 0) << prio.err;
  Run info = cli({"--json", "info", id});
  ASSERT_EQ(info.status, 0) << info.err;
  EXPECT_EQ(nlohmann::json::parse(info.out)["priority"], "HIGH");

  EXPECT_TRUE(wait_for([&] { return state(id) == "TRANSFERRED"; }, std::chrono::milliseconds(60000)))
      << state(id) << " " << read_file(dir_ / "worker.err");
  ASSERT_EQ(cli({"complete", id}).status, 0);
  EXPECT_EQ(read_file(dir_ / "big.bin"), body);

  ::kill(worker, SIGTERM);
  EXPECT_EQ(wait_exit(worker, std::chrono::milliseconds(10000)), 0) << read_file(dir_ / "worker.err");
  EXPECT_EQ(read_file(dir_ / "worker.err"), "");
}

// schema/016 across processes: the outbox keeps its ids from repeating by
// never deleting the row that holds the highest one (a tombstone). Here an
// `xferq reset` process cancels every job from the front of the list while
// this process cancels them from the back on four threads: both insert
// outbox rows and retire them (in-call cancels, the janitors, the next
// write) on the same file at once. A trigger records every outbox id handed
// out under a PRIMARY KEY: an id handed out twice fails its cancel. Each job
// is cancelled exactly once; the ids form one run with no gap; the outbox
// then empties to one tombstone at most, holding the highest id.
//
// One round of it, on a fresh queue file `db`: every check but whether both
// sides cancelled some jobs, which it reports in *overlapped.
void cancel_from_both_ends(const std::string& db, bool* overlapped) {
  *overlapped = false;
  constexpr int kJobs = 1500;
  std::vector<Job> jobs;
  std::map<std::string, size_t> index;
  {
    auto queue = open_queue(db, test_options(false));
    ASSERT_TRUE(queue);
    for (int i = 0; i < kJobs; ++i) {
      auto job = queue->create_job("j" + std::to_string(i));
      ASSERT_TRUE(job.ok());
    }
  }
  {
    SQLite::Database raw(db, SQLite::OPEN_READWRITE);
    raw.exec("CREATE TABLE test_seen_ops (id INTEGER PRIMARY KEY)");
    raw.exec("CREATE TRIGGER test_seen AFTER INSERT ON file_ops WHEN new.kind != 0 "
             "BEGIN INSERT INTO test_seen_ops (id) VALUES (new.id); END");
  }
  auto queue = open_queue(db, test_options(false));
  ASSERT_TRUE(queue);
  auto all = queue->jobs(false);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), static_cast<size_t>(kJobs));

  const std::string out = db + ".reset.out", err = db + ".reset.err";
  const pid_t pid = spawn(kCli, {"--db", db, "reset"}, out, err);
  // Start once the other process cancels, so that the two overlap.
  ASSERT_TRUE(wait_for([&] { return *(*all)[0].state() == JobState::cancelled; }, std::chrono::seconds(30)));
  std::atomic<int> here{0}, refused{0}, other_error{0};
  std::atomic<int> next{kJobs - 1};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = next--; i >= 0; i = next--) {
        const std::error_code ec = (*all)[static_cast<size_t>(i)].cancel();
        if (!ec)
          here++;
        else if (ec == make_error_code(Errc::invalid_state))
          refused++;
        else
          other_error++;
      }
    });
  for (auto& th : threads) th.join();
  const int status = wait_exit(pid, std::chrono::seconds(120));
  const std::string reset_out = read_file(out), reset_err = read_file(err);

  EXPECT_EQ(other_error.load(), 0);
  int there = 0;  // "{GUID} canceled." lines (the summary line does not start with '{')
  for (size_t at = reset_out.find("} canceled.\n"); at != std::string::npos; at = reset_out.find("} canceled.\n", at + 1))
    ++there;
  // Whether each side cancelled some: the other process can be so quick
  // (the threads here wait for the write lock with SQLite's backing-off
  // busy handler) that it takes every job before a thread here gets one.
  *overlapped = there > 0 && here.load() > 0;
  EXPECT_EQ(here.load() + there, kJobs) << "a job was cancelled twice or not at all";
  // reset fails for the jobs this process cancelled first, and only with the state error.
  EXPECT_EQ(status, here.load() > 0 ? 1 : 0) << reset_err;
  const std::string state_error = make_error_code(Errc::invalid_state).message();
  for (size_t b = 0, e; b < reset_err.size(); b = e + 1) {
    e = reset_err.find('\n', b);
    if (e == std::string::npos) e = reset_err.size();
    const std::string line = reset_err.substr(b, e - b);
    if (!line.empty()) {
      EXPECT_NE(line.find(state_error), std::string::npos) << line;
    }
  }
  for (Job& job : *all) EXPECT_EQ(*job.state(), JobState::cancelled) << job.id();

  SQLite::Database raw(db, SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("SELECT count(*) FROM test_seen_ops").getInt(), kJobs);
  EXPECT_EQ(raw.execAndGet("SELECT max(id) - min(id) + 1 FROM test_seen_ops").getInt(), kJobs)
      << "the outbox ids handed out are not one run";
  // The retired rows go with this process's next writes.
  auto outbox = [&] {
    SQLite::Database r(db, SQLite::OPEN_READONLY);
    return std::make_pair(r.execAndGet("SELECT count(*) FROM file_ops WHERE kind != 0").getInt(),
                          r.execAndGet("SELECT count(*) FROM file_ops WHERE kind = 0 AND id != "
                                       "(SELECT max(id) FROM test_seen_ops)").getInt());
  };
  EXPECT_TRUE(wait_for([&] { return queue->create_job("write").ok() && outbox().first == 0; }))
      << outbox().first << " outbox rows still pending";
  EXPECT_EQ(outbox().second, 0) << "a tombstone holds an id below the highest";
}

TEST_F(MultiProcessTest, TwoProcessesCancellingAtOnceNeverHandOutAnOutboxIdTwice) {
  // Up to 5 rounds until one overlaps: a round that does not still checks
  // everything else, but does not exercise two writers at once.
  bool overlapped = false;
  for (int round = 0; round < 5 && !overlapped && !HasFailure(); ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    cancel_from_both_ends(dir_ / ("queue" + std::to_string(round) + ".db"), &overlapped);
  }
  EXPECT_TRUE(overlapped) << "in 5 rounds the two processes never both cancelled some jobs";
}

}  // namespace
}  // namespace xferq::testing
