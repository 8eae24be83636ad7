// bandwidth_test.cc — bandwidth limits (xferq/bandwidth.h): the allocator's
// shares as a pure function, the schedule on a fake clock, the worker
// applying shares to running downloads and uploads (observed through the
// allocator's test hook, never by timing), changes made through another
// Queue on the same file, persistence across reopen, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

#include "bits_upload_server.h"
#include "test_util.h"
#include "worker/bandwidth.h"
#include "worker/curl_request.h"
#include "worker/transfer_driver.h"

namespace xferq::testing {
namespace {

using detail::allocate_bandwidth;
using detail::BandwidthDecision;
using detail::BandwidthPolicy;
using detail::TransferNeed;

constexpr int64_t M = 1000 * 1000;

TransferNeed need(JobPriority p = JobPriority::normal, int64_t job_limit = 0, int64_t demand = 0) {
  TransferNeed n;
  n.priority = p;
  n.job_limit = job_limit;
  n.demand = demand;
  return n;
}

BandwidthPolicy policy(int64_t queue_limit) {
  BandwidthPolicy p;
  p.queue_limit = queue_limit;
  return p;
}

// ---- The allocator ----------------------------------------------------------

TEST(BandwidthAllocator, EqualSharesUnderTheQueueLimit) {
  auto shares = allocate_bandwidth(policy(20 * M), std::vector<TransferNeed>(8, need()));
  for (int64_t s : shares) EXPECT_EQ(s, 20 * M / 8);
  EXPECT_EQ(allocate_bandwidth(policy(20 * M), {need()}), std::vector<int64_t>{20 * M});
}

TEST(BandwidthAllocator, JobLimitCapsAndTheRestIsShared) {
  auto shares = allocate_bandwidth(policy(20 * M), {need(JobPriority::normal, 2 * M), need(), need()});
  EXPECT_EQ(shares, (std::vector<int64_t>{2 * M, 9 * M, 9 * M}));
  // A job limit above its equal share changes nothing.
  shares = allocate_bandwidth(policy(20 * M), {need(JobPriority::normal, 15 * M), need()});
  EXPECT_EQ(shares, (std::vector<int64_t>{10 * M, 10 * M}));
}

TEST(BandwidthAllocator, NoQueueLimitLeavesOnlyTheCaps) {
  BandwidthPolicy p = policy(0);
  p.priority_limits[static_cast<int>(JobPriority::low)] = 3 * M;
  auto shares = allocate_bandwidth(p, {need(), need(JobPriority::normal, 5 * M), need(JobPriority::low),
                                       need(JobPriority::low, 1 * M)});
  EXPECT_EQ(shares, (std::vector<int64_t>{0, 5 * M, 3 * M, 1 * M}));
}

TEST(BandwidthAllocator, PriorityLimitCapsEachTransferOfThatPriority) {
  BandwidthPolicy p = policy(20 * M);
  p.priority_limits[static_cast<int>(JobPriority::low)] = 1 * M;
  auto shares = allocate_bandwidth(p, {need(JobPriority::low), need(JobPriority::low), need(JobPriority::high)});
  EXPECT_EQ(shares, (std::vector<int64_t>{1 * M, 1 * M, 18 * M}));
}

TEST(BandwidthAllocator, ForegroundIsUnthrottledUnlessItsPriorityLimitIsSet) {
  BandwidthPolicy p = policy(10 * M);
  auto shares = allocate_bandwidth(p, {need(JobPriority::foreground), need()});
  // FOREGROUND stands outside the queue-wide limit and takes none of it.
  EXPECT_EQ(shares, (std::vector<int64_t>{0, 10 * M}));
  p.priority_limits[static_cast<int>(JobPriority::foreground)] = 3 * M;
  shares = allocate_bandwidth(p, {need(JobPriority::foreground), need()});
  EXPECT_EQ(shares, (std::vector<int64_t>{3 * M, 10 * M}));
  // Its own job limit caps it too.
  shares = allocate_bandwidth(policy(10 * M), {need(JobPriority::foreground, 2 * M)});
  EXPECT_EQ(shares, std::vector<int64_t>{2 * M});
}

TEST(BandwidthAllocator, UnusedShareOfASlowTransferGoesToTheOthers) {
  // Measured demand 1 MB/s: the other two share the rest.
  auto shares = allocate_bandwidth(policy(21 * M), {need(JobPriority::normal, 0, 1 * M), need(), need()});
  EXPECT_EQ(shares, (std::vector<int64_t>{1 * M, 10 * M, 10 * M}));
  // Every transfer slow: what is left goes back to them in equal parts, so
  // none is held to its old pace, and the sum stays the limit.
  shares = allocate_bandwidth(policy(20 * M), {need(JobPriority::normal, 0, 1 * M), need(JobPriority::normal, 0, 3 * M)});
  EXPECT_EQ(std::accumulate(shares.begin(), shares.end(), int64_t{0}), 20 * M);
  EXPECT_EQ(shares[0], 9 * M);
  EXPECT_EQ(shares[1], 11 * M);
  // ...but never past a job's own limit.
  shares = allocate_bandwidth(policy(20 * M), {need(JobPriority::normal, 2 * M, 1 * M), need(JobPriority::normal, 0, 1 * M)});
  EXPECT_EQ(shares, (std::vector<int64_t>{2 * M, 18 * M}));
}

TEST(BandwidthAllocator, SharesNeverExceedTheLimitsOverRandomInputs) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 2000; ++round) {
    BandwidthPolicy p = policy(static_cast<int64_t>(rng() % 50) * M);
    for (auto& l : p.priority_limits) l = (rng() % 3 == 0) ? static_cast<int64_t>(rng() % 10 + 1) * M : 0;
    std::vector<TransferNeed> needs;
    const int n = static_cast<int>(rng() % 9);
    for (int i = 0; i < n; ++i)
      needs.push_back(need(static_cast<JobPriority>(rng() % 4), (rng() % 3 == 0) ? static_cast<int64_t>(rng() % 8 + 1) * M : 0,
                           (rng() % 3 == 0) ? static_cast<int64_t>(rng() % 8 + 1) * M : 0));
    auto shares = allocate_bandwidth(p, needs);
    ASSERT_EQ(shares.size(), needs.size());
    int64_t background = 0;
    for (size_t i = 0; i < needs.size(); ++i) {
      const int64_t prio = p.priority_limits[static_cast<int>(needs[i].priority)];
      if (needs[i].job_limit) {
        EXPECT_LE(shares[i], needs[i].job_limit);
      }
      if (prio) {
        EXPECT_LE(shares[i], prio);
      }
      if (needs[i].priority != JobPriority::foreground && p.queue_limit) {
        EXPECT_GT(shares[i], 0);  // throttled, never "unlimited"
        background += shares[i];
      }
    }
    if (p.queue_limit) {
      EXPECT_LE(background, p.queue_limit);
    }
  }
}

