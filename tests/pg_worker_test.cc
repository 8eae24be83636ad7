// pg_worker_test.cc — the PostgreSQL backend under the worker's other paths:
// a restart mid-transfer, recovery that leaves another host's leased jobs
// alone, transient and fatal errors and their retries, preemption by
// priority, a rejected file, a lost database connection, and every job
// option written and read back (also after reopening), and the xferq
// command on a postgresql:// URL.
#include <pqxx/pqxx>

#include <cstdio>
#include <thread>

#include "child_process.h"
#include "clock.h"
#include "pg_engine.h"
#include "storage/store.h"

namespace xferq::testing {
namespace {

TEST_F(PgEngine, RestartMidTransferResumesFromDisk) {
  const std::string body = make_body(4 * 1024 * 1024, 7);
  server_.set("/big", body_resource(body, 2 * 1024 * 1024));
  Job job = download({{"/big", "big.bin"}});
  const std::string id = job.id();
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 1000000; }));
  queue_.reset();  // the process goes away mid-transfer (its worker lets go)
  server_.set("/big", body_resource(body));
  auto q = open_queue(url_, test_options(true));
  auto again = q->get_job(id);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(wait_state(*again, JobState::transferred)) << state_name(*again);
  ASSERT_FALSE(again->complete());
  EXPECT_EQ(file_content_hash(dir_ / "big.bin"), content_hash(body));
  auto reqs = server_.requests_for("/big");
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_FALSE(reqs.back().range.empty());
  EXPECT_LT(server_.body_bytes_sent("/big"), static_cast<long long>(body.size() * 3 / 2));
}

// recover_interrupted (a worker starting) takes back its own host's running
// jobs and those whose lease expired, never a job another live host holds.
TEST_F(PgEngine, RecoveryLeavesAnotherHostsLeasedJobAlone) {
  queue_.reset();
  auto q = open_queue(url_, test_options(false));
  Job job = *q->create_job("leased");
  ASSERT_FALSE(job.add_file(server_.url("/x"), dir_ / "x"));
  ASSERT_FALSE(job.resume());
  auto a_options = host_options("host-a", false);
  a_options.host_lease = std::chrono::seconds(2);  // by the server's clock
  auto b_options = host_options("host-b", false);
  auto a = detail::Store::open(url_, a_options);
  auto b = detail::Store::open(url_, b_options);
  ASSERT_TRUE(a.ok() && b.ok());
  const int64_t claimed_at = detail::now_us();
  auto claims = (*a)->claim_next(1, {}, claimed_at);
  ASSERT_TRUE(claims.ok());
  ASSERT_EQ(claims->size(), 1u);
  EXPECT_EQ(sql_text("SELECT owner_host FROM jobs WHERE id = $1", job.id()), "host-a");
  ASSERT_FALSE((*b)->recover_interrupted(detail::now_us()));
  if (detail::now_us() < claimed_at + 1500000) {
    EXPECT_EQ(*job.state(), JobState::connecting);  // host-a's lease holds
  }
  ASSERT_TRUE(wait_for([&] {
    EXPECT_FALSE((*b)->recover_interrupted(detail::now_us()));
    return *job.state() == JobState::queued;  // expired: back to the queue
  }, std::chrono::milliseconds(15000)));
  EXPECT_GE(detail::now_us(), claimed_at + 2000000);
  // host-a's late write is stale and changes nothing.
  detail::Claim stale = (*claims)[0];
  auto w = (*a)->mark_connected(&stale, detail::now_us());
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, detail::WriteOutcome::stale);
  EXPECT_EQ(*job.state(), JobState::queued);
  EXPECT_EQ(sql_int("SELECT count(*) FROM hosts"), 3);  // the queue's own host, a and b
}

