// concurrency_test.cc — races between Cancel, Complete, Suspend and the
// worker, on SQLite (Races) and on PostgreSQL (PgRaces, when built). Each
// test asserts what a user would check afterwards: states that make sense,
// no temp file anywhere, final files whole or absent.
#include <atomic>
#include <random>
#include <set>

#include "test_util.h"
#ifdef XFERQ_WITH_POSTGRESQL
#include "pg_fixture.h"
#endif

namespace xferq::testing {
namespace {

class Races : public ::testing::Test {
 protected:
  // The queue the races run on: a SQLite file; PgRaces (below) runs the same
  // bodies on a PostgreSQL database. "" skips (the reason in skip_reason_).
  virtual std::string queue_path() { return dir_ / "queue.db"; }
  void SetUp() override {
    path_ = queue_path();
    if (path_.empty()) GTEST_SKIP() << skip_reason_;
  }
  void open(int max_transfers) {
    auto o = test_options(true);
    o.max_concurrent_transfers = max_transfers;
    queue_ = open_queue(path_, o);
    ASSERT_TRUE(queue_);
  }
  // The test bodies, shared by both backends.
  void EightThreadsCancelAThousandJobs();
  void RandomCancelsOfTwoHundredLiveTransfers();
  void CompleteRacesCancel();
  void SuspendResumeStormEndsWithAWholeFile();
  void CancelRightAfterResumeLeavesNothing();
  void CancelFromAnotherConnectionStopsTheTransfer();

  std::string skip_reason_;
  std::string path_;
  ScratchDir dir_;
  FixtureServer server_;
  std::unique_ptr<Queue> queue_;
};

// 8 threads cancel 1,000 jobs while the worker keeps starting transfers.
void Races::EightThreadsCancelAThousandJobs() {
  open(8);
  for (int i = 0; i < 8; ++i) server_.set("/f" + std::to_string(i), body_resource(make_body(256 * 1024, i), 512 * 1024));
  std::vector<Job> jobs;
  for (int i = 0; i < 1000; ++i) {
    auto j = queue_->create_job("bulk " + std::to_string(i));
    ASSERT_TRUE(j.ok());
    ASSERT_FALSE(j->add_file(server_.url("/f" + std::to_string(i % 8)), dir_ / ("out" + std::to_string(i))));
    ASSERT_FALSE(j->resume());
    jobs.push_back(*j);
  }
  // Cancels must meet live transfers. Any job may be the running one: on a
  // loaded machine creating the 1,000 jobs takes longer than the first
  // transfers do, so looking at the first few alone raced the test itself.
  ASSERT_TRUE(wait_for([&] {
    int running = 0;
    for (const Job& j : jobs) running += *j.state() == JobState::transferring;
    return running >= 4;
  }));
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < jobs.size(); i += 8) (jobs[i].cancel() ? failed : ok)++;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 1000);
  EXPECT_EQ(failed.load(), 0);
  for (const Job& j : jobs) EXPECT_EQ(*j.state(), JobState::cancelled);
  // The worker may still be letting go of transfers; none may leave a file.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  EXPECT_TRUE(queue_->jobs()->empty());
}

TEST_F(Races, EightThreadsCancelAThousandJobs) { EightThreadsCancelAThousandJobs(); }

// 200 live transfers, each cancelled at a random moment.
void Races::RandomCancelsOfTwoHundredLiveTransfers() {
  open(64);
  const int n = 200;
  for (int i = 0; i < n; ++i)
    server_.set("/r" + std::to_string(i), body_resource(make_body(96 * 1024, 100 + i), 256 * 1024));
  std::vector<Job> jobs;
  for (int i = 0; i < n; ++i) {
    auto j = queue_->create_job("live " + std::to_string(i));
    ASSERT_TRUE(j.ok());
    ASSERT_FALSE(j->add_file(server_.url("/r" + std::to_string(i)), dir_ / ("live" + std::to_string(i))));
    ASSERT_FALSE(j->resume());
    jobs.push_back(*j);
  }
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(seed + t);
      std::uniform_int_distribution<int> delay_us(0, 4000);
      for (int i = t; i < n; i += 4) {
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
        EXPECT_FALSE(jobs[i].cancel());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const Job& j : jobs) EXPECT_EQ(*j.state(), JobState::cancelled);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  for (int i = 0; i < n; ++i) EXPECT_FALSE(exists(dir_ / ("live" + std::to_string(i))));
}