// ---- The schedule -----------------------------------------------------------

TEST(BandwidthSchedule, WindowBoundariesDaysAndOverlaps) {
  const std::vector<BandwidthWindow> s = {
      {kWeekdays, 9, 17, 1 * M},   // work hours
      {kEveryDay, 12, 13, 5 * M},  // overlaps the first: the first wins
      {kSaturday | kSunday, 0, 24, 0},
  };
  const int monday = 1, saturday = 6;
  EXPECT_EQ(detail::scheduled_limit(s, 7 * M, monday, 8), 7 * M);  // before the window: the default
  EXPECT_EQ(detail::scheduled_limit(s, 7 * M, monday, 9), 1 * M);  // start hour included
  EXPECT_EQ(detail::scheduled_limit(s, 7 * M, monday, 12), 1 * M);  // overlap: first wins
  EXPECT_EQ(detail::scheduled_limit(s, 7 * M, monday, 16), 1 * M);
  EXPECT_EQ(detail::scheduled_limit(s, 7 * M, monday, 17), 7 * M);  // end hour excluded
  EXPECT_EQ(detail::scheduled_limit(s, 7 * M, saturday, 12), 5 * M);  // the every-day window comes first
  EXPECT_EQ(detail::scheduled_limit(s, 7 * M, saturday, 14), 0);      // weekend window: no limit
  EXPECT_EQ(detail::scheduled_limit({}, 7 * M, saturday, 12), 7 * M);
}

// The fake wall clock the schedule reads in the worker tests.
std::atomic<int64_t> g_fake_now{0};
int64_t fake_clock() { return g_fake_now.load(); }

