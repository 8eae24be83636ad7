// checkpointer_test.cc — the store's WAL checkpoints, left to a thread of its
// own (storage/sqlite_checkpointer.h): the WAL stays bounded while callers
// commit, and once the thread falls far behind (a disk slow to sync, made
// slow on demand here by SyncGateVfs), a committing caller waits for it.
#include <SQLiteCpp/SQLiteCpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "storage/sqlite_checkpointer.h"
#include "sync_gate_vfs.h"
#include "test_util.h"

namespace xferq::testing {
namespace {

using detail::SqliteCheckpointer;

// Frames in a WAL file of 4 KiB pages (a 32-byte header, 24 bytes a frame).
int64_t wal_frames(const std::string& db) {
  struct stat st {};
  if (::stat((db + "-wal").c_str(), &st) != 0) return 0;
  return std::max<int64_t>(0, (st.st_size - 32) / (4096 + 24));
}

// The store's connection leaves checkpoints to a thread of its own
// (sqlite_checkpointer.h): with SQLite's automatic checkpoint off, only that
// thread keeps the WAL from growing with every commit.
TEST(WalCheckpoint, TheWalStaysBoundedWhileThousandsOfCallsCommit) {
  ScratchDir dir;
  const std::string db = dir / "q.db";
  auto o = test_options(false);
  o.start_worker = false;
  auto q = open_queue(db, o);
  std::vector<Job> jobs;
  for (int i = 0; i < 64; ++i) jobs.push_back(*q->create_job("wal"));
  // Each call commits at least one 4 KiB page: 8,000 calls write over 32 MB
  // of WAL frames; checkpointed every 1,000 pages, the WAL restarts instead.
  // However slow the disk makes the thread's checkpoints, a commit waits for
  // them once the WAL holds kBackPressurePages (plus the last transaction's
  // pages, a few here; 4 KiB pages with a 24-byte frame header).
  const int64_t bound = (detail::SqliteCheckpointer::kBackPressurePages + 64) * (4096 + 24);
  int64_t largest = 0;
  for (int i = 0; i < 8000; ++i) {
    ASSERT_FALSE(jobs[static_cast<size_t>(i % 64)].set_display_name("name " + std::to_string(i)));
    if (i % 500 == 499) {
      struct stat st {};
      ASSERT_EQ(::stat((db + "-wal").c_str(), &st), 0);
      largest = std::max<int64_t>(largest, st.st_size);
    }
  }
  EXPECT_LT(largest, bound) << "the WAL grew to " << largest << " bytes: nobody checkpoints it";
  // And the checkpointed pages are in the database file itself.
  q.reset();
  SQLite::Database raw(db, SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("SELECT count(*) FROM jobs WHERE display_name = 'name 7999'").getInt(), 1);
}

// The back-pressure itself (SqliteCheckpointer::on_commit), with the
// checkpoint thread put where a slow disk puts it: in its first pass's sync,
// held there by a closed SyncGateVfs while a caller keeps committing.
class CheckpointerBackPressure : public ::testing::Test {
 protected:
  static constexpr int kJobs = 64;

  // A queue of kJobs jobs, closed and opened again: it starts with an empty
  // WAL and no checkpoint thread, so the gate meets the thread's first pass
  // (not a catch-up, which holds the store's mutex and so stalls callers
  // before any back-pressure). Its first commit has started the WAL.
  void open_fresh(const QueueOptions& o) {
    std::vector<std::string> ids;
    {
      auto setup = open_queue(db_, test_options(false));
      ASSERT_NE(setup, nullptr);
      for (int i = 0; i < kJobs; ++i) ids.push_back(setup->create_job("gate")->id());
    }
    q_ = open_queue(db_, o);
    ASSERT_NE(q_, nullptr);
    ASSERT_EQ(wal_frames(db_), 0);
    for (const std::string& id : ids) jobs_.push_back(*q_->get_job(id));
    // The first commit starts the WAL, syncing its header; from then on
    // under synchronous=NORMAL only a checkpoint syncs it (sync_gate_vfs.h)
    // until the WAL starts over, which needs a checkpoint first.
    ASSERT_FALSE(jobs_[0].set_display_name("first"));
  }
  std::error_code commit(int i) {
    return jobs_[static_cast<size_t>(i % kJobs)].set_display_name("name " + std::to_string(i));
  }
  // After the queue is closed: `name` is in the database file, whole.
  void expect_written(const std::string& name) {
    jobs_.clear();
    q_.reset();
    SQLite::Database raw(db_, SQLite::OPEN_READONLY);
    EXPECT_EQ(raw.execAndGet("SELECT count(*) FROM jobs WHERE display_name = '" + name + "'").getInt(), 1);
    EXPECT_EQ(raw.execAndGet("PRAGMA integrity_check").getString(), "ok");
  }

