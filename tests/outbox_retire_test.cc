// outbox_retire_test.cc — a refused call must not lose the retirement of a
// finished file operation; a reopen must never take a final job back.
#include <SQLiteCpp/SQLiteCpp.h>

#include <chrono>
#include <thread>
#include <utility>
#include <vector>

#include "test_util.h"

namespace xferq::testing {
namespace {

int outbox_rows(const std::string& db) {
  SQLite::Database raw(db, SQLite::OPEN_READWRITE);
  return raw.execAndGet("SELECT count(*) FROM file_ops WHERE kind != 0").getInt();
}

TEST(OutboxRetire, RefusedCallAfterCompleteKeepsTheOpRetiredAndReopenKeepsAcknowledged) {
  ScratchDir dir;
  FixtureServer server;
  const std::string body = make_body(50000, 5);
  server.set("/a", body_resource(body));
  const std::string db = dir / "queue.db";
  auto queue = open_queue(db, test_options(true));
  ASSERT_TRUE(queue);
  auto job = queue->create_job("done");
  ASSERT_TRUE(job.ok());
  ASSERT_FALSE(job->add_file(server.url("/a"), dir / "a.bin"));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transferred)) << state_name(*job);
  // Without a worker nothing else flushes retired operations.
  queue->stop_worker();

  ASSERT_FALSE(job->complete());
  ASSERT_EQ(file_content_hash(dir / "a.bin"), content_hash(body));
  // A refused call: its transaction deletes the retired rows, then rolls back.
  EXPECT_EQ(job->cancel(), make_error_code(Errc::invalid_state));
  EXPECT_TRUE(queue->create_job("next write").ok());  // carries the retirement
  EXPECT_EQ(outbox_rows(db), 0) << "pending_file_ops still shows the rename that was done";

  // The application takes its file away; later the queue is reopened.
  ASSERT_EQ(::unlink((dir / "a.bin").c_str()), 0);
  queue.reset();
  queue = open_queue(db, test_options(false));
  ASSERT_TRUE(queue);
  auto again = queue->get_job(job->id());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again->state(), JobState::acknowledged) << "a final job changed state: " << state_name(*again);
}

// Recovery of a Complete whose temp file vanished keeps the job ACKNOWLEDGED.
TEST(OutboxRetire, RecoveryNeverRevertsACommittedComplete) {
  ScratchDir dir;
  FixtureServer server;
  server.set("/b", body_resource(make_body(1000, 6)));
  const std::string db = dir / "queue.db";
  std::string id;
  {
    auto queue = open_queue(db, test_options(true));
    auto job = queue->create_job("crashed complete");
    ASSERT_FALSE(job->add_file(server.url("/b"), dir / "b.bin"));
    ASSERT_FALSE(job->resume());
    ASSERT_TRUE(wait_state(*job, JobState::transferred));
    id = job->id();
    const std::string temp = (*job->files())[0].temp_path;
    queue.reset();
    // What Complete's transaction commits before a crash, and the temp file lost.
    SQLite::Database raw(db, SQLite::OPEN_READWRITE);
    SQLite::Statement up(raw, "UPDATE jobs SET state = 7, generation = generation + 1 WHERE id = ?");
    up.bind(1, id);
    up.exec();
    SQLite::Statement ins(raw, "INSERT INTO file_ops (job_id, kind, created_us, previous_state) VALUES (?, 2, 0, 6)");
    ins.bind(1, id);
    ins.exec();
    ASSERT_EQ(::unlink(temp.c_str()), 0);
  }
  auto queue = open_queue(db, test_options(false));
  EXPECT_EQ(*queue->get_job(id)->state(), JobState::acknowledged);
  EXPECT_EQ(outbox_rows(db), 0);
}

// Retired rows ride along with the next write; when none comes, the worker
// writes them itself on its next turn (it wakes at least every poll
// interval), so the outbox a reader sees empties without any other call.
TEST(OutboxRetire, TheWorkerWritesRetiredRowsWhenNoOtherWriteComes) {
  ScratchDir dir;
  const std::string db = dir / "queue.db";
  auto queue = open_queue(db, test_options(true));
  ASSERT_TRUE(queue);
  std::vector<Job> jobs;
  for (int i = 0; i < 5; ++i) {
    auto job = queue->create_job("idle " + std::to_string(i));
    ASSERT_TRUE(job.ok());
    jobs.push_back(*job);
  }
  for (Job& job : jobs) ASSERT_FALSE(job.cancel());
  // Nothing more is written through the API from here on.
  EXPECT_TRUE(wait_for([&] { return outbox_rows(db) == 0; }, std::chrono::milliseconds(3000)))
      << outbox_rows(db) << " rows still pending with the worker running";
}

// schema/016: the outbox has no AUTOINCREMENT counter, so the row holding the
// highest id is never deleted. When its operation is done it becomes a
// tombstone, which the next insert (taking the id above) deletes; an id is
// never handed out twice, and the table does not grow.
TEST(OutboxRetire, TheHighestIdIsKeptAsATombstoneAndNeverHandedOutAgain) {
  ScratchDir dir;
  const std::string db = dir / "queue.db";
  auto queue = open_queue(db, test_options(false));
  ASSERT_TRUE(queue);
  auto rows = [&] {
    SQLite::Database raw(db, SQLite::OPEN_READONLY);
    SQLite::Statement s(raw, "SELECT id, kind FROM file_ops ORDER BY id");
    std::vector<std::pair<int64_t, int>> out;
    while (s.executeStep()) out.emplace_back(s.getColumn(0).getInt64(), s.getColumn(1).getInt());
    return out;
  };
  // The janitor retires an in-call cancel's row once the directory is synced;
  // retired rows go with the next write. Writes until the outbox shows `want`.
  auto writes_until = [&](const std::vector<std::pair<int64_t, int>>& want) {
    for (int i = 0; i < 500 && rows() != want; ++i) {
      if (!queue->create_job("write").ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return rows();
  };
  auto first = queue->create_job("first");
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->cancel());  // its deletions done in the call: retired, deleted with the next write
  auto before = rows();
  ASSERT_EQ(before.size(), 1u);
  const int64_t id = before[0].first;
  EXPECT_EQ(before[0].second, 1);

  auto second = queue->create_job("second");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(writes_until({{id, 0}}), (std::vector<std::pair<int64_t, int>>{{id, 0}}))
      << "the highest id's row was not kept as a tombstone";
  EXPECT_EQ(outbox_rows(db), 0);

  ASSERT_FALSE(second->cancel());
  EXPECT_EQ(rows(), (std::vector<std::pair<int64_t, int>>{{id + 1, 1}}))
      << "the new row must take the next id and delete the tombstone below it";
  for (int i = 0; i < 20; ++i) {
    auto more = queue->create_job("more");
    ASSERT_TRUE(more.ok());
    ASSERT_FALSE(more->cancel());
  }
  EXPECT_EQ(writes_until({{id + 21, 0}}), (std::vector<std::pair<int64_t, int>>{{id + 21, 0}}));
}

}  // namespace
}  // namespace xferq::testing