// Local time `wday`-of-the-first-week-of-2024 at hour:minute:second (Jan 1,
// 2024 was a Monday), in this process's time zone.
int64_t local_time(int wday, int hour, int min, int sec) {
  struct tm t {};
  t.tm_year = 2024 - 1900;
  t.tm_mon = 0;
  t.tm_mday = wday == 0 ? 7 : wday;  // Jan 7 was a Sunday
  t.tm_hour = hour;
  t.tm_min = min;
  t.tm_sec = sec;
  t.tm_isdst = -1;
  return static_cast<int64_t>(mktime(&t));
}

TEST(BandwidthSchedule, EvaluatedInLocalTime) {
  const std::vector<BandwidthWindow> s = {{kWeekdays, 9, 17, 1 * M}};
  EXPECT_EQ(detail::scheduled_limit_at(s, 0, local_time(1, 8, 59, 59)), 0);
  EXPECT_EQ(detail::scheduled_limit_at(s, 0, local_time(1, 9, 0, 0)), 1 * M);
  EXPECT_EQ(detail::scheduled_limit_at(s, 0, local_time(5, 16, 59, 59)), 1 * M);
  EXPECT_EQ(detail::scheduled_limit_at(s, 0, local_time(6, 10, 0, 0)), 0);  // Saturday
}

// ---- A request's share of a loop turn ----------------------------------------

// Counts the body bytes each curl_multi_perform() hands over.
class CountingDriver : public detail::TransferDriver {
 public:
  void start() override {}
  size_t on_body(detail::CurlRequest&, const char*, size_t n) override {
    bytes += n;
    return n;
  }
  void done(detail::CurlRequest&, CURLcode r) override { result = r; }
  void stop(bool) override {}
  size_t bytes = 0;
  CURLcode result = CURLE_AGAIN;
};

// libcurl reads a readable socket up to 100 times in one
// curl_multi_perform(); a download must stop after its share (one receive
// buffer) so that the loop turns and the other requests go on. The socket
// is given time to fill before each turn, so without the share a turn takes
// many buffers.
TEST(TurnShare, ADownloadTakesAboutOneReceiveBufferPerLoopTurn) {
  constexpr size_t kBody = 4 * 1024 * 1024, kShare = 16 * 1024;
  FixtureServer server;
  server.set("/big", body_resource(make_body(kBody, 5)));
  CountingDriver driver;
  QueueOptions options = test_options();
  auto request = std::make_unique<detail::CurlRequest>(options, &driver);
  request->set_url(server.url("/big"));
  request->set_receive_buffer(kShare);
  CURLM* multi = curl_multi_init();
  ASSERT_EQ(curl_multi_add_handle(multi, request->easy()), CURLM_OK);
  size_t most_in_a_turn = 0;
  int turns = 0, running = 1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (running > 0 && std::chrono::steady_clock::now() < deadline) {
    request->begin_turn(std::chrono::steady_clock::now());
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the socket fills meanwhile
    const size_t before = driver.bytes;
    curl_multi_perform(multi, &running);
    most_in_a_turn = std::max(most_in_a_turn, driver.bytes - before);
    ++turns;
  }
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &queued))
    if (msg->msg == CURLMSG_DONE) driver.done(*request, msg->data.result);
  curl_multi_remove_handle(multi, request->easy());
  request.reset();
  curl_multi_cleanup(multi);
  EXPECT_EQ(driver.result, CURLE_OK);
  EXPECT_EQ(driver.bytes, kBody);
  // The share, plus at most the read that crossed it.
  EXPECT_LE(most_in_a_turn, 2 * kShare);
  EXPECT_GE(turns, static_cast<int>(kBody / (2 * kShare)));
}

// ---- The worker ---------------------------------------------------------------

// Records what the worker's allocator decided (its test hook).
class DecisionLog {
 public:
  DecisionLog() {
    detail::set_bandwidth_observer_for_testing([this](const BandwidthDecision& d) {
      std::lock_guard<std::mutex> lock(mu_);
      last_ = d;
    });
  }
  ~DecisionLog() { detail::set_bandwidth_observer_for_testing(nullptr); }
  BandwidthDecision last() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }
  // Waits (generously) until the worker applied `share` to `job`.
  bool wait_share(const Job& job, int64_t share) {
    return wait_for([&] {
      auto d = last();
      auto it = d.shares.find(job.id());
      return it != d.shares.end() && it->second == share;
    });
  }
  bool wait_queue_limit(int64_t limit) {
    return wait_for([&] { return last().queue_limit == limit && !last().shares.empty(); });
  }

 private:
  std::mutex mu_;
  BandwidthDecision last_;
};