  // A committer that a failed assertion left at the closed gate finishes
  // here, before the queue closes: the gate opens, stop_ is raised.
  void TearDown() override {
    stop_ = true;
    gate_.open();
    if (committer_.joinable()) committer_.join();
  }

  SyncGateVfs gate_;  // before the queue's connections are opened, gone after
  ScratchDir dir_;
  const std::string db_ = dir_ / "q.db";
  std::unique_ptr<Queue> q_;
  std::vector<Job> jobs_;
  // The committing thread and what it shares with the test's.
  std::thread committer_;
  std::atomic<bool> stop_{false};
  std::atomic<int> done_{0};
  std::atomic<int> failures_{0};
  std::atomic<pid_t> committer_tid_{0};
  std::atomic<bool> stepping_{false};
};

// Whether thread `tid` of this process sleeps (its state in /proc is S).
bool sleeping(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t end_of_name = stat.rfind(')');
  return end_of_name != std::string::npos && stat.compare(end_of_name, 3, ") S") == 0;
}

// The caller must stop once the WAL holds kBackPressurePages, stay stopped
// while the pass is stalled, and go on once the sync is let through,
// leaving a bounded WAL and every commit in place.
TEST_F(CheckpointerBackPressure, ACallerWaitsForAStalledPassOnceTheWalHoldsTheBackPressurePages) {
  ASSERT_NO_FATAL_FAILURE(open_fresh(test_options(false)));
  gate_.close();
  constexpr int kCommits = 8000;  // one page each at least: twice the back-pressure point
  committer_ = std::thread([this] {
    for (int i = 0; i < kCommits; ++i) {
      if (commit(i)) failures_++;
      done_.fetch_add(1);
    }
  });
  ASSERT_TRUE(gate_.wait_until([](const std::vector<pid_t>& held) { return !held.empty(); }, std::chrono::seconds(60)))
      << "the checkpoint thread never reached its sync: no pass started at " << SqliteCheckpointer::kThresholdPages
      << " pages";
  // Wait until the caller stops advancing (or finishes: nothing held it back).
  int last = -1;
  const bool settled = wait_for(
      [&] {
        const int now = done_.load();
        if (now == kCommits) return true;
        const bool stalled = now == last && wal_frames(db_) >= SqliteCheckpointer::kBackPressurePages;
        last = now;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        return stalled;
      },
      std::chrono::seconds(120));
  if (!settled) {
    FAIL() << "the caller neither stopped nor finished: " << done_.load() << " commits, " << wal_frames(db_)
           << " WAL frames";
  }
  const int held_at = done_.load();
  const int64_t frames = wal_frames(db_);
  EXPECT_LT(held_at, kCommits) << "every commit went through while the checkpoint was stalled: nothing held the caller";
  EXPECT_GE(frames, SqliteCheckpointer::kBackPressurePages);
  EXPECT_LT(frames, SqliteCheckpointer::kBackPressurePages + 64) << "the caller stopped late";
  // Held means held: still there a moment later, the WAL no larger.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(done_.load(), held_at);
  EXPECT_EQ(wal_frames(db_), frames);

  gate_.open();
  committer_.join();
  EXPECT_EQ(done_.load(), kCommits);
  EXPECT_EQ(failures_.load(), 0);
  // The caller copied the rest itself: the WAL started over and stayed bounded.
  EXPECT_LT(wal_frames(db_), SqliteCheckpointer::kBackPressurePages + 64);
  expect_written("name " + std::to_string(kCommits - 1));
}

// The interleaving the wait must survive (the invariant written in
// SqliteCheckpointer::wait_for_pass): the thread ends a first pass that fell
// short of its snapshot (a reader holds an older one) while a caller holds
// the store's mutex, so it waits for that mutex to catch up, and that
// caller's commit is the one that reaches kBackPressurePages. A caller that
// waited for the next pass then would wait forever. The commits are durable
// here (synchronous=FULL), so the gate can hold the caller in its commit's
// sync, with the mutex held and its frames written.
TEST_F(CheckpointerBackPressure, ACallerReachingItWhileTheThreadWaitsToCatchUpDoesNotWaitForAnotherPass) {
  auto o = test_options(false);
  o.synchronous = Synchronous::full;
  ASSERT_NO_FATAL_FAILURE(open_fresh(o));
  // Another connection reads from the WAL's first frames: no pass can copy
  // past them, so the thread's first pass ends short and wants a catch-up.
  auto reader = std::make_unique<SQLite::Database>(db_, SQLite::OPEN_READONLY);
  reader->exec("BEGIN");
  ASSERT_EQ(reader->execAndGet("SELECT count(*) FROM jobs").getInt(), kJobs);
  gate_.close();
  committer_ = std::thread([this] {
    committer_tid_ = ::gettid();
    // Unhindered up to a few commits short of the back-pressure point...
    SyncGateVfs::let_this_thread_through(true);
    int i = 0;
    while (wal_frames(db_) < SqliteCheckpointer::kBackPressurePages - 40)
      if (commit(i++)) failures_++;
    // ...then one at a time, each held in its sync until let through.
    SyncGateVfs::let_this_thread_through(false);
    stepping_ = true;
    while (!stop_) {
      if (commit(i++)) failures_++;
      done_.fetch_add(1);
    }
  });
  auto other_than_committer = [&](const std::vector<pid_t>& held) {
    for (pid_t t : held)
      if (t != committer_tid_) return t;
    return pid_t{0};
  };
  auto committer_held = [&](const std::vector<pid_t>& held) {
    return std::find(held.begin(), held.end(), committer_tid_.load()) != held.end();
  };
  // Step the caller until the commit held in its sync is the one whose frames
  // reach the back-pressure point; the thread's first pass stays held.
  for (;;) {
    ASSERT_TRUE(gate_.wait_until([&](const std::vector<pid_t>& held) { return stepping_ && committer_held(held); },
                                 std::chrono::seconds(60)))
        << "the caller's commit never reached its sync";
    if (wal_frames(db_) >= SqliteCheckpointer::kBackPressurePages) break;
    const int before = done_.load();
    gate_.let_through(committer_tid_);
    ASSERT_TRUE(wait_for([&] { return done_.load() > before; }, std::chrono::seconds(60)));
  }
  pid_t checkpointer = 0;
  ASSERT_TRUE(gate_.wait_until([&](const std::vector<pid_t>& held) { return (checkpointer = other_than_committer(held)) != 0; },
                               std::chrono::seconds(60)))
      << "the checkpoint thread's first pass is not held in its sync";

  // The pass copies what it saw and ends short of the WAL's end: it wants a
  // catch-up, and waits for the store's mutex, which the held caller has.
  gate_.let_through(checkpointer);
  ASSERT_TRUE(gate_.wait_until([&](const std::vector<pid_t>& held) { return other_than_committer(held) == 0; },
                               std::chrono::seconds(60)));
  int asleep = 0;  // asleep for 200 ms on end: its pass is over, it waits
  ASSERT_TRUE(wait_for(
      [&] {
        asleep = sleeping(checkpointer) ? asleep + 1 : 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return asleep >= 10;
      },
      std::chrono::seconds(30)))
      << "the checkpoint thread did not come to wait for the store's mutex";

  // Let everything through: the caller's commit ends at the back-pressure
  // point, and it must not wait for a pass the thread cannot start.
  const int before = done_.load();
  gate_.open();
  const bool returned = wait_for([&] { return done_.load() > before; }, std::chrono::seconds(60));
  if (!returned) {
    // Deadlocked: the threads cannot be joined, nor the queue closed.
    std::fprintf(stderr, "FAILED: the caller at the back-pressure point never returned (a deadlock)\n");
    std::_Exit(1);
  }
  reader.reset();  // the WAL may start over again
  stop_ = true;
  committer_.join();
  EXPECT_EQ(failures_.load(), 0);
  EXPECT_LT(wal_frames(db_), SqliteCheckpointer::kBackPressurePages + 64);
  ASSERT_FALSE(jobs_[0].set_display_name("name last"));
  expect_written("name last");
}

}  // namespace
}  // namespace xferq::testing