TEST_F(Races, RandomCancelsOfTwoHundredLiveTransfers) { RandomCancelsOfTwoHundredLiveTransfers(); }

// Complete and Cancel race on a TRANSFERRED job: exactly one wins, and the
// files match the winner.
void Races::CompleteRacesCancel() {
  open(8);
  const std::string body = make_body(20000, 3);
  server_.set("/c", body_resource(body));
  int completes = 0, cancels = 0;
  for (int round = 0; round < 40; ++round) {
    const std::string out = dir_ / ("c" + std::to_string(round));
    auto j = queue_->create_job("race");
    ASSERT_FALSE(j->add_file(server_.url("/c"), out));
    ASSERT_FALSE(j->resume());
    ASSERT_TRUE(wait_state(*j, JobState::transferred));
    std::error_code complete_ec, cancel_ec;
    std::thread a([&] { complete_ec = j->complete(); });
    std::thread b([&] { cancel_ec = j->cancel(); });
    a.join();
    b.join();
    ASSERT_NE(!complete_ec, !cancel_ec) << "exactly one must win";
    if (!complete_ec) {
      ++completes;
      EXPECT_EQ(cancel_ec, make_error_code(Errc::invalid_state));
      EXPECT_EQ(*j->state(), JobState::acknowledged);
      EXPECT_EQ(read_file(out), body);
    } else {
      ++cancels;
      EXPECT_EQ(complete_ec, make_error_code(Errc::invalid_state));
      EXPECT_EQ(*j->state(), JobState::cancelled);
      EXPECT_FALSE(exists(out));
    }
  }
  EXPECT_EQ(completes + cancels, 40);
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

TEST_F(Races, CompleteRacesCancel) { CompleteRacesCancel(); }

// Suspend / resume storms against a running transfer: the job ends whole.
void Races::SuspendResumeStormEndsWithAWholeFile() {
  open(4);
  const std::string body = make_body(2 * 1024 * 1024, 4);
  server_.set("/s", body_resource(body, 4 * 1024 * 1024));
  auto j = queue_->create_job("storm");
  ASSERT_FALSE(j->add_file(server_.url("/s"), dir_ / "storm.bin"));
  ASSERT_FALSE(j->resume());
  std::mt19937 rng(42);
  for (int i = 0; i < 60; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 8));
    EXPECT_FALSE(j->suspend());
    EXPECT_FALSE(j->resume());
  }
  ASSERT_TRUE(wait_state(*j, JobState::transferred, std::chrono::milliseconds(20000))) << state_name(*j);
  ASSERT_FALSE(j->complete());
  EXPECT_EQ(file_content_hash(dir_ / "storm.bin"), content_hash(body));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

TEST_F(Races, SuspendResumeStormEndsWithAWholeFile) { SuspendResumeStormEndsWithAWholeFile(); }

