// pg_fleet_test.cc — a fleet of hosts, each a process of its own
// (tests/fleet/fleet_host.cc), sharing one queue on a real PostgreSQL server
// and downloading with libcurl from the in-process fixture server:
//   - three hosts run 300 jobs, each exactly once, byte-identical;
//   - a host killed with SIGKILL mid-transfer loses its jobs to the others
//     once its lease ends, never while it still held them, and when it comes
//     back its leftover temp files are deleted (the outbox);
//   - `xferq cancel` in a fourth process stops live transfers on whichever
//     host holds them, and the temp files go.
// The server's log says which host made each request (each host's
// User-Agent) and when it started and ended: that is how "once" and "never
// two hosts at a time" are checked, independently of what the database says.
// Each host sees its own directory in place of the jobs' directory (a mount
// namespace of its own), as hosts with disks of their own would.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "pg_fixture.h"
#include "test_util.h"

namespace xferq::testing {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr char kUserAgentPrefix[] = "xferq-fleet-host/";

// How a host process is started (fleet_host's options).
struct HostSettings {
  int max_transfers = 4;
  long host_lease_s = 60;
};

// The host that made a request, from its User-Agent ("" if not a fleet host).
std::string host_of(const RequestRecord& r) {
  for (const auto& [name, value] : r.headers) {
    if (strcasecmp(name.c_str(), "User-Agent") != 0) continue;
    if (value.rfind(kUserAgentPrefix, 0) == 0) return value.substr(sizeof kUserAgentPrefix - 1);
  }
  return "";
}

// Pairs of requests for one resource by different hosts that were in flight
// at the same time, described; none is allowed. Requests still in flight
// count as never ending.
std::vector<std::string> overlapping_requests(const std::vector<RequestRecord>& log) {
  std::map<std::string, std::vector<const RequestRecord*>> by_path;
  for (const RequestRecord& r : log) by_path[r.path].push_back(&r);
  std::vector<std::string> out;
  const auto end_of = [](const RequestRecord* r) {
    return r->finished ? r->ended : std::chrono::system_clock::time_point::max();
  };
  for (const auto& [path, reqs] : by_path) {
    for (size_t i = 0; i < reqs.size(); ++i) {
      for (size_t j = i + 1; j < reqs.size(); ++j) {
        const RequestRecord *a = reqs[i], *b = reqs[j];
        if (host_of(*a) == host_of(*b)) continue;
        if (end_of(a) <= b->started || end_of(b) <= a->started) continue;
        out.push_back(path + ": " + host_of(*a) + " and " + host_of(*b));
      }
    }
  }
  return out;
}

long long ms_since(SteadyClock::time_point from, SteadyClock::time_point to) {
  return static_cast<long long>(std::chrono::duration_cast<milliseconds>(to - from).count());
}

// The microseconds-since-epoch times of the database (*_us columns). Leases
// are by the database server's clock: on this machine, the same clock as the
// fixture server's log.
std::chrono::system_clock::time_point from_us(int64_t us) {
  return std::chrono::system_clock::time_point(std::chrono::microseconds(us));
}

// The jobs a host held running (CONNECTING or TRANSFERRING) when it died:
// job id -> when its lease ended (microseconds since the epoch).
using HeldJobs = std::map<std::string, int64_t>;

class PgFleet : public ::testing::Test {
 protected:
  void SetUp() override {
    XFERQ_PG_CLUSTER_OR_SKIP(cluster);
    url_ = cluster->create_database();
    // The test's own handle on the queue: creates jobs, runs no transfers.
    control_ = open_queue(url_, test_options(false));
    ASSERT_TRUE(control_);
    shared_dir_ = dir_ / "files";
    ASSERT_EQ(::mkdir(shared_dir_.c_str(), 0700), 0);
    db_ = std::make_unique<pqxx::connection>(url_);
  }

  // Every host still running is stopped by its PID (SIGTERM, then SIGKILL
  // past 10 s), before the directories it mounts go.
  void TearDown() override {
    for (auto& [host, process] : running_) {
      ::kill(process.pid, SIGTERM);
      EXPECT_EQ(wait_exit(process.pid, milliseconds(10000)), 0) << host << ": " << read_file(process.err);
    }
    running_.clear();
  }

  std::string host_dir(const std::string& host) const { return dir_ / ("host-" + host); }
  std::string log_of(const std::string& host, const std::string& kind) const {
    return dir_ / (host + "." + std::to_string(starts_) + "." + kind);
  }

