// commit_group_test.cc — group commit (storage/commit_group.h): the leader's
// hand-over on its own, then concurrent cancels, suspends and resumes on a
// real queue file sharing commits, each answered and refused on its own.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "clock.h"
#include "state_machine.h"
#include "storage/commit_group.h"
#include "storage/sqlite_store.h"
#include "storage/store.h"
#include "test_util.h"

namespace xferq {
namespace {

using detail::CommitGroup;
using testing::ScratchDir;
using testing::test_options;
using testing::wait_for;
using namespace std::chrono_literals;

// Runs every member's body (a group needs no database to be led); records
// each group's size.
struct Recorder {
  std::mutex mu;
  std::vector<size_t> groups;
  CommitGroup::Run run() {
    return [this](CommitGroup::Group& g) {
      std::vector<CommitGroup::Member*> members = g.members();
      for (size_t i = 0;; ++i) {
        if (i == members.size() && g.take_late(&members) == 0) break;
        members[i]->result = (*members[i]->body)();
      }
      std::lock_guard<std::mutex> lock(mu);
      groups.push_back(members.size());
    };
  }
};

TEST(CommitGroup, EveryWriterIsAnsweredOnceWithItsOwnResult) {
  std::mutex connection;
  CommitGroup group(connection);
  Recorder rec;
  constexpr int kThreads = 8, kCalls = 300;
  std::atomic<int> ran{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        // Odd calls fail with their own code; each must get back exactly it.
        const std::error_code mine =
            (i % 2) ? std::error_code(t * 1000 + i, std::generic_category()) : std::error_code();
        std::function<std::error_code()> body = [&ran, mine] {
          ran.fetch_add(1);
          return mine;
        };
        if (group.join(body, rec.run()) != mine) wrong.fetch_add(1);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(ran.load(), kThreads * kCalls);  // each body ran once
  const auto st = group.stats();
  EXPECT_EQ(st.members, kThreads * kCalls);
  EXPECT_EQ(st.groups, static_cast<int64_t>(rec.groups.size()));
  EXPECT_LE(st.largest, static_cast<int64_t>(CommitGroup::kMaxMembers));
  EXPECT_EQ(group.waiting(), 0u);
}

TEST(CommitGroup, WritersQueuedWhileTheConnectionIsBusyShareOneGroup) {
  std::mutex connection;
  CommitGroup group(connection);
  Recorder rec;
  std::unique_lock<std::mutex> busy(connection);  // another transaction runs
  constexpr int kWriters = 5;
  std::vector<std::thread> threads;
  std::atomic<int> answered{0};
  for (int t = 0; t < kWriters; ++t)
    threads.emplace_back([&] {
      std::function<std::error_code()> body = [] { return std::error_code(); };
      EXPECT_FALSE(group.join(body, rec.run()));
      answered.fetch_add(1);
    });
  ASSERT_TRUE(wait_for([&] { return group.waiting() == kWriters; }));
  EXPECT_EQ(answered.load(), 0);  // nobody runs while the connection is held
  busy.unlock();
  for (auto& th : threads) th.join();
  // The leader took the connection first, then everyone queued: one group.
  ASSERT_EQ(rec.groups.size(), 1u);
  EXPECT_EQ(rec.groups[0], static_cast<size_t>(kWriters));
}

TEST(CommitGroup, ALeaderTakesWritersThatArriveWhileItRuns) {
  std::mutex connection;
  CommitGroup group(connection);
  Recorder rec;
  std::atomic<bool> first_running{false}, release{false};
  std::function<std::error_code()> slow = [&] {
    first_running = true;
    while (!release) std::this_thread::sleep_for(1ms);
    return std::error_code();
  };
  std::function<std::error_code()> quick = [] { return std::error_code(); };
  std::thread leader([&] { EXPECT_FALSE(group.join(slow, rec.run())); });
  ASSERT_TRUE(wait_for([&] { return first_running.load(); }));
  std::thread late([&] { EXPECT_FALSE(group.join(quick, rec.run())); });
  ASSERT_TRUE(wait_for([&] { return group.waiting() == 2; }));
  release = true;
  leader.join();
  late.join();
  // The late writer ran in the leader's group, before its commit.
  ASSERT_EQ(rec.groups.size(), 1u);
  EXPECT_EQ(rec.groups[0], 2u);
}

// ---- On a real queue file ---------------------------------------------------

class GroupedCalls : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = detail::Store::open(db_, test_options(false));
    ASSERT_TRUE(s.ok()) << s.error().message();
    store_ = std::move(*s);
    sqlite_ = dynamic_cast<detail::SqliteStore*>(store_.get());
    ASSERT_NE(sqlite_, nullptr);
  }
  std::string make_job(int i) {
    char id[64];
    std::snprintf(id, sizeof id, "{00000000-0000-0000-0000-%012d}", i);
    EXPECT_FALSE(store_->create_job(id, "job", JobType::download, detail::now_us()));
    return id;
  }
  int64_t count(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    int64_t n = -1;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }
  JobState state(const std::string& id) {
    auto s = store_->job_state(id);
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : JobState::error;
  }