// Cancel lands while the worker is between recording a temp path and
// creating the file, or just after: whatever the interleaving, no file stays.
void Races::CancelRightAfterResumeLeavesNothing() {
  open(16);
  server_.set("/q", body_resource(make_body(64 * 1024, 5), 1024 * 1024));
  for (int round = 0; round < 300; ++round) {
    auto j = queue_->create_job("quick");
    ASSERT_FALSE(j->add_file(server_.url("/q"), dir_ / ("q" + std::to_string(round))));
    ASSERT_FALSE(j->resume());
    if (round % 3) std::this_thread::sleep_for(std::chrono::microseconds((round * 37) % 3000));
    ASSERT_FALSE(j->cancel());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

TEST_F(Races, CancelRightAfterResumeLeavesNothing) { CancelRightAfterResumeLeavesNothing(); }

// Two Queue objects on one file (as two processes would): a cancel through
// the one without a worker stops the other's transfer.
void Races::CancelFromAnotherConnectionStopsTheTransfer() {
  open(4);
  server_.set("/x", body_resource(make_body(8 * 1024 * 1024, 6), 1024 * 1024));
  auto j = queue_->create_job("shared");
  ASSERT_FALSE(j->add_file(server_.url("/x"), dir_ / "x.bin"));
  ASSERT_FALSE(j->resume());
  ASSERT_TRUE(wait_for([&] { return j->progress()->bytes_transferred > 100000; }));
  auto other = open_queue(path_, test_options(false));
  auto same = other->get_job(j->id());
  ASSERT_TRUE(same.ok());
  ASSERT_FALSE(same->cancel());
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  ASSERT_TRUE(wait_for([&] {
    auto rs = server_.requests_for("/x");
    return !rs.empty() && rs.back().finished;
  }, std::chrono::milliseconds(2000)));
  EXPECT_EQ(*j->state(), JobState::cancelled);
}

TEST_F(Races, CancelFromAnotherConnectionStopsTheTransfer) { CancelFromAnotherConnectionStopsTheTransfer(); }

#ifdef XFERQ_WITH_POSTGRESQL
// The same races on the PostgreSQL backend (a fresh database on the binary's
// private cluster, tests/pg_fixture.h).
class PgRaces : public Races {
 protected:
  std::string queue_path() override {
    PgCluster* cluster = PgCluster::shared(&skip_reason_);
    return cluster ? cluster->create_database() : std::string();
  }
};
TEST_F(PgRaces, EightThreadsCancelAThousandJobs) { EightThreadsCancelAThousandJobs(); }
TEST_F(PgRaces, RandomCancelsOfTwoHundredLiveTransfers) { RandomCancelsOfTwoHundredLiveTransfers(); }
TEST_F(PgRaces, CompleteRacesCancel) { CompleteRacesCancel(); }
TEST_F(PgRaces, SuspendResumeStormEndsWithAWholeFile) { SuspendResumeStormEndsWithAWholeFile(); }
TEST_F(PgRaces, CancelRightAfterResumeLeavesNothing) { CancelRightAfterResumeLeavesNothing(); }
TEST_F(PgRaces, CancelFromAnotherConnectionStopsTheTransfer) { CancelFromAnotherConnectionStopsTheTransfer(); }
#endif

}  // namespace
}  // namespace xferq::testing

namespace xferq::testing {
namespace {

// Complete lands at random moments while the worker finishes files — between
// a file's last byte, its final flush (on the flusher threads) and the commit
// that marks it done. Whatever wins, every file at a final path is whole and
// no temp file is left.
TEST(CompleteRacesFinishing, FinalFilesAreWholeOrAbsent) {
  ScratchDir dir;
  FixtureServer server;
  auto o = test_options(true);
  o.max_concurrent_transfers = 16;
  auto q = open_queue(dir / "q.db", o);
  const std::string a = make_body(200 * 1024, 50), b = make_body(300 * 1024, 51);
  server.set("/a", body_resource(a));
  server.set("/b", body_resource(b));
  std::mt19937 rng(7);
  int all = 0, partial = 0;
  for (int round = 0; round < 60; ++round) {
    auto j = q->create_job("finishing " + std::to_string(round));
    const std::string fa = dir / ("a" + std::to_string(round)), fb = dir / ("b" + std::to_string(round));
    ASSERT_FALSE(j->add_files({{server.url("/a"), fa}, {server.url("/b"), fb}}));
    ASSERT_FALSE(j->resume());
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 6000));
    CompleteStatus status = CompleteStatus::all_files;
    ASSERT_FALSE(j->complete(&status));
    (status == CompleteStatus::all_files ? all : partial)++;
    if (exists(fa)) {
      EXPECT_EQ(read_file(fa), a);
    }
    if (exists(fb)) {
      EXPECT_EQ(read_file(fb), b);
    }
    if (status == CompleteStatus::all_files) {
      EXPECT_TRUE(exists(fa) && exists(fb));
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(temp_files_in(dir.path()).empty());
  EXPECT_EQ(all + partial, 60);
  RecordProperty("complete_all_files", all);
  RecordProperty("complete_partial", partial);
}

}  // namespace
}  // namespace xferq::testing