  // Starts host `host` and waits until its queue is open. Skips the test
  // where no mount namespace can be made (fleet_host exits 77).
  void start_host(const std::string& host, const HostSettings& s) {
    ::mkdir(host_dir(host).c_str(), 0700);
    ++starts_;
    const std::string out = log_of(host, "out"), err = log_of(host, "err");
    const pid_t pid = spawn(XFERQ_FLEET_HOST_PATH,
                            {"--db", url_, "--host", host, "--shared-dir", shared_dir_, "--host-dir",
                             host_dir(host), "--max-transfers", std::to_string(s.max_transfers),
                             "--host-lease-s", std::to_string(s.host_lease_s)},
                            out, err);
    ASSERT_GT(pid, 0);
    const auto deadline = SteadyClock::now() + milliseconds(30000);
    while (read_file(out).find("ready") == std::string::npos) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 77) GTEST_SKIP() << read_file(err);
        FAIL() << host << " exited early: " << read_file(err);
      }
      if (SteadyClock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        FAIL() << host << " did not open the queue within 30 s: " << read_file(err);
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    running_[host] = HostProcess{pid, err};
  }

  void kill_host(const std::string& host) {
    const pid_t pid = running_.at(host).pid;
    running_.erase(host);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_EQ(wait_exit(pid, milliseconds(10000)), 128 + SIGKILL);
  }

  // Each of `hosts` completes the TRANSFERRED jobs it holds, all at once (a
  // process each, in its own view of the files, where the renames happen);
  // how many in all.
  int complete_on(const std::vector<std::string>& hosts) {
    std::map<std::string, std::vector<std::string>> held;  // host -> its TRANSFERRED jobs
    for (const auto& r : sql("SELECT owner_host, id FROM jobs WHERE state = " +
                             std::to_string(static_cast<int>(JobState::transferred))))
      held[r[0].c_str()].push_back(r[1].c_str());
    struct Run {
      pid_t pid;
      std::string out, err;
    };
    std::vector<Run> runs;
    for (const std::string& host : hosts) {
      ++starts_;
      Run r{-1, log_of(host, "out"), log_of(host, "err")};
      std::vector<std::string> args = {"--db", url_, "--host", host, "--shared-dir", shared_dir_,
                                       "--host-dir", host_dir(host), "--complete"};
      args.insert(args.end(), held[host].begin(), held[host].end());
      r.pid = spawn(XFERQ_FLEET_HOST_PATH, args, r.out, r.err);
      runs.push_back(r);
    }
    int completed = 0;
    for (const Run& r : runs) {
      EXPECT_EQ(wait_exit(r.pid, milliseconds(60000)), 0) << read_file(r.err);
      completed += std::atoi(read_file(r.out).c_str());
    }
    return completed;
  }

  // A new job of one file, `name` in the shared directory, resumed.
  std::string add_job(const std::string& path, const std::string& name) {
    auto job = control_->create_job("fleet " + name);
    EXPECT_TRUE(job.ok());
    if (!job.ok()) return "";
    EXPECT_FALSE(job->add_file(server_.url(path), shared_dir_ + "/" + name));
    EXPECT_FALSE(job->resume());
    return job->id();
  }

  // The rows of a query (on the test's own connection).
  pqxx::result sql(const std::string& query, const std::string& param = "") {
    pqxx::work tx(*db_);
    pqxx::result r = param.empty() ? tx.exec(query) : tx.exec_params(query, param);
    tx.commit();
    return r;
  }
  int64_t sql_int(const std::string& query, const std::string& param = "") {
    const pqxx::result r = sql(query, param);
    return r.empty() || r[0][0].is_null() ? -1 : r[0][0].as<int64_t>();
  }
  int64_t jobs_in(JobState s) {
    return sql_int("SELECT count(*) FROM jobs WHERE state = " + std::to_string(static_cast<int>(s)));
  }
  std::string states_by_host() {
    std::string out;
    for (const auto& r : sql("SELECT coalesce(owner_host, '-'), state, count(*) FROM jobs GROUP BY 1, 2 ORDER BY 1, 2"))
      out += r[0].as<std::string>() + " state " + r[1].as<std::string>() + ": " + r[2].as<std::string>() + "\n";
    return out;
  }

  // Where job `id`'s temp file is on the disk of the host that holds it.
  std::string temp_path_on_owner(const std::string& id) {
    const auto row = sql("SELECT j.owner_host, f.temp_path FROM jobs j JOIN files f ON f.job_id = j.id "
                         "WHERE j.id = $1", id)[0];
    const std::string temp = row[1].c_str();
    EXPECT_EQ(temp.rfind(shared_dir_ + "/", 0), 0u) << temp;
    return host_dir(row[0].c_str()) + temp.substr(shared_dir_.size());
  }

