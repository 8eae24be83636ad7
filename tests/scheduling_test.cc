// scheduling_test.cc — preemption and round-robin time slices with real
// transfers: a real SQLite queue, the fixture server's throttled resources
// (so transfers stay running while the test acts) and its request log (which
// shows who was preempted and how each one resumed). No timing assertions:
// every wait is for a state or an event, with a generous bound.
#include <algorithm>
#include <atomic>
#include <mutex>

#include "test_util.h"

namespace xferq::testing {
namespace {

class Scheduling : public ::testing::Test {
 protected:
  // One slot, so that every runnable job competes for it.
  void open(std::chrono::milliseconds time_slice) {
    auto o = test_options(true);
    o.max_concurrent_transfers = 1;
    o.time_slice = time_slice;
    queue_ = open_queue(dir_ / "queue.db", o);
    ASSERT_TRUE(queue_);
  }
  Job download(const std::string& path, const std::string& name, JobPriority priority, bool resume = true) {
    auto job = queue_->create_job("scheduling " + name);
    EXPECT_TRUE(job.ok());
    EXPECT_FALSE(job->add_file(server_.url(path), dir_ / name));
    EXPECT_FALSE(job->set_priority(priority));
    if (resume) {
      EXPECT_FALSE(job->resume());
    }
    return *job;
  }
  int64_t bytes(const Job& job) {
    auto p = job.progress();
    return p.ok() ? p->bytes_transferred : -1;
  }
  // Completes the job and checks its file against the server's body.
  void complete_and_compare(Job& job, const std::string& name, const std::string& body) {
    ASSERT_TRUE(wait_state(job, JobState::transferred, std::chrono::seconds(60))) << state_name(job);
    ASSERT_FALSE(job.complete());
    EXPECT_EQ(file_content_hash(dir_ / name), content_hash(body)) << name;
  }
  // The Range requests for `path`, in order ("bytes=N-").
  std::vector<RequestRecord> ranged(const std::string& path) {
    std::vector<RequestRecord> out;
    for (const RequestRecord& r : server_.requests_for(path))
      if (!r.range.empty()) out.push_back(r);
    return out;
  }

