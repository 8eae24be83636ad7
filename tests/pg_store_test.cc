// pg_store_test.cc — the PostgreSQL backend against a real PostgreSQL server
// (tests/pg_fixture.h: a private cluster, a fresh database per test) and a
// real local HTTP server: the engine through a job's life on
// Queue::open("postgresql://..."), refused calls that change nothing, the
// schema runner, claims by two stores at once (SKIP LOCKED), and the
// oracle table end to end.
#include <pqxx/pqxx>

#include <atomic>
#include <set>
#include <thread>

#include "oracle_end_to_end.h"
#include "clock.h"
#include "pg_engine.h"
#include "storage/store.h"

namespace xferq::testing {
namespace {

TEST_F(PgEngine, OpensMigratesAndReopens) {
  EXPECT_EQ(sql_int("SELECT max(version) FROM xferq_schema"), 2);
  EXPECT_EQ(sql_int("SELECT count(*) FROM hosts"), 1);
  auto job = queue_->create_job("fresh");
  ASSERT_TRUE(job.ok());
  auto info = job->info();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, JobState::suspended);
  EXPECT_EQ(info->priority, JobPriority::normal);
  EXPECT_EQ(info->minimum_retry_delay, std::chrono::seconds(600));
  EXPECT_EQ(job->resume(), make_error_code(Errc::empty));
  // A second queue on the same database: no migration again, same jobs.
  auto second = open_queue(url_, test_options(false));
  ASSERT_TRUE(second);
  auto again = second->get_job(job->id());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again->state(), JobState::suspended);
  EXPECT_EQ(sql_int("SELECT count(*) FROM xferq_schema"), 2);
}

TEST_F(PgEngine, RefusesAnotherApplicationsDatabase) {
  std::string why;
  PgCluster* cluster = PgCluster::shared(&why);
  ASSERT_TRUE(cluster) << why;
  const std::string other = cluster->create_database();
  {
    pqxx::connection c(other);
    pqxx::work tx(c);
    tx.exec("CREATE TABLE jobs (x integer)");
    tx.commit();
  }
  auto q = Queue::open(other, test_options(false));
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error(), make_error_code(Errc::database_corrupt));
}

TEST_F(PgEngine, DownloadCompleteGivesByteIdenticalFiles) {
  const std::string a = make_body(3 * 1024 * 1024 + 17, 1), b = make_body(5000, 2);
  server_.set("/a", body_resource(a));
  server_.set("/b", body_resource(b));
  std::atomic<int> transferred{0};
  JobCallbacks cb;
  cb.transferred = [&](const std::string&) { transferred++; };
  queue_->set_callbacks(cb);
  Job job = download({{"/a", "a.bin"}, {"/b", "b.bin"}});
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  EXPECT_TRUE(wait_for([&] { return transferred.load() == 1; }));
  EXPECT_FALSE(exists(dir_ / "a.bin"));  // nothing at the final paths before Complete
  auto progress = job.progress();
  ASSERT_TRUE(progress.ok());
  EXPECT_EQ(progress->bytes_total, static_cast<int64_t>(a.size() + b.size()));
  EXPECT_EQ(progress->bytes_transferred, progress->bytes_total);
  EXPECT_EQ(progress->files_transferred, 2u);
  EXPECT_TRUE(job.times()->transfer_completion.has_value());
  // The claim recorded this host; the lease ends with the transfer.
  EXPECT_NE(sql_text("SELECT owner_host FROM jobs WHERE id = $1", job.id()), "NULL");
  EXPECT_EQ(sql_text("SELECT lease_expires_us FROM jobs WHERE id = $1", job.id()), "NULL");
  CompleteStatus status = CompleteStatus::partial;
  const std::error_code completed = job.complete(&status);
  ASSERT_FALSE(completed) << completed.message();
  EXPECT_EQ(status, CompleteStatus::all_files);
  EXPECT_EQ(file_content_hash(dir_ / "a.bin"), content_hash(a));
  EXPECT_EQ(file_content_hash(dir_ / "b.bin"), content_hash(b));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  EXPECT_EQ(*job.state(), JobState::acknowledged);
  EXPECT_TRUE(queue_->jobs()->empty());
  EXPECT_EQ(queue_->jobs(true)->size(), 1u);
  EXPECT_EQ(job.complete(), make_error_code(Errc::invalid_state));
  EXPECT_EQ(job.cancel(), make_error_code(Errc::invalid_state));
  // The finalize row is retired with the next write, or when the store closes.
  queue_.reset();
  EXPECT_EQ(sql_int("SELECT count(*) FROM file_ops"), 0);
}

