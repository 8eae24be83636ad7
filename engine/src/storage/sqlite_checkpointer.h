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
// copied; under a steady stream of commits, frames keep arriving while the
// checkpoint runs, so that never happens and the WAL would grow without end.
// So the thread then copies the few frames committed meanwhile a second
// time, holding the store's mutex: no commit of this process can slip in,
// and the next one restarts the WAL. Callers wait for that catch-up (a few
// dozen pages and the syncs) instead of the whole checkpoint.
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
  std::thread thread_;
};

}  // namespace xferq::detail

#endif  // XFERQ_STORAGE_SQLITE_CHECKPOINTER_H_