  // Polls `cond` every 20 ms until true or `timeout` (generous: sanitizers).
  static bool eventually(const std::function<bool()>& cond, milliseconds timeout) {
    const auto end = SteadyClock::now() + timeout;
    while (SteadyClock::now() < end) {
      if (cond()) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return cond();
  }

  // Every job's file, completed by its owner, is byte-identical to `bodies`
  // (by local name) in its owner's directory and in no other; no temp file
  // is left anywhere.
  void expect_completed_files(const std::map<std::string, std::string>& bodies,
                              const std::vector<std::string>& hosts) {
    std::map<std::string, std::string> owner_of;  // local path -> owner host
    for (const auto& r : sql("SELECT f.local_path, j.owner_host FROM jobs j JOIN files f ON f.job_id = j.id"))
      owner_of[r[0].c_str()] = r[1].c_str();
    for (const auto& [name, body] : bodies) {
      const std::string owner = owner_of[shared_dir_ + "/" + name];
      EXPECT_EQ(file_content_hash(host_dir(owner) + "/" + name), content_hash(body)) << name << " on " << owner;
      for (const std::string& h : hosts) {
        if (h == owner) continue;
        EXPECT_FALSE(exists(host_dir(h) + "/" + name)) << name << " also on " << h;
      }
    }
    for (const std::string& h : hosts) EXPECT_TRUE(temp_files_in(host_dir(h)).empty()) << h;
    EXPECT_TRUE(temp_files_in(shared_dir_).empty());
  }

  // The killed host's jobs `held` now belong to other hosts, which requested
  // them only after its lease ended and after its own requests ended; no two
  // hosts' requests for any resource overlapped.
  void expect_taken_over_after_the_lease(const HeldJobs& held) {
    const std::vector<RequestRecord> log = server_.requests();
    EXPECT_EQ(overlapping_requests(log), std::vector<std::string>{});
    for (const auto& [id, lease_end_us] : held) {
      const auto row = sql("SELECT j.owner_host, f.remote_url FROM jobs j JOIN files f ON f.job_id = j.id "
                           "WHERE j.id = $1", id)[0];
      const std::string owner = row[0].c_str(), url = row[1].c_str();
      EXPECT_NE(owner, "victim") << id;
      const std::string path = url.substr(url.find('/', std::string("http://").size()));
      int by_others = 0;
      for (const RequestRecord& r : log) {
        if (r.path != path || host_of(r) == "victim") continue;
        ++by_others;
        EXPECT_GE(r.started, from_us(lease_end_us))
            << path << " requested by " << host_of(r) << " "
            << std::chrono::duration_cast<milliseconds>(from_us(lease_end_us) - r.started).count()
            << " ms before the victim's lease ended";
      }
      EXPECT_GT(by_others, 0) << path;
    }
  }

  ScratchDir dir_;
  FixtureServer server_;
  std::string url_, shared_dir_;
  std::unique_ptr<Queue> control_;
  std::unique_ptr<pqxx::connection> db_;
  struct HostProcess {
    pid_t pid;
    std::string err;  // its stderr's file
  };
  std::map<std::string, HostProcess> running_;  // host -> its live process
  int starts_ = 0;                         // names each process's log files apart
};

// Three hosts, 300 jobs of 1–48 KiB: every job transferred by exactly one
// host in exactly one request (the server's log), by the host the database
// names as its owner, and byte-identical once that host completed it.
TEST_F(PgFleet, ThreeHostsRunThreeHundredJobsEachExactlyOnce) {
  const std::vector<std::string> hosts = {"alpha", "bravo", "charlie"};
  for (const std::string& h : hosts) {
    start_host(h, HostSettings{});
    if (HasFatalFailure() || IsSkipped()) return;
  }
  constexpr int kJobs = 300;
  const auto started = SteadyClock::now();
  std::map<std::string, std::string> bodies, job_of_path;  // local name -> content; "/name" -> job id
  for (int i = 0; i < kJobs; ++i) {
    const std::string name = "f" + std::to_string(i);
    bodies[name] = make_body(1024 + (i * 7919) % (47 * 1024), 1000 + i);
    server_.set("/" + name, body_resource(bodies[name]));
    job_of_path["/" + name] = add_job("/" + name, name);
  }
  const auto created = SteadyClock::now();
  ASSERT_TRUE(eventually([&] { return jobs_in(JobState::transferred) == kJobs; }, milliseconds(180000)))
      << states_by_host();
  std::printf("300 jobs: created in %lld ms, all transferred %lld ms after the start\n", ms_since(started, created),
              ms_since(started, SteadyClock::now()));
  const std::vector<RequestRecord> log = server_.requests();
  std::map<std::string, std::vector<const RequestRecord*>> by_path;
  for (const RequestRecord& r : log) by_path[r.path].push_back(&r);
  std::map<std::string, std::string> owner_of;  // job id -> owner host
  for (const auto& r : sql("SELECT id, owner_host FROM jobs")) owner_of[r[0].c_str()] = r[1].c_str();
  std::map<std::string, int> jobs_per_host;
  for (const auto& [path, id] : job_of_path) {
    const auto& reqs = by_path[path];
    ASSERT_EQ(reqs.size(), 1u) << path << " was requested " << reqs.size() << " times";
    EXPECT_EQ(reqs[0]->status, 200) << path;
    EXPECT_EQ(reqs[0]->body_bytes_sent, static_cast<long long>(bodies[path.substr(1)].size())) << path;
    const std::string owner = owner_of[id];
    EXPECT_EQ(host_of(*reqs[0]), owner) << path;
    ++jobs_per_host[owner];
  }
  EXPECT_EQ(overlapping_requests(log), std::vector<std::string>{});
  for (const std::string& h : hosts) EXPECT_GT(jobs_per_host[h], 0) << h << " ran nothing";
  const auto checked = SteadyClock::now();
  EXPECT_EQ(complete_on(hosts), kJobs);
  EXPECT_EQ(jobs_in(JobState::acknowledged), kJobs) << states_by_host();
  std::printf("300 jobs: completed by their hosts in %lld ms\n", ms_since(checked, SteadyClock::now()));
  expect_completed_files(bodies, hosts);
  std::printf("300 jobs: alpha %d, bravo %d, charlie %d\n", jobs_per_host["alpha"], jobs_per_host["bravo"],
              jobs_per_host["charlie"]);
}

// A host killed with SIGKILL mid-transfer: its jobs wait out its lease, then
// run on the other hosts, never while it held them (the server's log: its
// requests for a job ended before another host's began, and those began after
// its lease ended); none is lost or run twice at once. When it comes back
// under the same identity it deletes the temp files it left (the outbox rows
// the takeover left for it).
TEST_F(PgFleet, KilledHostsJobsAreTakenOverAfterItsLeaseAndItsFilesGoWhenItReturns) {
  // A 6 s lease: a live host renews it every 2 s (and with its progress), so
  // even a host slowed down many times (sanitizers, a loaded machine) keeps
  // it; short enough to wait out.
  HostSettings s;
  s.max_transfers = 2;
  s.host_lease_s = 6;
  const std::vector<std::string> hosts = {"alpha", "bravo", "victim"};
  for (const std::string& h : hosts) {
    start_host(h, s);
    if (HasFatalFailure() || IsSkipped()) return;
  }
  // 12 jobs of 384 KiB at 128 KiB/s: about 3 s each, six at a time.
  constexpr int kJobs = 12;
  std::map<std::string, std::string> bodies;
  for (int i = 0; i < kJobs; ++i) {
    const std::string name = "slow" + std::to_string(i);
    bodies[name] = make_body(384 * 1024, 2000 + i);
    server_.set("/" + name, body_resource(bodies[name], 128 * 1024));
    ASSERT_FALSE(add_job("/" + name, name).empty());
  }
  const std::string transferring = std::to_string(static_cast<int>(JobState::transferring));
  ASSERT_TRUE(eventually([&] {
    return sql_int("SELECT count(*) FROM jobs j JOIN files f ON f.job_id = j.id WHERE j.owner_host = $1 AND "
                   "j.state = " + transferring + " AND f.bytes_transferred > 0", "victim") > 0;
  }, milliseconds(30000))) << states_by_host();
  kill_host("victim");
  const auto killed = SteadyClock::now();
  HeldJobs held;
  std::vector<std::string> leftovers;  // the temp files it had written to: they stay on its disk
  for (const auto& r : sql("SELECT j.id, j.lease_expires_us, f.bytes_transferred FROM jobs j JOIN files f ON "
                           "f.job_id = j.id WHERE j.owner_host = $1 AND j.lease_expires_us IS NOT NULL", "victim")) {
    held[r[0].as<std::string>()] = r[1].as<int64_t>();
    if (r[2].as<int64_t>() > 0) leftovers.push_back(temp_path_on_owner(r[0].as<std::string>()));
  }
  ASSERT_FALSE(leftovers.empty());
  for (const std::string& temp : leftovers) EXPECT_TRUE(exists(temp)) << temp;
  ASSERT_TRUE(eventually([&] { return jobs_in(JobState::transferred) == kJobs; }, milliseconds(60000)))
      << states_by_host();
  std::printf("%zu jobs of the killed host taken over; all transferred %lld ms after the kill (lease 6 s)\n",
              held.size(), ms_since(killed, SteadyClock::now()));
  expect_taken_over_after_the_lease(held);
  // Back under the same identity: it deletes its leftovers at start.
  EXPECT_GE(sql_int("SELECT count(*) FROM file_ops WHERE host = $1", "victim"), static_cast<int64_t>(held.size()));
  start_host("victim", s);
  ASSERT_FALSE(HasFatalFailure());
  for (const std::string& temp : leftovers)
    EXPECT_TRUE(eventually([&] { return !exists(temp); }, milliseconds(10000))) << temp << " left";
  EXPECT_TRUE(eventually([&] { return sql_int("SELECT count(*) FROM file_ops WHERE host = $1", "victim") == 0; },
                         milliseconds(10000)));
  EXPECT_EQ(complete_on(hosts), kJobs);
  expect_completed_files(bodies, hosts);
}

// `xferq cancel` run as a fourth process, once for each of three live
// transfers (one per host): each host hears of it, stops its transfer and
// deletes its temp file, which the cancelling process could not reach.
TEST_F(PgFleet, CancelFromAFourthProcessStopsTheTransferOnWhicheverHostHoldsIt) {
  HostSettings s;
  s.max_transfers = 1;  // three jobs: one on each host
  const std::vector<std::string> hosts = {"alpha", "bravo", "charlie"};
  for (const std::string& h : hosts) {
    start_host(h, s);
    if (HasFatalFailure() || IsSkipped()) return;
  }
  // 4 MiB at 256 KiB/s: 16 s each, live for the whole test.
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    const std::string name = "live" + std::to_string(i);
    server_.set("/" + name, body_resource(make_body(4 * 1024 * 1024, 3000 + i), 256 * 1024));
    ids.push_back(add_job("/" + name, name));
  }
  const std::string transferring = std::to_string(static_cast<int>(JobState::transferring));
  ASSERT_TRUE(eventually([&] {
    return sql_int("SELECT count(DISTINCT j.owner_host) FROM jobs j JOIN files f ON f.job_id = j.id WHERE "
                   "j.state = " + transferring + " AND f.bytes_transferred > 0") == 3;
  }, milliseconds(30000))) << states_by_host();
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string owner = sql("SELECT owner_host FROM jobs WHERE id = $1", ids[i])[0][0].c_str();
    const std::string temp = temp_path_on_owner(ids[i]);
    ASSERT_TRUE(exists(temp)) << temp;
    const pid_t cancel = spawn(XFERQ_CLI_PATH, {"--db", url_, "cancel", ids[i]}, dir_ / "cancel.out",
                               dir_ / "cancel.err");
    ASSERT_EQ(wait_exit(cancel, milliseconds(30000)), 0) << read_file(dir_ / "cancel.err");
    EXPECT_EQ(sql_int("SELECT state FROM jobs WHERE id = $1", ids[i]), static_cast<int>(JobState::cancelled));
    EXPECT_TRUE(eventually([&] { return !exists(temp); }, milliseconds(10000))) << temp << " on " << owner;
    const std::string path = "/live" + std::to_string(i);
    EXPECT_TRUE(eventually([&] {
      const auto reqs = server_.requests_for(path);
      return std::all_of(reqs.begin(), reqs.end(), [](const RequestRecord& r) { return r.finished; });
    }, milliseconds(10000))) << path << " still being sent";
    for (const RequestRecord& r : server_.requests_for(path)) EXPECT_EQ(host_of(r), owner) << path;
  }
  // Each owner retired the deletion its cancel left it.
  EXPECT_TRUE(eventually([&] { return sql_int("SELECT count(*) FROM file_ops") == 0; }, milliseconds(10000)));
  for (const std::string& h : hosts) EXPECT_TRUE(temp_files_in(host_dir(h)).empty()) << h;
  EXPECT_EQ(overlapping_requests(server_.requests()), std::vector<std::string>{});
}

}  // namespace
}  // namespace xferq::testing