class BandwidthWorkerTest : public ::testing::Test {
 protected:
  std::string db() const { return dir_ / "queue.db"; }
  // A download that runs long enough to be observed: a slow server.
  Job slow_download(Queue& q, const std::string& name, size_t bytes = 4 * 1000 * 1000, size_t server_rate = 400 * 1000) {
    server_.set("/" + name, body_resource(make_body(bytes, 3), server_rate));
    auto job = q.create_job(name);
    EXPECT_TRUE(job.ok());
    EXPECT_FALSE(job->add_file(server_.url("/" + name), dir_ / name));
    return *job;
  }
  int64_t transferred(const Job& job) {
    auto p = job.progress();
    return p.ok() ? p->bytes_transferred : -1;
  }
  ScratchDir dir_;
  FixtureServer server_;
  DecisionLog log_;
};

TEST_F(BandwidthWorkerTest, QueueLimitIsSplitAmongRunningTransfers) {
  auto q = open_queue(db(), test_options());
  ASSERT_FALSE(q->set_bandwidth_limit(2 * M));
  Job a = slow_download(*q, "a"), b = slow_download(*q, "b");
  ASSERT_FALSE(a.resume());
  ASSERT_FALSE(b.resume());
  EXPECT_TRUE(wait_for([&] {
    auto d = log_.last();
    return d.shares.size() == 2 && d.shares[a.id()] + d.shares[b.id()] <= 2 * M && d.shares[a.id()] >= 1 * M / 2 &&
           d.shares[b.id()] >= 1 * M / 2;
  }));
  // FOREGROUND leaves the queue-wide limit.
  ASSERT_FALSE(a.set_priority(JobPriority::foreground));
  EXPECT_TRUE(log_.wait_share(a, 0));
  EXPECT_TRUE(log_.wait_share(b, 2 * M));
  ASSERT_FALSE(q->set_priority_bandwidth_limit(JobPriority::foreground, 300 * 1000));
  EXPECT_TRUE(log_.wait_share(a, 300 * 1000));
  ASSERT_FALSE(a.cancel());
  ASSERT_FALSE(b.cancel());
}

TEST_F(BandwidthWorkerTest, ASlowTransfersUnusedShareGoesToTheOther) {
  auto q = open_queue(db(), test_options());
  ASSERT_FALSE(q->set_bandwidth_limit(2 * M));
  Job slow = slow_download(*q, "slow", 4 * 1000 * 1000, 100 * 1000);  // the server sends 100 kB/s
  Job fast = slow_download(*q, "fast", 40 * 1000 * 1000, 0);
  ASSERT_FALSE(slow.resume());
  ASSERT_FALSE(fast.resume());
  // Equal halves at first; once the slow one is measured, the fast one gets
  // what it leaves (wide bound: the slow one keeps headroom over its pace).
  EXPECT_TRUE(wait_for([&] {
    auto d = log_.last();
    return d.shares.size() == 2 && d.shares[fast.id()] >= 1500 * 1000 &&
           d.shares[fast.id()] + d.shares[slow.id()] <= 2 * M;
  }));
  ASSERT_FALSE(slow.cancel());
  ASSERT_FALSE(fast.cancel());
}

TEST_F(BandwidthWorkerTest, LimitChangedThroughAnotherQueueReachesTheRunningTransfer) {
  auto q = open_queue(db(), test_options());
  auto other = open_queue(db(), test_options(false));  // another handle, as another process would
  Job job = slow_download(*q, "a");
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferring));
  EXPECT_TRUE(log_.wait_share(job, 0));  // no limit anywhere
  auto same = other->get_job(job.id());
  ASSERT_TRUE(same.ok());
  ASSERT_FALSE(same->set_bandwidth_limit(100 * 1000));
  EXPECT_TRUE(log_.wait_share(job, 100 * 1000));
  ASSERT_FALSE(same->set_bandwidth_limit(300 * 1000));  // raised
  EXPECT_TRUE(log_.wait_share(job, 300 * 1000));
  ASSERT_FALSE(other->set_bandwidth_limit(200 * 1000));  // queue-wide, lower than the job's
  EXPECT_TRUE(log_.wait_share(job, 200 * 1000));
  ASSERT_FALSE(other->set_bandwidth_limit(0));
  ASSERT_FALSE(same->set_bandwidth_limit(0));
  EXPECT_TRUE(log_.wait_share(job, 0));
  ASSERT_FALSE(job.cancel());
}

