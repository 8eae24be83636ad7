// pg_upload_test.cc — UPLOAD and UPLOAD_REPLY jobs on the PostgreSQL backend
// against BitsUploadServer (the BITS upload protocol): a whole upload, a
// restart mid-upload that continues the same session, Cancel mid-upload (the
// Cancel-Session the outbox owes the server), and an upload-reply's reply.
#include <pqxx/pqxx>

#include "bits_upload_server.h"
#include "pg_fixture.h"
#include "reply_targets.h"
#include "test_util.h"

namespace xferq::testing {
namespace {

constexpr int64_t kFragment = 64 * 1024;

class PgUpload : public ::testing::Test {
 protected:
  void SetUp() override {
    XFERQ_PG_CLUSTER_OR_SKIP(cluster);
    url_ = cluster->create_database();
  }
  static QueueOptions options() {
    QueueOptions o = test_options();
    o.upload_fragment_bytes = kFragment;
    o.cancel_session_retry_interval = std::chrono::milliseconds(50);
    return o;
  }
  std::string make_source(const std::string& name, size_t n, uint32_t seed = 7) {
    const std::string path = dir_ / name;
    data_ = make_body(n, seed);
    write_file(path, data_);
    return path;
  }
  Job new_job(Queue& q, JobType type, const std::string& remote, const std::string& local) {
    auto job = q.create_job("up", type);
    EXPECT_TRUE(job.ok()) << job.error().message();
    EXPECT_FALSE(job->add_file(server_.url(remote), local));
    return *job;
  }
  int64_t outbox_rows() {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    return tx.exec1("SELECT count(*) FROM file_ops")[0].as<int64_t>();
  }

  ScratchDir dir_;
  BitsUploadServer server_;
  std::string url_;
  std::string data_;
};

TEST_F(PgUpload, UploadCompletesByteIdentical) {
  auto q = open_queue(url_, options());
  const std::string src = make_source("a.bin", 300 * 1000 + 17);
  Job job = new_job(*q, JobType::upload, "/up/a.bin", src);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  std::string got;
  ASSERT_TRUE(server_.uploaded("/up/a.bin", &got));
  EXPECT_EQ(content_hash(got), content_hash(data_));
  EXPECT_EQ(job.progress()->bytes_transferred, static_cast<int64_t>(data_.size()));
  const BitsCounters c = server_.counters();
  EXPECT_EQ(c.create_sessions, 1);
  EXPECT_EQ(c.close_sessions, 1);
  EXPECT_EQ(c.fragment_bytes, static_cast<long long>(data_.size()));
  CompleteStatus status = CompleteStatus::partial;
  EXPECT_FALSE(job.complete(&status));
  EXPECT_EQ(status, CompleteStatus::all_files);
  EXPECT_EQ(read_file(src), data_);  // the source is never touched
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

TEST_F(PgUpload, RestartMidUploadContinuesTheSession) {
  const std::string src = make_source("big.bin", 1024 * 1024 + 5);
  server_.set_fragment_delay_ms(30);
  std::string id;
  {
    auto q = open_queue(url_, options());
    Job job = new_job(*q, JobType::upload, "/up/big.bin", src);
    id = job.id();
    ASSERT_FALSE(job.resume());
    ASSERT_TRUE(wait_for([&] { return server_.counters().fragments >= 5; }));
  }  // the queue closes mid-upload
  auto q = open_queue(url_, options());
  auto job = q->get_job(id);
  ASSERT_TRUE(job.ok());
  EXPECT_GE(job->progress()->bytes_transferred, 4 * kFragment);
  ASSERT_TRUE(wait_state(*job, JobState::transferred, std::chrono::milliseconds(20000))) << state_name(*job);
  std::string got;
  ASSERT_TRUE(server_.uploaded("/up/big.bin", &got));
  EXPECT_EQ(content_hash(got), content_hash(data_));
  EXPECT_EQ(server_.counters().create_sessions, 1) << "a restart continues the same session";
  EXPECT_LE(server_.counters().fragment_bytes, static_cast<long long>(data_.size()) + kFragment);
  EXPECT_FALSE(job->complete());
}

TEST_F(PgUpload, CancelMidUploadDeletesServerPartial) {
  const std::string src = make_source("c.bin", 1024 * 1024);
  server_.set_fragment_delay_ms(20);
  auto q = open_queue(url_, options());
  Job job = new_job(*q, JobType::upload, "/up/c.bin", src);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] { return server_.counters().fragments >= 3; }));
  ASSERT_EQ(server_.open_sessions(), 1u);
  ASSERT_FALSE(job.cancel());
  EXPECT_EQ(state_name(job), "CANCELLED");
  ASSERT_TRUE(wait_for([&] { return server_.counters().cancel_sessions == 1 && server_.open_sessions() == 0; }));
  EXPECT_FALSE(server_.uploaded("/up/c.bin", nullptr));
  // The worker retires the row once the server's answer is in (a moment
  // after the server counted it), and deletes it with its next write.
  EXPECT_TRUE(wait_for([&] { return outbox_rows() == 0; }));
  EXPECT_EQ(read_file(src), data_);
}

TEST_F(PgUpload, UploadReplyReturnsReply) {
  server_.set_reply(true);
  auto q = open_queue(url_, options());
  const std::string src = make_source("r.bin", 200 * 1000 + 3);
  Job job = new_job(*q, JobType::upload_reply, "/app/r", src);
  EXPECT_EQ(*job.reply_file_name(), src + ".reply");  // the default
  const std::string reply_path = dir_ / "answer.txt";
  ASSERT_FALSE(job.set_reply_file_name(reply_path));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  EXPECT_EQ(server_.counters().reply_gets, 1);
  EXPECT_FALSE(exists(reply_path)) << "the reply appears only at complete()";
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(reply_path), BitsUploadServer::reply_for(data_));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

TEST_F(PgUpload, AReplyTargetIsClaimedLikeADownloadsPath) {
  auto q = open_queue(url_, options());
  expect_reply_targets_are_claimed(*q, dir_);
}

}  // namespace
}  // namespace xferq::testing