// A host whose lease ended loses its running job to a live host's worker
// (requeue_due, woken at the lease's end by next_retry_us): back to QUEUED,
// and a deletion of its temp files left in the outbox for it alone.
TEST_F(PgEngine, ExpiredLeaseIsTakenOverAndTheDeadHostsFilesAreLeftToIt) {
  queue_.reset();
  auto q = open_queue(url_, test_options(false));
  Job job = *q->create_job("orphaned");
  ASSERT_FALSE(job.add_file(server_.url("/x"), dir_ / "x"));
  ASSERT_FALSE(job.resume());
  // Leases are the database server's clock's: a short one, so that the test
  // waits for it to end.
  auto dead_options = host_options("dead-host", false);
  dead_options.host_lease = std::chrono::seconds(3);
  auto live_options = host_options("live-host", false);
  auto dead = detail::Store::open(url_, dead_options);
  auto live = detail::Store::open(url_, live_options);
  ASSERT_TRUE(dead.ok() && live.ok());
  const int64_t claimed_at = detail::now_us();
  auto claims = (*dead)->claim_next(1, {}, claimed_at);
  ASSERT_TRUE(claims.ok());
  ASSERT_EQ(claims->size(), 1u);
  detail::Claim claim = (*claims)[0];
  ASSERT_EQ(*(*dead)->record_temp_paths(claim, {{0, dir_ / "temp-on-dead-host"}}), detail::WriteOutcome::applied);
  // The live host's worker is told when the lease ends (in its own clock).
  auto due = (*live)->next_retry_us();
  ASSERT_TRUE(due.ok() && due->has_value());
  EXPECT_GT(**due, claimed_at + 2000000);
  EXPECT_LT(**due, detail::now_us() + 3100000);
  std::vector<std::string> expired;
  EXPECT_EQ(*(*live)->requeue_due(detail::now_us(), &expired), 0);
  EXPECT_EQ(*job.state(), JobState::connecting);
  // A renewal by another host does not extend the dead host's lease.
  EXPECT_FALSE((*live)->renew_leases({job.id()}));
  int64_t taken = 0;
  ASSERT_TRUE(wait_for([&] {
    auto n = (*live)->requeue_due(detail::now_us(), &expired);
    taken = n.ok() ? *n : -1;
    return taken != 0;
  }, std::chrono::milliseconds(15000)));
  EXPECT_EQ(taken, 1);
  EXPECT_GE(detail::now_us(), claimed_at + 3000000);
  EXPECT_EQ(*job.state(), JobState::queued);
  const int64_t lease_end = detail::now_us();
  // The dead host's late write changes nothing.
  EXPECT_EQ(*(*dead)->mark_connected(&claim, lease_end + 1), detail::WriteOutcome::stale);
  // Its files: a deletion only it carries out.
  auto live_ops = (*live)->pending_ops();
  ASSERT_TRUE(live_ops.ok());
  EXPECT_TRUE(live_ops->empty());
  auto dead_ops = (*dead)->pending_ops();
  ASSERT_TRUE(dead_ops.ok());
  ASSERT_EQ(dead_ops->size(), 1u);
  EXPECT_EQ((*dead_ops)[0].kind, detail::OpKind::delete_temps);
  EXPECT_EQ((*dead_ops)[0].host, "dead-host");
  // The live host claims it next.
  auto again = (*live)->claim_next(1, {}, lease_end + 2);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(sql_text("SELECT owner_host FROM jobs WHERE id = $1", job.id()), "live-host");
}

TEST_F(PgEngine, TransientErrorIsRetriedAndFatalErrorWaitsForResume) {
  Resource down;
  down.status = 503;
  server_.set("/later", down);
  Resource missing;
  missing.status = 404;
  server_.set("/missing", missing);
  auto job = queue_->create_job("later");
  ASSERT_FALSE(job->add_file(server_.url("/later"), dir_ / "later.bin"));
  ASSERT_FALSE(job->set_minimum_retry_delay(std::chrono::seconds(1)));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transient_error)) << state_name(*job);
  EXPECT_GE(*job->error_count(), 1u);
  const std::string body = make_body(1000, 12);
  server_.set("/later", body_resource(body));
  ASSERT_TRUE(wait_state(*job, JobState::transferred, std::chrono::milliseconds(8000))) << state_name(*job);
  ASSERT_FALSE(job->complete());
  EXPECT_EQ(read_file(dir_ / "later.bin"), body);

  auto bad = queue_->create_job("missing");
  ASSERT_FALSE(bad->add_file(server_.url("/missing"), dir_ / "missing.bin"));
  ASSERT_FALSE(bad->resume());
  ASSERT_TRUE(wait_state(*bad, JobState::error)) << state_name(*bad);
  auto err = bad->error();
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->hresult, kHttpErrorBase + 404);
  ASSERT_TRUE(err->file_index.has_value());
  EXPECT_EQ(*err->file_index, 0u);
  server_.set("/missing", body_resource(body));
  ASSERT_FALSE(bad->resume());
  ASSERT_TRUE(wait_state(*bad, JobState::transferred)) << state_name(*bad);
  EXPECT_FALSE(queue_->worker_error());
}