TEST_F(PgEngine, CancelWhileTransferringStopsAndDeletes) {
  const std::string body = make_body(4 * 1024 * 1024, 4);
  server_.set("/big", body_resource(body, 1024 * 1024));  // 4 s at 1 MiB/s
  Job job = download({{"/big", "big.bin"}});
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 100000; }));
  const std::string temp = (*job.files())[0].temp_path;
  ASSERT_TRUE(exists(temp));
  ASSERT_FALSE(job.cancel());
  EXPECT_FALSE(exists(temp));  // gone when cancel returns
  EXPECT_EQ(*job.state(), JobState::cancelled);
  // The transfer stops: the server sees the client leave and sends no more.
  ASSERT_TRUE(wait_for([&] {
    auto rs = server_.requests_for("/big");
    return !rs.empty() && rs.back().finished;
  }, std::chrono::milliseconds(2000)));
  const long long sent = server_.body_bytes_sent("/big");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(server_.body_bytes_sent("/big"), sent);
  EXPECT_LT(sent, static_cast<long long>(body.size()));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  EXPECT_FALSE(exists(dir_ / "big.bin"));
  EXPECT_EQ(job.resume(), make_error_code(Errc::invalid_state));
  // The outbox row named the host that holds the files, and is gone.
  queue_.reset();
  EXPECT_EQ(sql_int("SELECT count(*) FROM file_ops"), 0);
  auto q = open_queue(url_, test_options(false));
  auto again = q->get_job(job.id());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again->state(), JobState::cancelled);
}

TEST_F(PgEngine, SuspendResumeContinuesWithRange) {
  const std::string body = make_body(3 * 1024 * 1024, 6);
  server_.set("/big", body_resource(body, 2 * 1024 * 1024));
  Job job = download({{"/big", "big.bin"}});
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 300000; }));
  ASSERT_FALSE(job.suspend());
  EXPECT_EQ(*job.state(), JobState::suspended);
  const std::string temp = (*job.files())[0].temp_path;
  EXPECT_TRUE(exists(temp));  // kept for resume
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred, std::chrono::milliseconds(20000))) << state_name(job);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(file_content_hash(dir_ / "big.bin"), content_hash(body));
  auto reqs = server_.requests_for("/big");
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_EQ(reqs.back().range.rfind("bytes=", 0), 0u);
  EXPECT_LT(server_.body_bytes_sent("/big"), static_cast<long long>(body.size() * 3 / 2));
}

// A call refused in the wrong state changes nothing: not the state, not the
// generation, not the modification time, not the files, not the outbox.
TEST_F(PgEngine, RefusedCallChangesNothing) {
  server_.set("/f", body_resource(make_body(10000, 3)));
  Job job = download({{"/f", "f.bin"}}, /*resume=*/false);
  ASSERT_FALSE(job.cancel());
  queue_->jobs();  // any call; retired outbox rows go with the next write
  const int64_t generation = sql_int("SELECT generation FROM jobs WHERE id = $1", job.id());
  const int64_t modified = sql_int("SELECT modified_us FROM jobs WHERE id = $1", job.id());
  const int64_t ops = sql_int("SELECT count(*) FROM file_ops");
  EXPECT_EQ(job.resume(), make_error_code(Errc::invalid_state));
  EXPECT_EQ(job.suspend(), make_error_code(Errc::invalid_state));
  EXPECT_EQ(job.cancel(), make_error_code(Errc::invalid_state));
  EXPECT_EQ(job.complete(), make_error_code(Errc::invalid_state));
  EXPECT_EQ(job.add_file(server_.url("/f"), dir_ / "g.bin"), make_error_code(Errc::invalid_state));
  EXPECT_EQ(job.set_priority(JobPriority::high), make_error_code(Errc::invalid_state));
  EXPECT_EQ(*job.state(), JobState::cancelled);
  EXPECT_EQ(sql_int("SELECT generation FROM jobs WHERE id = $1", job.id()), generation);
  EXPECT_EQ(sql_int("SELECT modified_us FROM jobs WHERE id = $1", job.id()), modified);
  EXPECT_EQ(sql_int("SELECT count(*) FROM files WHERE job_id = $1", job.id()), 1);
  EXPECT_EQ(sql_int("SELECT count(*) FROM file_ops"), ops);
  EXPECT_EQ(queue_->get_job("{00000000-0000-0000-0000-000000000000}").error(), make_error_code(Errc::not_found));
  // The same local path in an active job is refused, and changes nothing.
  Job other = download({{"/f", "h.bin"}}, /*resume=*/false);
  Job third = download({}, /*resume=*/false);
  EXPECT_EQ(third.add_file(server_.url("/f"), dir_ / "h.bin"), make_error_code(Errc::file_exists));
  EXPECT_EQ(sql_int("SELECT count(*) FROM files WHERE job_id = $1", third.id()), 0);
}

