// sync_gate_vfs.h — a slow disk on demand, for tests: an SQLite VFS that
// wraps the default one and, while its gate is closed, holds every sync of a
// WAL file until the gate opens.
//
// Under synchronous=NORMAL (the queue's default) a commit syncs the WAL only
// when it starts the WAL over (its header); a checkpoint syncs it first
// thing, before it copies a page (and the database file only once it has
// caught up with the last commit, which under a stream of commits is the
// store's catch-up). So a gate closed after a WAL has begun stalls the
// checkpoint thread's first pass, as a loaded disk does, while commits go on:
// the tests of the checkpointer's back-pressure put the thread exactly there
// instead of hoping a disk is slow enough. Everything else goes to the real
// VFS unchanged; SQLite itself is real.
//
// Thread safety: the gate may be opened and closed from any thread while
// connections sync on others. Install before the connections it should see
// are opened, and let it go only after they are closed.
#ifndef XFERQ_TESTS_SYNC_GATE_VFS_H_
#define XFERQ_TESTS_SYNC_GATE_VFS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <vector>

namespace xferq::testing {

class SyncGateVfs {
 public:
  // Registers the VFS as SQLite's default, the gate open.
  SyncGateVfs();
  // Opens the gate and restores the previous default.
  ~SyncGateVfs();
  SyncGateVfs(const SyncGateVfs&) = delete;
  SyncGateVfs& operator=(const SyncGateVfs&) = delete;

  // From close() on, a WAL file's sync waits until open(), or until its
  // thread is let through.
  void close();
  void open();
  // The calling thread's syncs pass a closed gate (true) or wait at it as
  // any other thread's do (false, the default).
  static void let_this_thread_through(bool through);
  // Lets the syncs waiting now on thread `tid` through; the gate stays
  // closed to every other one, and to that thread's next sync.
  void let_through(pid_t tid);
  // Waits up to `timeout` until `ready` holds of the threads (Linux thread
  // ids) whose syncs wait at the gate, oldest first; returns its last value.
  bool wait_until(const std::function<bool(const std::vector<pid_t>&)>& ready, std::chrono::milliseconds timeout);
};

}  // namespace xferq::testing

#endif  // XFERQ_TESTS_SYNC_GATE_VFS_H_