TEST_F(PgEngine, BetterPriorityPreemptsAndBothFinish) {
  queue_.reset();
  auto o = test_options(true);
  o.max_concurrent_transfers = 1;
  queue_ = open_queue(url_, o);
  const std::string low_body = make_body(2 * 1024 * 1024, 20), fg_body = make_body(100000, 21);
  server_.set("/low", body_resource(low_body, 1024 * 1024));
  server_.set("/fg", body_resource(fg_body));
  Job low = download({{"/low", "low.bin"}}, false);
  ASSERT_FALSE(low.set_priority(JobPriority::low));
  ASSERT_FALSE(low.resume());
  ASSERT_TRUE(wait_for([&] { return low.progress().ok() && low.progress()->bytes_transferred > 100000; }));
  Job fg = download({{"/fg", "fg.bin"}}, false);
  ASSERT_FALSE(fg.set_priority(JobPriority::foreground));
  ASSERT_FALSE(fg.resume());
  ASSERT_TRUE(wait_state(fg, JobState::transferred)) << state_name(fg);
  EXPECT_NE(*low.state(), JobState::transferred);
  ASSERT_TRUE(wait_state(low, JobState::transferred, std::chrono::milliseconds(20000))) << state_name(low);
  ASSERT_FALSE(low.complete());
  ASSERT_FALSE(fg.complete());
  EXPECT_EQ(file_content_hash(dir_ / "low.bin"), content_hash(low_body));
  EXPECT_EQ(file_content_hash(dir_ / "fg.bin"), content_hash(fg_body));
  EXPECT_GE(server_.requests_for("/low").size(), 2u);  // preempted, then resumed
}

TEST_F(PgEngine, ValidationStateFalseSendsTheJobToError) {
  const std::string body = make_body(5000, 30);
  server_.set("/v", body_resource(body));
  Job job = download({{"/v", "v.bin"}});
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  const std::string temp = (*job.files())[0].temp_path;
  ASSERT_FALSE(job.set_validation_state(0, false));
  EXPECT_EQ(*job.state(), JobState::error);
  EXPECT_EQ(job.error()->hresult, static_cast<uint32_t>(Errc::validation_failed));
  EXPECT_EQ((*job.files())[0].bytes_transferred, 0);
  EXPECT_FALSE(exists(temp));
  EXPECT_EQ(job.set_validation_state(3, false), make_error_code(Errc::invalid_arg));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(dir_ / "v.bin"), body);
}

// The worker's connection is cut by the server mid-transfer
// (pg_terminate_backend): the job still finishes, nothing lost.
TEST_F(PgEngine, LostDatabaseConnectionMidTransfer) {
  const std::string body = make_body(3 * 1024 * 1024, 40);
  server_.set("/big", body_resource(body, 2 * 1024 * 1024));
  Job job = download({{"/big", "big.bin"}});
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 200000; }));
  {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    tx.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    tx.commit();
  }
  ASSERT_TRUE(wait_state(job, JobState::transferred, std::chrono::milliseconds(20000)))
      << state_name(job) << " worker: " << queue_->worker_error().message();
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(file_content_hash(dir_ / "big.bin"), content_hash(body));
  EXPECT_FALSE(queue_->worker_error());
}

