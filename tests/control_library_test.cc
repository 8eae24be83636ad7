// control_library_test.cc — the control library (engine/CMakeLists.txt) on
// its own: the core without the worker, libcurl or libpq, as the `xferq`
// front links it. Its state calls work on a real queue file; what needs the
// missing parts fails with E_NOTIMPL and changes nothing.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "xferq/xferq.h"

namespace xferq {
namespace {

class ControlLibraryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/xferq-control-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<Queue> open_without_worker() {
    QueueOptions o;
    o.start_worker = false;
    auto q = Queue::open(dir_ + "/queue.db", o);
    EXPECT_TRUE(q) << q.error().message();
    return q ? std::move(*q) : nullptr;
  }
  std::string dir_;
};

TEST_F(ControlLibraryTest, StateCallsWorkOnARealQueue) {
  auto q = open_without_worker();
  ASSERT_TRUE(q);
  auto job = q->create_job("control");
  ASSERT_TRUE(job) << job.error().message();
  EXPECT_FALSE(job->set_priority(JobPriority::high));
  EXPECT_FALSE(job->cancel());
  EXPECT_EQ(*job->state(), JobState::cancelled);
  EXPECT_EQ(job->cancel(), make_error_code(Errc::invalid_state));
}

TEST_F(ControlLibraryTest, NoWorkerNoUrlNoServerQueue) {
  QueueOptions with_worker;
  auto served = Queue::open(dir_ + "/queue.db", with_worker);
  ASSERT_FALSE(served);
  EXPECT_EQ(served.error(), make_error_code(Errc::not_implemented));

  auto q = open_without_worker();
  ASSERT_TRUE(q);
  q->start_worker();
  EXPECT_EQ(q->worker_error(), make_error_code(Errc::not_implemented));
  auto job = q->create_job("no urls");
  ASSERT_TRUE(job);
  EXPECT_EQ(job->add_file("http://127.0.0.1:1/x", dir_ + "/x.bin"), make_error_code(Errc::not_implemented));
  EXPECT_TRUE(job->files()->empty());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/x.bin"));

  QueueOptions o;
  o.start_worker = false;
  auto server = Queue::open("postgresql://127.0.0.1:1/queue", o);
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error(), make_error_code(Errc::not_implemented));
}

}  // namespace
}  // namespace xferq
