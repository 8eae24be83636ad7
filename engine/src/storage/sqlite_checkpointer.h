// sqlite_checkpointer.h — WAL checkpoints off the callers' path.
//
// SQLite's automatic checkpoint runs inside the COMMIT that crosses the
// threshold (1,000 WAL pages): that caller copies the pages into the
// database and syncs both files, milliseconds on a virtual disk, so about one
// cancel in 300 took 5–10 ms and set the p99.9. Instead, the store's
// connection turns the automatic checkpoint off and installs this class's
// WAL hook: a commit that leaves the WAL at or over the threshold only
// signals a thread, which checkpoints on a connection of its own. A PASSIVE
// checkpoint neither waits for nor blocks writers, so the next COMMIT does
// not wait for it either.
//
// The WAL only starts over when a writer begins with every frame already
// copied. A pass copies the frames of the snapshot it began with; frames
// committed during it wait for the next pass, and the WAL starts over after
// a pass that no commit overtook, which under a stream of commits is a
// matter of luck (the back-pressure below bounds the WAL when luck runs out).
// When a pass falls short of its own snapshot (another connection reads
// older frames: SQLite then reports fewer frames copied than the WAL held),
// the thread copies again holding the store's mutex, so that no commit of
// this process slips in: the catch-up. Callers wait for it (what the reader
// let through, and the syncs) instead of the whole checkpoint. Frames
// committed during a pass do not start a catch-up: SQLite's count of the
// WAL's frames is the pass's snapshot, not the WAL's end.
//
// Back-pressure: a pass syncs the WAL (and the database file once it
// reaches the WAL's end), and on a loaded disk that can take longer than the
// WAL takes to grow another thousand pages (seen in CI, under
// ThreadSanitizer: 19 MB). Once the WAL holds kBackPressurePages, the
// committing caller waits for the thread's first pass to end (or for it to
// be ready for the catch-up, which needs the mutex that caller holds), then
// copies the rest itself, as SQLite's own hook would have. This bounds the
// WAL, and costs a caller a wait only when the thread has fallen that far
// behind. tests/checkpointer_test.cc holds the thread in its sync to prove
// both the wait and the catch-up case.
//
// If that thread cannot open its connection, the hook falls back to SQLite's
// own behaviour (the committing caller checkpoints), so the WAL stays bounded.
// Other processes' connections keep SQLite's automatic checkpoint.
//
// Thread safety: the hook runs on whichever thread commits, under the store's
// mutex; everything it shares with the thread is under mu_.
#ifndef XFERQ_STORAGE_SQLITE_CHECKPOINTER_H_
#define XFERQ_STORAGE_SQLITE_CHECKPOINTER_H_

#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

struct sqlite3;

namespace xferq::detail {

class SqliteCheckpointer {
 public:
  // SQLite's own default threshold, in WAL pages.
  static constexpr int kThresholdPages = 1000;
  // From here on a commit waits for the thread (see above). Unless a reader
  // holds an old snapshot, the WAL holds at most this many pages plus the
  // last transaction's.
  static constexpr int kBackPressurePages = 4 * kThresholdPages;

  // Hooks the connection `db` and checkpoints its main database (by the
  // absolute path SQLite resolved, immune to a later chdir). The thread
  // starts at the first commit that crosses the threshold.
  // `writers` is the mutex every commit on `db` holds (the store's);
  // `busy_timeout` is the queue's (QueueOptions::busy_timeout), for the
  // thread's first read, which may meet another process's recovery.
  SqliteCheckpointer(sqlite3* db, std::mutex& writers, std::chrono::milliseconds busy_timeout);
  // Stops the thread; the hook is removed first.
  ~SqliteCheckpointer();
  SqliteCheckpointer(const SqliteCheckpointer&) = delete;
  SqliteCheckpointer& operator=(const SqliteCheckpointer&) = delete;

 private:
  static int on_commit(void* self, sqlite3* db, const char* name, int wal_pages);
  // With mu_ held by `lock`: waits until the thread ends a first pass (the
  // one under way, or the next), is ready for a catch-up, stops or fails.
  void wait_for_pass(std::unique_lock<std::mutex>& lock);
  void run();

  sqlite3* db_;
  std::mutex& writers_;
  const std::chrono::milliseconds busy_timeout_;
  const std::string path_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool due_ = false;
  bool stopping_ = false;
  bool failed_ = false;  // no thread, or its connection would not open: callers checkpoint
  // For back-pressure: first passes ended so far, and whether the thread
  // waits for (or holds) `writers` for a catch-up. Both under mu_.
  std::condition_variable pass_ended_;
  uint64_t first_passes_ = 0;
  bool catching_up_ = false;
  std::thread thread_;
};

}  // namespace xferq::detail

#endif  // XFERQ_STORAGE_SQLITE_CHECKPOINTER_H_