TEST_F(PgEngine, EveryOptionIsStoredAndReadBack) {
  queue_.reset();
  queue_ = open_queue(url_, test_options(false));
  Job job = download({{"/a", "a.bin"}, {"/b", "b.bin"}}, false);
  ASSERT_FALSE(job.set_priority(JobPriority::high));
  ASSERT_FALSE(job.set_display_name("named"));
  ASSERT_FALSE(job.set_description("described"));
  ASSERT_FALSE(job.set_minimum_retry_delay(std::chrono::seconds(77)));
  ASSERT_FALSE(job.set_no_progress_timeout(std::chrono::seconds(88)));
  ASSERT_FALSE(job.set_custom_headers({"X-One: 1", "X-Two: 2"}));
  ASSERT_FALSE(job.set_security_flags(0x0100));
  ASSERT_FALSE(job.set_credentials(AuthTarget::server, AuthScheme::basic, "user", "secret"));
  ASSERT_FALSE(job.set_credentials(AuthTarget::proxy, AuthScheme::basic, "puser", "psecret"));
  ASSERT_FALSE(job.remove_credentials(AuthTarget::proxy, AuthScheme::basic));
  ASSERT_FALSE(job.set_proxy_settings(ProxySettings{ProxyUsage::override_list, "proxy:3128", "local"}));
  TlsOptions tls;
  tls.ca_bundle = "/etc/ssl/certs/ca-certificates.crt";
  ASSERT_FALSE(job.set_tls_options(tls));
  ASSERT_FALSE(job.set_max_download_size(123456));
  ASSERT_FALSE(job.set_maximum_download_time(std::chrono::seconds(999)));
  ASSERT_FALSE(job.set_bandwidth_limit(4096));
  ASSERT_FALSE(job.set_notify_command_line("/bin/echo", {"a", "", "c d"}));
  ASSERT_FALSE(job.set_remote_name(1, server_.url("/b2")));
  ASSERT_FALSE(job.replace_remote_prefix(server_.url("/a"), server_.url("/a2")));
  ASSERT_FALSE(job.set_file_integrity(0, FileIntegrity{5000, std::string(64, 'a'), ""}));
  ASSERT_FALSE(queue_->set_bandwidth_limit(100000));
  ASSERT_FALSE(queue_->set_priority_bandwidth_limit(JobPriority::low, 2000));
  ASSERT_FALSE(queue_->set_bandwidth_schedule({BandwidthWindow{0x3E, 9, 17, 5000}}));
  // Bad input changes nothing (an idx past the last file).
  EXPECT_EQ(job.set_remote_name(5, server_.url("/c")), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(sql_int("SELECT count(*) FROM credentials"), 1);

  queue_.reset();
  queue_ = open_queue(url_, test_options(false));
  Job again = *queue_->get_job(job.id());
  auto info = again.info();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->priority, JobPriority::high);
  EXPECT_EQ(info->display_name, "named");
  EXPECT_EQ(info->description, "described");
  EXPECT_EQ(info->minimum_retry_delay, std::chrono::seconds(77));
  EXPECT_EQ(info->no_progress_timeout, std::chrono::seconds(88));
  EXPECT_EQ(*again.security_flags(), 0x0100u);
  auto proxy = again.proxy_settings();
  ASSERT_TRUE(proxy.ok());
  EXPECT_EQ(proxy->usage, ProxyUsage::override_list);
  EXPECT_EQ(proxy->proxy_list, "proxy:3128");
  EXPECT_EQ(proxy->bypass_list, "local");
  EXPECT_EQ(again.tls_options()->ca_bundle, tls.ca_bundle);
  EXPECT_EQ(*again.max_download_size(), 123456u);
  EXPECT_EQ(*again.maximum_download_time(), std::chrono::seconds(999));
  EXPECT_EQ(*again.bandwidth_limit(), 4096);
  auto notify = again.notify_command_line();
  ASSERT_TRUE(notify.ok());
  EXPECT_EQ(notify->program, "/bin/echo");
  EXPECT_EQ(notify->args, (std::vector<std::string>{"a", "", "c d"}));
  auto files = again.files();
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].remote_url, server_.url("/a2"));
  EXPECT_EQ((*files)[1].remote_url, server_.url("/b2"));
  EXPECT_EQ((*files)[0].integrity.size, 5000);
  EXPECT_EQ((*files)[0].integrity.sha256, std::string(64, 'a'));
  EXPECT_EQ(*queue_->bandwidth_limit(), 100000);
  EXPECT_EQ(*queue_->priority_bandwidth_limit(JobPriority::low), 2000);
  auto schedule = queue_->bandwidth_schedule();
  ASSERT_TRUE(schedule.ok());
  ASSERT_EQ(schedule->size(), 1u);
  EXPECT_EQ((*schedule)[0].bytes_per_sec, 5000);
  // Options of a final job are refused.
  ASSERT_FALSE(again.cancel());
  EXPECT_EQ(again.set_description("late"), make_error_code(Errc::invalid_state));
  EXPECT_EQ(again.set_custom_headers({"X-Late: 1"}), make_error_code(Errc::invalid_state));
  EXPECT_EQ(again.set_bandwidth_limit(1), make_error_code(Errc::invalid_state));
}