  // Another connection holding the write lock (after running `setup`, if
  // any): calls queue behind it until COMMIT, then commit as one group.
  sqlite3* hold_write_lock(const std::string& setup = "") {
    sqlite3* other = nullptr;
    EXPECT_EQ(sqlite3_open(db_.c_str(), &other), SQLITE_OK);
    if (!setup.empty()) {
      EXPECT_EQ(sqlite3_exec(other, setup.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << setup;
    }
    EXPECT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    return other;
  }
  // Each call's answer, by name, from any thread.
  struct Answers {
    std::mutex mu;
    std::map<std::string, std::error_code> got;
    void set(const std::string& what, std::error_code ec) {
      std::lock_guard<std::mutex> lock(mu);
      got[what] = ec;
    }
  };
  // A cancel whose answer goes to `answers`, under the job's id.
  void cancel_into(Answers& answers, const std::string& id, bool with_paths) {
    answers.set(id, store_->cancel(id, detail::now_us(), with_paths).error());
  }

  ScratchDir dir_;
  std::string db_ = dir_ / "q.db";
  std::unique_ptr<detail::Store> store_;
  detail::SqliteStore* sqlite_ = nullptr;
};

// Another connection holds the write lock while calls queue up behind the
// first; once it lets go, the calls commit together, and each gets its own
// answer: a cancel, a refused cancel (the job is cancelled already by the
// call ahead of it), an unknown job, a refused resume (no files), a suspend.
TEST_F(GroupedCalls, QueuedCallsShareACommitAndAreRefusedEachOnItsOwn) {
  const std::string a = make_job(1), b = make_job(2), c = make_job(3), d = make_job(4);
  sqlite3* other = hold_write_lock();
  Answers answers;
  auto& got = answers.got;
  auto record = [&](const std::string& what, std::error_code ec) { answers.set(what, ec); };
  std::vector<std::thread> threads;
  // The first becomes the leader and waits in BEGIN IMMEDIATE for the lock.
  threads.emplace_back([&] { record("cancel a", store_->cancel(a, detail::now_us(), false).error()); });
  ASSERT_TRUE(wait_for([&] { return sqlite_->commits_waiting() == 1; }));
  std::this_thread::sleep_for(50ms);
  threads.emplace_back([&] { record("cancel b", store_->cancel(b, detail::now_us(), false).error()); });
  threads.emplace_back([&] { record("cancel a again", store_->cancel(a, detail::now_us(), false).error()); });
  threads.emplace_back(
      [&] { record("cancel unknown", store_->cancel("{no-such-job}", detail::now_us(), false).error()); });
  threads.emplace_back([&] {
    detail::Decision decision;
    record("resume c", store_->apply_call(c, detail::Call::resume, detail::now_us(), &decision));
  });
  threads.emplace_back([&] {
    detail::Decision decision;
    record("suspend d", store_->apply_call(d, detail::Call::suspend, detail::now_us(), &decision));
  });
  ASSERT_TRUE(wait_for([&] { return sqlite_->commits_waiting() == 6; }));
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  for (auto& th : threads) th.join();

  EXPECT_FALSE(got["cancel a"]);
  EXPECT_FALSE(got["cancel b"]);
  // Queued behind "cancel a", whichever group it ran in.
  EXPECT_EQ(got["cancel a again"], make_error_code(Errc::invalid_state));
  EXPECT_EQ(got["cancel unknown"], make_error_code(Errc::not_found));
  EXPECT_EQ(got["resume c"], make_error_code(Errc::empty));
  EXPECT_FALSE(got["suspend d"]);  // already SUSPENDED: accepted, nothing changes
  EXPECT_EQ(state(a), JobState::cancelled);
  EXPECT_EQ(state(b), JobState::cancelled);
  EXPECT_EQ(state(c), JobState::suspended);
  EXPECT_EQ(state(d), JobState::suspended);
  // One deletion enqueued per accepted cancel, none for the refused ones.
  EXPECT_EQ(count("SELECT count(*) FROM file_ops WHERE kind = 1"), 2);
  const auto st = sqlite_->commit_stats();
  EXPECT_EQ(st.members, 6);
  // The first, once it had the lock, took the five queued behind it as late
  // members: one commit for all six.
  EXPECT_EQ(st.groups, 1);
  EXPECT_EQ(st.largest, 6);
}

// Eight threads cancel, suspend and resume overlapping jobs: every job is
// cancelled by exactly one successful call, the others are refused, and the
// outbox holds exactly one deletion per cancelled job.
TEST_F(GroupedCalls, ConcurrentCallsOnOverlappingJobs) {
  constexpr int kJobs = 200, kThreads = 8;
  std::vector<std::string> ids;
  for (int i = 0; i < kJobs; ++i) ids.push_back(make_job(100 + i));
  std::vector<std::atomic<int>> cancelled(kJobs);
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < kJobs; ++k) {
        const int i = (k * 7 + t * 13) % kJobs;  // each thread visits every job, in its own order
        detail::Decision decision;
        if (t % 4 == 3) {
          const std::error_code ec = store_->apply_call(ids[i], detail::Call::suspend, detail::now_us(), &decision);
          if (ec && ec != make_error_code(Errc::invalid_state)) unexpected.fetch_add(1);
          continue;
        }
        const std::error_code ec = store_->cancel(ids[i], detail::now_us(), t % 2 == 0).error();
        if (!ec)
          cancelled[i].fetch_add(1);
        else if (ec != make_error_code(Errc::invalid_state))
          unexpected.fetch_add(1);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(unexpected.load(), 0);
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_EQ(cancelled[i].load(), 1) << ids[i];
    EXPECT_EQ(state(ids[i]), JobState::cancelled) << ids[i];
  }
  EXPECT_EQ(count("SELECT count(*) FROM file_ops WHERE kind = 1"), kJobs);
  EXPECT_EQ(count("SELECT count(DISTINCT job_id) FROM file_ops WHERE kind = 1"), kJobs);
  EXPECT_EQ(sqlite_->commits_waiting(), 0u);
}


// A shared transaction that cannot be written: the members queue behind
// another connection's write lock; once they share one transaction, the
// process may no longer write to any file (RLIMIT_FSIZE 0, as a full disk),
// so its COMMIT's WAL append fails. Every member that stood in it is answered
// with the database's error and nothing of theirs is left: no state changed,
// no outbox row. (SQLite reports EFBIG as SQLITE_IOERR_WRITE, the engine's
// `database`; only ENOSPC is SQLITE_FULL, which no test can cause without a
// filesystem of its own.)
// A member refused on its own keeps its own answer. Once the disk has room,
// the same calls succeed on the same connection.
TEST_F(GroupedCalls, ACommitThatCannotBeWrittenFailsEveryMemberAndChangesNothing) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(make_job(500 + i));
  sqlite3* other = hold_write_lock();
  Answers answers;
  auto& got = answers.got;
  auto cancel = [&](const std::string& id, bool with_paths) { cancel_into(answers, id, with_paths); };
  std::vector<std::thread> threads;
  threads.emplace_back(cancel, ids[0], false);
  ASSERT_TRUE(wait_for([&] { return sqlite_->commits_waiting() == 1; }));
  for (size_t i = 1; i < ids.size(); ++i) threads.emplace_back(cancel, ids[i], i % 2 == 0);
  threads.emplace_back(cancel, "{no-such-job}", false);
  ASSERT_TRUE(wait_for([&] { return sqlite_->commits_waiting() == ids.size() + 1; }));

  ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  struct rlimit none = old;
  none.rlim_cur = 0;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &none), 0);
  // Nothing changed under this lock: its COMMIT writes nothing.
  const int released = sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
  for (auto& th : threads) th.join();
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, SIG_DFL);
  sqlite3_close(other);
  ASSERT_EQ(released, SQLITE_OK);

  const auto st = sqlite_->commit_stats();
  ASSERT_EQ(st.groups, 1) << "the calls did not share one transaction";
  EXPECT_EQ(st.largest, static_cast<int64_t>(ids.size() + 1));
  for (const std::string& id : ids) {
    EXPECT_EQ(got[id], make_error_code(Errc::database)) << id << ": " << got[id].message();
    EXPECT_EQ(state(id), JobState::suspended) << id;
  }
  EXPECT_EQ(got["{no-such-job}"], make_error_code(Errc::not_found));
  EXPECT_EQ(count("SELECT count(*) FROM file_ops WHERE kind != 0"), 0);

  for (const std::string& id : ids) {
    EXPECT_FALSE(store_->cancel(id, detail::now_us(), false).error()) << id;
    EXPECT_EQ(state(id), JobState::cancelled) << id;
  }
  EXPECT_EQ(count("SELECT count(*) FROM file_ops WHERE kind = 1"), static_cast<int64_t>(ids.size()));
  EXPECT_EQ(count("SELECT count(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'"), 0);
}