// Two stores (two processes' worth) claim from one queue at once: every job
// is claimed exactly once (FOR UPDATE SKIP LOCKED).
TEST_F(PgEngine, ConcurrentClaimsNeverClaimAJobTwice) {
  queue_.reset();  // no worker of its own
  auto q = open_queue(url_, test_options(false));
  constexpr int kJobs = 60;
  for (int i = 0; i < kJobs; ++i) {
    Job job = *q->create_job("claim " + std::to_string(i));
    ASSERT_FALSE(job.add_file(server_.url("/x"), dir_ / ("x" + std::to_string(i))));
    ASSERT_FALSE(job.resume());
  }
  std::mutex mu;
  std::multiset<std::string> claimed;
  auto claimer = [&] {
    auto store = detail::Store::open(url_, test_options(false));
    ASSERT_TRUE(store.ok()) << store.error().message();
    for (;;) {
      auto claims = (*store)->claim_next(3, {}, 1);
      ASSERT_TRUE(claims.ok()) << claims.error().message();
      if (claims->empty()) return;
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& c : *claims) claimed.insert(c.job_id);
    }
  };
  std::thread a(claimer), b(claimer);
  a.join();
  b.join();
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(sql_int("SELECT count(*) FROM jobs WHERE state = 1"), kJobs);
}

// Another connection's commit moves change_counter() (LISTEN/NOTIFY); the
// store's own commits do not.
TEST_F(PgEngine, ChangeCounterSeesOtherConnectionsCommits) {
  // No worker: its own commits (recovery at start) would move the counter.
  queue_.reset();
  queue_ = open_queue(url_, test_options(false));
  auto store = detail::Store::open(url_, test_options(false));
  ASSERT_TRUE(store.ok());
  const int64_t before = *(*store)->change_counter();
  ASSERT_FALSE((*store)->create_job("{11111111-1111-1111-1111-111111111111}", "own", JobType::download, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(*(*store)->change_counter(), before);
  ASSERT_TRUE(queue_->create_job("other").ok());
  EXPECT_TRUE(wait_for([&] { return *(*store)->change_counter() > before; }, std::chrono::milliseconds(3000)));
}

// A running worker's bookkeeping (progress, lease renewals) wakes no other
// host; a call that changes what another host acts on does (schema 002).
TEST_F(PgEngine, OnlyChangesOtherHostsActOnNotifyThem) {
  queue_.reset();
  auto runner_options = host_options("runner", false);
  auto watcher_options = host_options("watcher", false);
  queue_ = open_queue(url_, runner_options);
  auto runner = detail::Store::open(url_, runner_options);
  auto watcher = detail::Store::open(url_, watcher_options);
  ASSERT_TRUE(runner.ok() && watcher.ok());
  Job job = *queue_->create_job("watched");
  ASSERT_FALSE(job.add_file(server_.url("/w"), dir_ / "w"));
  ASSERT_FALSE(job.resume());
  auto claims = (*runner)->claim_next(1, {}, detail::now_us());
  ASSERT_TRUE(claims.ok() && claims->size() == 1u);
  detail::Claim claim = (*claims)[0];
  ASSERT_EQ(*(*runner)->mark_connected(&claim, detail::now_us()), detail::WriteOutcome::applied);
  // Let every notification so far arrive, then take the count.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int64_t before = *(*watcher)->change_counter();
  detail::FileRow row;
  row.idx = 0;
  row.bytes_transferred = 1000;
  row.bytes_total = 5000;
  for (int i = 0; i < 5; ++i) {
    row.bytes_transferred += 100;
    ASSERT_EQ(*(*runner)->commit_progress(claim, row, detail::now_us()), detail::WriteOutcome::applied);
  }
  ASSERT_FALSE((*runner)->renew_leases({job.id()}));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(*(*watcher)->change_counter(), before) << "bookkeeping woke another host";
  EXPECT_EQ(job.progress()->bytes_transferred, 1500);
  ASSERT_FALSE(job.set_priority(JobPriority::high));
  EXPECT_TRUE(wait_for([&] { return *(*watcher)->change_counter() > before; }, std::chrono::milliseconds(3000)));
  const int64_t after_call = *(*watcher)->change_counter();
  ASSERT_FALSE(job.suspend());
  EXPECT_TRUE(wait_for([&] { return *(*watcher)->change_counter() > after_call; }, std::chrono::milliseconds(3000)));
}

// The oracle table end to end (oracle_end_to_end.h) on PostgreSQL: the same
// states, results and errors as on SQLite.
class PgOracle : public OracleEndToEnd {
 protected:
  std::string queue_path() override {
    PgCluster* cluster = PgCluster::shared(&skip_reason_);
    return cluster ? cluster->create_database() : std::string();
  }
};

TEST_F(PgOracle, EveryRowEndToEnd) { every_row_end_to_end(); }

}  // namespace
}  // namespace xferq::testing