// Housekeeping on PostgreSQL: final jobs past the retention are purged.
TEST_F(PgEngine, HousekeepingRunsOnPostgresql) {
  queue_.reset();
  queue_ = open_queue(url_, test_options(false));
  Job job = download({{"/a", "a.bin"}}, false);
  ASSERT_FALSE(job.cancel());
  auto report = queue_->housekeep();
  ASSERT_TRUE(report.ok()) << report.error().message();
}

// The xferq command with --db postgresql://...: create, add, resume, run
// until idle, complete.
TEST_F(PgEngine, CommandLineOnAPostgresqlUrl) {
  queue_.reset();  // the command's `run` serves the queue
  const std::string body = make_body(300 * 1024, 50);
  server_.set("/a.bin", body_resource(body));
  auto cli = [&](std::vector<std::string> args, std::string* out = nullptr) {
    args.insert(args.begin(), {"--db", url_});
    const pid_t pid = spawn(XFERQ_CLI_PATH, args, dir_ / "cli.out", dir_ / "cli.err", dir_.path());
    const int status = wait_exit(pid, std::chrono::milliseconds(30000));
    if (out) *out = read_file(dir_ / "cli.out");
    EXPECT_EQ(status, 0) << read_file(dir_ / "cli.err");
    return status;
  };
  std::string id;
  ASSERT_EQ(cli({"create", "from the shell"}, &id), 0);
  while (!id.empty() && id.back() == '\n') id.pop_back();
  ASSERT_EQ(id.size(), 38u) << id;
  ASSERT_EQ(cli({"addfile", id, server_.url("/a.bin"), dir_ / "a.bin"}), 0);
  ASSERT_EQ(cli({"resume", id}), 0);
  ASSERT_EQ(cli({"run", "--until-idle"}), 0);
  std::string state;
  ASSERT_EQ(cli({"getstate", id}, &state), 0);
  EXPECT_EQ(state, "TRANSFERRED\n");
  ASSERT_EQ(cli({"complete", id}), 0);
  EXPECT_EQ(read_file(dir_ / "a.bin"), body);
  EXPECT_EQ(sql_int("SELECT state FROM jobs WHERE id = $1", id), static_cast<int>(JobState::acknowledged));
}

// A queue working as host `host` (QueueOptions::host_id).
std::unique_ptr<Queue> open_as_host(const std::string& url, const std::string& host, QueueOptions o) {
  o.host_id = host;
  return open_queue(url, o);
}