  ScratchDir dir_;
  FixtureServer server_;
  std::unique_ptr<Queue> queue_;
};

int64_t range_start(const RequestRecord& r) { return std::stoll(r.range.substr(r.range.find('=') + 1)); }

TEST_F(Scheduling, ForegroundPreemptsLowWhichResumesWithRange) {
  open(std::chrono::milliseconds(0));  // preemption alone, no slices
  const std::string low_body = make_body(1536 * 1024, 71), fg_body = make_body(256 * 1024, 72);
  server_.set("/low", body_resource(low_body, 512 * 1024));  // ~3 s
  server_.set("/fg", body_resource(fg_body, 256 * 1024));    // ~1 s
  Job low = download("/low", "low.bin", JobPriority::low);
  ASSERT_TRUE(wait_for([&] { return bytes(low) > 0; })) << state_name(low);
  Job fg = download("/fg", "fg.bin", JobPriority::foreground);
  // The LOW job makes way: back to QUEUED with its bytes committed.
  ASSERT_TRUE(wait_state(low, JobState::queued)) << state_name(low);
  const int64_t kept = bytes(low);
  EXPECT_GT(kept, 0);
  ASSERT_TRUE(wait_state(fg, JobState::transferred, std::chrono::seconds(30))) << state_name(fg);
  EXPECT_NE(state_name(low), "TRANSFERRED");  // it waited for the FOREGROUND job
  complete_and_compare(low, "low.bin", low_body);
  complete_and_compare(fg, "fg.bin", fg_body);
  // It resumed from exactly what it had committed, with If-Range.
  const auto resumed = ranged("/low");
  ASSERT_FALSE(resumed.empty());
  EXPECT_EQ(range_start(resumed.front()), kept);
  EXPECT_EQ(resumed.front().if_range, "\"v1\"");
  EXPECT_EQ(resumed.front().status, 206);
  EXPECT_EQ(server_.requests_for("/fg").size(), 1u);  // the FOREGROUND job was never interrupted
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

TEST_F(Scheduling, PreemptedJobKeepsItsPlaceInItsPriority) {
  open(std::chrono::milliseconds(0));
  const std::string a_body = make_body(768 * 1024, 121), b_body = make_body(64 * 1024, 122),
                    f_body = make_body(128 * 1024, 123);
  server_.set("/a", body_resource(a_body, 512 * 1024));
  server_.set("/b", body_resource(b_body));
  server_.set("/f", body_resource(f_body, 256 * 1024));
  Job a = download("/a", "a.bin", JobPriority::low);
  ASSERT_TRUE(wait_for([&] { return bytes(a) > 0; })) << state_name(a);
  Job b = download("/b", "b.bin", JobPriority::low);  // queued after A
  Job f = download("/f", "f.bin", JobPriority::foreground);
  ASSERT_TRUE(wait_state(a, JobState::queued)) << state_name(a);
  complete_and_compare(a, "a.bin", a_body);
  complete_and_compare(b, "b.bin", b_body);
  complete_and_compare(f, "f.bin", f_body);
  // The log: a, f, a (Range), then b — A resumed before B ever started.
  std::vector<std::string> order;
  for (const RequestRecord& r : server_.requests()) order.push_back(r.path + (r.range.empty() ? "" : "+range"));
  EXPECT_EQ(order, (std::vector<std::string>{"/a", "/f", "/a+range", "/b"}));
}

TEST_F(Scheduling, EqualOrLowerPriorityNeverPreempts) {
  open(std::chrono::milliseconds(0));
  const std::string a_body = make_body(1024 * 1024, 81), small = make_body(64 * 1024, 82);
  server_.set("/a", body_resource(a_body, 512 * 1024));  // ~2 s
  server_.set("/s", body_resource(small));
  Job a = download("/a", "a.bin", JobPriority::normal);
  ASSERT_TRUE(wait_for([&] { return bytes(a) > 0; })) << state_name(a);
  Job same = download("/s", "same.bin", JobPriority::normal);
  Job worse = download("/s", "worse.bin", JobPriority::low);
  // While A runs, neither the equal nor the worse job gets its slot.
  // (Read the waiting jobs first: if A is still running after, it was
  // running when they were read, so they must have been QUEUED.)
  for (;;) {
    const std::string s = state_name(same), w = state_name(worse), x = state_name(a);
    if (x == "TRANSFERRED") break;
    ASSERT_TRUE(x == "CONNECTING" || x == "TRANSFERRING") << x;
    ASSERT_EQ(s, "QUEUED");
    ASSERT_EQ(w, "QUEUED");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(server_.requests_for("/a").size(), 1u);  // never interrupted
  EXPECT_TRUE(ranged("/a").empty());
  complete_and_compare(same, "same.bin", small);
  complete_and_compare(worse, "worse.bin", small);
  complete_and_compare(a, "a.bin", a_body);
}

TEST_F(Scheduling, EqualPrioritiesTakeTurnsInTimeSlices) {
  open(std::chrono::milliseconds(0));
  // Set while open: the worker plans with the new length from its next turn.
  EXPECT_EQ(queue_->set_time_slice(std::chrono::milliseconds(-1)), make_error_code(Errc::invalid_arg));
  ASSERT_FALSE(queue_->set_time_slice(std::chrono::milliseconds(300)));
  EXPECT_EQ(queue_->time_slice(), std::chrono::milliseconds(300));
  const std::string a_body = make_body(1024 * 1024, 91), b_body = make_body(1024 * 1024, 92);
  server_.set("/a", body_resource(a_body, 384 * 1024));  // ~2.7 s each
  server_.set("/b", body_resource(b_body, 384 * 1024));
  Job a = download("/a", "a.bin", JobPriority::normal);
  Job b = download("/b", "b.bin", JobPriority::normal);
  complete_and_compare(a, "a.bin", a_body);
  complete_and_compare(b, "b.bin", b_body);
  // Both resumed with Range after giving the slot up...
  EXPECT_FALSE(ranged("/a").empty());
  EXPECT_FALSE(ranged("/b").empty());
  for (const char* p : {"/a", "/b"})
    for (const RequestRecord& r : ranged(p)) {
      EXPECT_EQ(r.status, 206) << p << " " << r.range;
      EXPECT_GT(range_start(r), 0) << p;
    }
  // ...and they alternated: the log goes a, b, a (or b, a, b) at least, so
  // both made progress before either finished.
  std::vector<std::string> turns;
  for (const RequestRecord& r : server_.requests())
    if (turns.empty() || turns.back() != r.path) turns.push_back(r.path);
  EXPECT_GE(turns.size(), 3u);
}

TEST_F(Scheduling, CancelRacingAPreemptionLeavesNoTempFileAndNoWrongState) {
  open(std::chrono::milliseconds(0));
  const std::string low_body = make_body(1024 * 1024, 101), fg_body = make_body(128 * 1024, 102);
  server_.set("/low", body_resource(low_body, 1024 * 1024));
  server_.set("/fg", body_resource(fg_body, 512 * 1024));
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE(round);
    server_.clear_log();
    const std::string low_name = "low" + std::to_string(round), fg_name = "fg" + std::to_string(round);
    Job low = download("/low", low_name, JobPriority::low);
    ASSERT_TRUE(wait_for([&] { return bytes(low) > 0; })) << state_name(low);
    Job fg = download("/fg", fg_name, JobPriority::foreground);
    if (round % 2 == 0) {
      // The FOREGROUND job is cancelled as it preempts: the LOW job goes on.
      ASSERT_FALSE(fg.cancel());
      EXPECT_EQ(state_name(fg), "CANCELLED");
      complete_and_compare(low, low_name, low_body);
    } else {
      // The preempted job is cancelled as it makes way: FOREGROUND goes on.
      ASSERT_FALSE(low.cancel());
      EXPECT_EQ(state_name(low), "CANCELLED");
      complete_and_compare(fg, fg_name, fg_body);
    }
    // Nothing left behind, and the cancelled job stays cancelled.
    EXPECT_TRUE(wait_for([&] { return temp_files_in(dir_.path()).empty(); }));
    EXPECT_EQ(state_name(round % 2 == 0 ? fg : low), "CANCELLED");
    EXPECT_FALSE(exists(dir_ / (round % 2 == 0 ? fg_name : low_name)));
  }
}

TEST_F(Scheduling, PreemptionWithEverySlotBusyKeepsAllBytes) {
  // Two slots, both LOW; two FOREGROUND jobs take both, and every LOW file
  // still ends byte-identical after its Range resume.
  auto o = test_options(true);
  o.max_concurrent_transfers = 2;
  o.time_slice = std::chrono::milliseconds(0);
  queue_ = open_queue(dir_ / "queue.db", o);
  ASSERT_TRUE(queue_);
  const std::string l1 = make_body(1024 * 1024, 111), l2 = make_body(1024 * 1024 + 3, 112),
                    f = make_body(200 * 1024, 113);
  server_.set("/l1", body_resource(l1, 512 * 1024));
  server_.set("/l2", body_resource(l2, 512 * 1024));
  server_.set("/f", body_resource(f, 400 * 1024));
  Job a = download("/l1", "l1.bin", JobPriority::low);
  Job b = download("/l2", "l2.bin", JobPriority::low);
  ASSERT_TRUE(wait_for([&] { return bytes(a) > 0 && bytes(b) > 0; }));
  Job f1 = download("/f", "f1.bin", JobPriority::foreground);
  Job f2 = download("/f", "f2.bin", JobPriority::high);
  ASSERT_TRUE(wait_for([&] { return state_name(a) == "QUEUED" && state_name(b) == "QUEUED"; }))
      << state_name(a) << " " << state_name(b);
  complete_and_compare(f1, "f1.bin", f);
  complete_and_compare(f2, "f2.bin", f);
  complete_and_compare(a, "l1.bin", l1);
  complete_and_compare(b, "l2.bin", l2);
  EXPECT_FALSE(ranged("/l1").empty());
  EXPECT_FALSE(ranged("/l2").empty());
}

}  // namespace
}  // namespace xferq::testing