// SQLite itself rolls the shared transaction back in the middle of a group: a
// trigger (added by the test) answers one member's UPDATE with
// RAISE(ROLLBACK), which ends the whole transaction, not only that member's
// savepoint. The members before it lost their writes without being told:
// they must run again and succeed; the members after it run too; the one
// that failed gets its error and changes nothing.
TEST_F(GroupedCalls, AMemberThatMakesSQLiteRollBackEverythingLeavesTheOthersToRunAgain) {
  const std::string a = make_job(601), b = make_job(602), bad = make_job(603), c = make_job(604), d = make_job(605);
  sqlite3* other = hold_write_lock("CREATE TRIGGER test_rollback BEFORE UPDATE ON jobs WHEN old.id = '" + bad +
                                    "' BEGIN SELECT RAISE(ROLLBACK, 'test: roll back everything'); END");
  Answers answers;
  auto& got = answers.got;
  // In this order: the leader first, then each one queued behind the last.
  std::vector<std::thread> threads;
  size_t queued = 0;
  for (const std::string& id : {a, b, bad, c, d}) {
    threads.emplace_back([&, id] { cancel_into(answers, id, false); });
    ++queued;
    ASSERT_TRUE(wait_for([&] { return sqlite_->commits_waiting() == queued; }));
  }
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  for (auto& th : threads) th.join();
  sqlite3_close(other);

  for (const std::string& id : {a, b, c, d}) {
    EXPECT_FALSE(got[id]) << id << ": " << got[id].message();
    EXPECT_EQ(state(id), JobState::cancelled) << id;
  }
  EXPECT_EQ(got[bad], make_error_code(Errc::database)) << got[bad].message();
  EXPECT_EQ(state(bad), JobState::suspended);
  EXPECT_EQ(count("SELECT count(*) FROM file_ops WHERE kind = 1"), 4);
  EXPECT_EQ(count("SELECT count(*) FROM file_ops WHERE kind = 1 AND job_id = '" + bad + "'"), 0);
  EXPECT_EQ(sqlite_->commits_waiting(), 0u);
}

}  // namespace
}  // namespace xferq