TEST_F(BandwidthWorkerTest, AThrottledDownloadMovesNoFasterThanItsLimitAndFinishesWhenLifted) {
  auto q = open_queue(db(), test_options());
  const size_t size = 3 * 1000 * 1000;
  Job job = slow_download(*q, "a", size, 0);  // the server as fast as it can
  ASSERT_FALSE(job.set_bandwidth_limit(200 * 1000));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(log_.wait_share(job, 200 * 1000));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  // Unthrottled it would have finished long ago; at 200 kB/s two seconds
  // move about 400 kB. Wide bounds: a burst, a slow machine. (What the
  // server wrote says little: loopback socket buffers hold megabytes.)
  EXPECT_LT(transferred(job), static_cast<int64_t>(size) - 1000 * 1000);
  EXPECT_NE(state_name(job), "TRANSFERRED");
  ASSERT_FALSE(job.set_bandwidth_limit(0));
  ASSERT_TRUE(wait_state(job, JobState::transferred, std::chrono::seconds(30))) << state_name(job);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(dir_ / "a"), make_body(size, 3));
}

TEST_F(BandwidthWorkerTest, CancellingAPausedTransferStopsIt) {
  auto q = open_queue(db(), test_options());
  Job job = slow_download(*q, "a", 3 * 1000 * 1000, 0);
  ASSERT_FALSE(job.set_bandwidth_limit(50 * 1000));  // paused most of the time
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferring));
  ASSERT_TRUE(log_.wait_share(job, 50 * 1000));
  ASSERT_FALSE(job.cancel());
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  // The loop drops the paused request: the server sees the connection go.
  EXPECT_TRUE(wait_for([&] { return server_.open_connections() == 0; }));
}

TEST_F(BandwidthWorkerTest, UploadsAreThrottledToo) {
  BitsUploadServer up;
  QueueOptions o = test_options();
  o.upload_fragment_bytes = 256 * 1024;
  auto q = open_queue(db(), o);
  const std::string data = make_body(1500 * 1000, 9);
  write_file(dir_ / "src.bin", data);
  auto job = q->create_job("up", JobType::upload);
  ASSERT_TRUE(job.ok());
  ASSERT_FALSE(job->add_file(up.url("/up/src.bin"), dir_ / "src.bin"));
  ASSERT_FALSE(job->set_bandwidth_limit(150 * 1000));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(log_.wait_share(*job, 150 * 1000));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_LT(transferred(*job), static_cast<int64_t>(data.size()) - 256 * 1024);
  ASSERT_FALSE(job->set_bandwidth_limit(0));
  ASSERT_TRUE(wait_state(*job, JobState::transferred, std::chrono::seconds(30))) << state_name(*job);
  ASSERT_FALSE(job->complete());
  std::string got;
  ASSERT_TRUE(up.uploaded("/up/src.bin", &got));
  EXPECT_EQ(got, data);
}

// Puts the fake clock in place for one test, and the system clock back even
// when an assertion ends the test early.
struct FakeScheduleClock {
  FakeScheduleClock() { detail::set_schedule_clock_for_testing(fake_clock); }
  ~FakeScheduleClock() { detail::set_schedule_clock_for_testing(nullptr); }
};

TEST_F(BandwidthWorkerTest, ScheduleWindowBoundaryOnAFakeClock) {
  g_fake_now = local_time(1, 8, 59, 59);  // Monday, a second before work hours
  FakeScheduleClock fake;
  auto q = open_queue(db(), test_options());
  ASSERT_FALSE(q->set_bandwidth_limit(700 * 1000));  // outside the windows
  ASSERT_FALSE(q->set_bandwidth_schedule({{kWeekdays, 9, 17, 300 * 1000}, {kSaturday, 0, 24, 0}}));
  Job job = slow_download(*q, "a");
  ASSERT_FALSE(job.resume());
  EXPECT_TRUE(log_.wait_queue_limit(700 * 1000));
  EXPECT_TRUE(log_.wait_share(job, 700 * 1000));
  g_fake_now = local_time(1, 9, 0, 0);
  EXPECT_TRUE(log_.wait_share(job, 300 * 1000));
  g_fake_now = local_time(1, 17, 0, 0);
  EXPECT_TRUE(log_.wait_share(job, 700 * 1000));
  g_fake_now = local_time(6, 10, 0, 0);  // Saturday: no limit
  EXPECT_TRUE(log_.wait_share(job, 0));
  ASSERT_FALSE(job.cancel());
}