// Two hosts' workers on one queue: every job transferred exactly once (one
// request per file on the server), byte-identical, and both hosts worked.
TEST_F(PgEngine, TwoHostsShareOneQueueAndRunEachJobOnce) {
  queue_.reset();
  auto o = test_options(true);
  o.max_concurrent_transfers = 3;
  auto h1 = open_as_host(url_, "host-one", o);
  auto h2 = open_as_host(url_, "host-two", o);
  ASSERT_TRUE(h1 && h2);
  constexpr int kJobs = 30;
  std::vector<Job> jobs;
  std::vector<std::string> bodies;
  for (int i = 0; i < kJobs; ++i) {
    bodies.push_back(make_body(64 * 1024 + i, 100 + i));
    const std::string path = "/j" + std::to_string(i);
    server_.set(path, body_resource(bodies.back(), 512 * 1024));
    Queue& q = i % 2 ? *h1 : *h2;
    Job job = *q.create_job("shared " + std::to_string(i));
    ASSERT_FALSE(job.add_file(server_.url(path), dir_ / ("j" + std::to_string(i))));
    jobs.push_back(job);
  }
  for (Job& job : jobs) ASSERT_FALSE(job.resume());
  for (Job& job : jobs) ASSERT_TRUE(wait_state(job, JobState::transferred, std::chrono::milliseconds(30000)))
      << state_name(job);
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_EQ(server_.requests_for("/j" + std::to_string(i)).size(), 1u) << "job " << i << " ran twice";
    // Complete on the host that holds the files renames them in the call;
    // from the other host it commits, and the holder's worker renames them
    // when the notification reaches it.
    const bool on_one = sql_text("SELECT owner_host FROM jobs WHERE id = $1", jobs[i].id()) == "host-one";
    Job owner = *(on_one ? h1 : h2)->get_job(jobs[i].id());
    Job other = *(on_one ? h2 : h1)->get_job(jobs[i].id());
    const std::string target = dir_ / ("j" + std::to_string(i));
    CompleteStatus status = CompleteStatus::partial;
    if (i % 3 == 0) {
      ASSERT_FALSE(owner.complete(&status));
      EXPECT_TRUE(exists(target));
    } else {
      ASSERT_FALSE(other.complete(&status));
      EXPECT_TRUE(wait_for([&] { return exists(target); }, std::chrono::milliseconds(10000))) << "job " << i;
    }
    EXPECT_EQ(status, CompleteStatus::all_files);
    EXPECT_EQ(*other.state(), JobState::acknowledged);
    EXPECT_EQ(file_content_hash(target), content_hash(bodies[i]));
  }
  EXPECT_TRUE(wait_for([&] { return sql_int("SELECT count(*) FROM file_ops") == 0; }));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  EXPECT_EQ(sql_int("SELECT count(DISTINCT owner_host) FROM jobs"), 2);
  EXPECT_FALSE(h1->worker_error());
  EXPECT_FALSE(h2->worker_error());
}

// Complete called on another host while the host holding the files is
// down: the decision stands (ACKNOWLEDGED at once), and the files appear
// when that host opens the queue again — never before, never lost.
TEST_F(PgEngine, CompleteFromAnotherHostWaitsForTheHostHoldingTheFiles) {
  queue_.reset();
  const std::string body = make_body(300 * 1000, 61);
  server_.set("/held", body_resource(body, 0));
  auto holder_options = host_options("holder", true);
  auto holder = open_queue(url_, holder_options);
  ASSERT_TRUE(holder);
  Job job = *holder->create_job("completed elsewhere");
  ASSERT_FALSE(job.add_file(server_.url("/held"), dir_ / "held.bin"));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred));
  const std::string temp = (*job.files())[0].temp_path;
  holder.reset();  // the holding host goes away with its temp file
  auto elsewhere_options = host_options("elsewhere", false);
  auto elsewhere = open_queue(url_, elsewhere_options);
  ASSERT_TRUE(elsewhere);
  Job remote = *elsewhere->get_job(job.id());
  CompleteStatus status = CompleteStatus::partial;
  ASSERT_FALSE(remote.complete(&status));
  EXPECT_EQ(status, CompleteStatus::all_files);
  EXPECT_EQ(*remote.state(), JobState::acknowledged);
  EXPECT_FALSE(exists(dir_ / "held.bin"));
  EXPECT_TRUE(exists(temp));
  EXPECT_EQ(sql_text("SELECT host FROM file_ops WHERE job_id = $1", job.id()), "holder");
  // A second Complete is refused: the first one's decision stands.
  EXPECT_EQ(remote.complete(), make_error_code(Errc::invalid_state));
  holder = open_queue(url_, holder_options);
  ASSERT_TRUE(holder);
  ASSERT_TRUE(wait_for([&] { return exists(dir_ / "held.bin"); }));
  EXPECT_EQ(file_content_hash(dir_ / "held.bin"), content_hash(body));
  EXPECT_FALSE(exists(temp));
  EXPECT_TRUE(wait_for([&] { return sql_int("SELECT count(*) FROM file_ops") == 0; }));
}

