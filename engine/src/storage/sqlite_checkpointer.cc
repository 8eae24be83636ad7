// sqlite_checkpointer.cc — see sqlite_checkpointer.h.
#include "storage/sqlite_checkpointer.h"

#include <sqlite3.h>

#include <system_error>

namespace xferq::detail {

SqliteCheckpointer::SqliteCheckpointer(sqlite3* db, std::mutex& writers, std::chrono::milliseconds busy_timeout)
    : db_(db), writers_(writers), busy_timeout_(busy_timeout), path_(sqlite3_db_filename(db, "main")) {
  // Replaces SQLite's default hook, which is the automatic checkpoint.
  sqlite3_wal_hook(db_, &SqliteCheckpointer::on_commit, this);
}

SqliteCheckpointer::~SqliteCheckpointer() {
  sqlite3_wal_hook(db_, nullptr, nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  pass_ended_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int SqliteCheckpointer::on_commit(void* arg, sqlite3* db, const char* name, int wal_pages) {
  auto* self = static_cast<SqliteCheckpointer*>(arg);
  if (wal_pages < kThresholdPages) return SQLITE_OK;
  std::unique_lock<std::mutex> lock(self->mu_);
  if (self->failed_) {
    lock.unlock();
    sqlite3_wal_checkpoint(db, name);  // what SQLite's default hook does
    return SQLITE_OK;
  }
  if (!self->thread_.joinable()) {
    // No exception may cross SQLite's C frames: without a thread, callers
    // checkpoint as SQLite would have.
    try {
      self->thread_ = std::thread([self] { self->run(); });
    } catch (const std::system_error&) {
      self->failed_ = true;
      lock.unlock();
      sqlite3_wal_checkpoint(db, name);
      return SQLITE_OK;
    }
  }
  self->due_ = true;
  self->cv_.notify_one();
  if (wal_pages < kBackPressurePages) return SQLITE_OK;
  // Back-pressure (see the header): the thread's pass under way holds the
  // checkpoint lock, so wait for it to end; then copy what it left, with
  // `writers` held so that nothing more comes in between. Without a pass
  // under way, the thread's next one takes this caller's signal.
  self->wait_for_pass(lock);
  lock.unlock();
  sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  return SQLITE_OK;
}

void SqliteCheckpointer::wait_for_pass(std::unique_lock<std::mutex>& lock) {
  // Invariant relied on: the thread never waits for `writers` (held by this
  // caller) without setting catching_up_ first, so this wait always ends.
  const uint64_t seen = first_passes_;
  pass_ended_.wait(lock, [&] { return first_passes_ > seen || catching_up_ || stopping_ || failed_; });
}

void SqliteCheckpointer::run() {
  sqlite3* conn = nullptr;
  // No OPEN_CREATE: the store's connection holds the file open, and a
  // vanished file must not be made again here.
  // A first read makes the new connection find the file in WAL mode; until
  // then a checkpoint on it does nothing (and says so with -1 frames).
  const bool opened =
      sqlite3_open_v2(path_.c_str(), &conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) == SQLITE_OK;
  if (opened) sqlite3_busy_timeout(conn, static_cast<int>(busy_timeout_.count()));
  if (!opened || sqlite3_exec(conn, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr) != SQLITE_OK) {
    sqlite3_close(conn);
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = true;
    pass_ended_.notify_all();
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return due_ || stopping_; });
    if (stopping_) break;
    due_ = false;
    lock.unlock();
    // PASSIVE: copies what no reader still needs, without waiting for or
    // blocking anyone; the next writer then restarts the WAL from its start.
    int wal_frames = 0, copied = 0;
    // A failure (SQLITE_BUSY: another process checkpoints) is left to the
    // next commit over the threshold, which signals again.
    const int rc = sqlite3_wal_checkpoint_v2(conn, nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_frames, &copied);
    const bool catch_up = rc == SQLITE_OK && copied < wal_frames;
    lock.lock();
    ++first_passes_;
    catching_up_ = catch_up;
    pass_ended_.notify_all();  // a caller held back (wait_for_pass) lets go of `writers`
    lock.unlock();
    if (catch_up) {
      // The catch-up (see the header): what the first pass left of its
      // snapshot, and whatever came since, with no commit of ours between.
      std::lock_guard<std::mutex> quiet(writers_);
      sqlite3_wal_checkpoint_v2(conn, nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_frames, &copied);
    }
    lock.lock();
    catching_up_ = false;
  }
  lock.unlock();
  sqlite3_close(conn);
}

}  // namespace xferq::detail