// ---- The API ------------------------------------------------------------------

TEST(BandwidthApi, SettingsPersistAcrossReopen) {
  ScratchDir dir;
  std::string id;
  const std::vector<BandwidthWindow> schedule = {{kWeekdays, 9, 17, 1 * M}, {kSunday, 0, 6, 2 * M}};
  {
    QueueOptions o = test_options(false);
    o.bandwidth_limit = 5 * M;
    auto q = open_queue(dir / "q.db", o);
    EXPECT_EQ(*q->bandwidth_limit(), 5 * M);  // the options' default while none is stored
    ASSERT_FALSE(q->set_bandwidth_limit(3 * M));
    ASSERT_FALSE(q->set_priority_bandwidth_limit(JobPriority::low, 1 * M));
    ASSERT_FALSE(q->set_bandwidth_schedule(schedule));
    auto job = q->create_job("j");
    ASSERT_TRUE(job.ok());
    ASSERT_FALSE(job->set_bandwidth_limit(123456));
    id = job->id();
  }
  auto q = open_queue(dir / "q.db", test_options(false));
  EXPECT_EQ(*q->bandwidth_limit(), 3 * M);
  EXPECT_EQ(*q->priority_bandwidth_limit(JobPriority::low), 1 * M);
  EXPECT_EQ(*q->priority_bandwidth_limit(JobPriority::foreground), 0);
  EXPECT_EQ(*q->bandwidth_schedule(), schedule);
  EXPECT_EQ(*q->get_job(id)->bandwidth_limit(), 123456);
  ASSERT_FALSE(q->set_bandwidth_schedule({}));
  EXPECT_TRUE(q->bandwidth_schedule()->empty());
}

TEST(BandwidthApi, BadInputIsRefusedAndChangesNothing) {
  ScratchDir dir;
  auto q = open_queue(dir / "q.db", test_options(false));
  ASSERT_FALSE(q->set_bandwidth_limit(1000));
  const auto invalid = make_error_code(Errc::invalid_arg);
  EXPECT_EQ(q->set_bandwidth_limit(-1), invalid);
  EXPECT_EQ(q->set_bandwidth_limit(kMaxBandwidthLimit + 1), invalid);
  EXPECT_EQ(*q->bandwidth_limit(), 1000);
  EXPECT_EQ(q->set_priority_bandwidth_limit(static_cast<JobPriority>(7), 1), make_error_code(Errc::not_implemented));
  EXPECT_EQ(q->set_priority_bandwidth_limit(JobPriority::high, -5), invalid);
  EXPECT_EQ(*q->priority_bandwidth_limit(JobPriority::high), 0);
  const std::vector<BandwidthWindow> good = {{kMonday, 1, 2, 10}};
  ASSERT_FALSE(q->set_bandwidth_schedule(good));
  for (const BandwidthWindow& bad : std::vector<BandwidthWindow>{{0, 1, 2, 10},      // no day
                                                                 {0x80, 1, 2, 10},   // no such day
                                                                 {kMonday, 5, 5, 10},  // empty
                                                                 {kMonday, 9, 8, 10},  // backwards
                                                                 {kMonday, -1, 8, 10}, {kMonday, 0, 25, 10},
                                                                 {kMonday, 0, 24, -1}})
    EXPECT_EQ(q->set_bandwidth_schedule({good[0], bad}), invalid);
  EXPECT_EQ(q->set_bandwidth_schedule(std::vector<BandwidthWindow>(kMaxBandwidthWindows + 1, good[0])), invalid);
  EXPECT_EQ(*q->bandwidth_schedule(), good);
  auto job = q->create_job("j");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->set_bandwidth_limit(-1), invalid);
  EXPECT_EQ(*job->bandwidth_limit(), 0);
  ASSERT_FALSE(job->cancel());
  EXPECT_EQ(job->set_bandwidth_limit(10), make_error_code(Errc::invalid_state));
}

}  // namespace
}  // namespace xferq::testing