// A transfer that receives nothing for longer than the lease keeps its
// host: the worker renews its leases whether bytes arrive or not, so a
// watching host with a running worker never takes a live job over.
TEST_F(PgEngine, LeaseIsRenewedWhileTheTransferReceivesNothing) {
  queue_.reset();
  Resource stalled = body_resource(make_body(2 * 1024 * 1024, 62), 0);
  stalled.stall_after_bytes = 64 * 1024;
  server_.set("/stalls", stalled);
  auto runner_options = host_options("runner", true);
  runner_options.host_lease = std::chrono::seconds(1);
  auto watcher_options = runner_options;
  watcher_options.host_id = "watcher";
  auto runner = open_queue(url_, runner_options);
  ASSERT_TRUE(runner);
  Job job = *runner->create_job("stalled");
  ASSERT_FALSE(job.add_file(server_.url("/stalls"), dir_ / "stalls.bin"));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] {
    return sql_text("SELECT owner_host FROM jobs WHERE id = $1", job.id()) == "runner" &&
           job.progress().ok() && job.progress()->bytes_transferred >= 64 * 1024;
  }));
  // The watcher comes once the runner holds the job (else it may claim it).
  auto watcher = open_queue(url_, watcher_options);
  ASSERT_TRUE(watcher);
  // Three leases long without a byte: a lease renewed only by progress ends.
  std::this_thread::sleep_for(std::chrono::milliseconds(3200));
  EXPECT_EQ(*job.state(), JobState::transferring);
  EXPECT_EQ(sql_text("SELECT owner_host FROM jobs WHERE id = $1", job.id()), "runner");
  EXPECT_EQ(server_.requests_for("/stalls").size(), 1u) << "the watcher took the live job over";
  EXPECT_EQ(sql_int("SELECT count(*) FROM jobs WHERE id = $1 AND lease_expires_us > "
                    "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint", job.id()), 1);
  EXPECT_EQ(sql_int("SELECT count(*) FROM hosts WHERE host_id = 'runner' AND last_seen_us > "
                    "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint - 2000000"), 1);
  ASSERT_FALSE(job.cancel());
}

// Cancel called through one host's queue of a job another host's worker is
// transferring: the caller leaves the temp file to the owner (the outbox
// row names it); the owner hears of the cancel (LISTEN/NOTIFY, then its
// poll), stops the transfer and deletes the file within moments.
TEST_F(PgEngine, CancelThroughAnotherHostStopsTheTransfer) {
  queue_.reset();
  auto runner = open_as_host(url_, "runner", test_options(true));
  auto caller = open_as_host(url_, "caller", test_options(false));
  ASSERT_TRUE(runner && caller);
  const std::string body = make_body(4 * 1024 * 1024, 60);
  server_.set("/big", body_resource(body, 1024 * 1024));
  Job job = *caller->create_job("remote cancel");
  ASSERT_FALSE(job.add_file(server_.url("/big"), dir_ / "big.bin"));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 100000; }));
  EXPECT_EQ(sql_text("SELECT owner_host FROM jobs WHERE id = $1", job.id()), "runner");
  const std::string temp = (*job.files())[0].temp_path;
  const auto cancelled_at = std::chrono::steady_clock::now();
  ASSERT_FALSE(job.cancel());
  ASSERT_TRUE(wait_for([&] { return !exists(temp); }, std::chrono::milliseconds(2000)));
  const auto deleted_after = std::chrono::steady_clock::now() - cancelled_at;
  ASSERT_TRUE(wait_for([&] {
    auto rs = server_.requests_for("/big");
    return !rs.empty() && rs.back().finished;
  }, std::chrono::milliseconds(2000)));
  const long long sent = server_.body_bytes_sent("/big");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(server_.body_bytes_sent("/big"), sent);
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  EXPECT_FALSE(runner->worker_error());
  // The owner retired the row: the outbox is empty once it flushed.
  EXPECT_TRUE(wait_for([&] { return sql_int("SELECT count(*) FROM file_ops") == 0; }, std::chrono::milliseconds(3000)));
  std::printf("cross-host cancel: temp file deleted by the owner after %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(deleted_after).count()));
}

}  // namespace
}  // namespace xferq::testing
