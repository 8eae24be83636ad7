// sync_gate_vfs.cc — see sync_gate_vfs.h. Each file method forwards to the
// real file, which lives right after this VFS's own header in the same
// allocation (SQLite sizes it with szOsFile), as SQLite's own shims do.
#include "sync_gate_vfs.h"

#include <sqlite3.h>

#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <list>
#include <mutex>

namespace xferq::testing {
namespace {

struct GateFile {
  sqlite3_file base;   // first: SQLite sees a GateFile as a sqlite3_file
  sqlite3_file* real;  // the default VFS's file, just after this struct
  bool wal;
};

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<GateFile*>(f)->real; }

// A sync waiting at the gate.
struct Held {
  pid_t tid;
  bool go = false;
};

// One gate per process: SQLite's VFS list is global too.
std::mutex g_mu;
std::condition_variable g_cv;
bool g_closed = false;
std::list<Held> g_held;  // oldest first
thread_local bool tl_through = false;
sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs;

int gate_sync(sqlite3_file* f, int flags) {
  if (reinterpret_cast<GateFile*>(f)->wal && !tl_through) {
    std::unique_lock<std::mutex> lock(g_mu);
    if (g_closed) {
      auto me = g_held.insert(g_held.end(), Held{::gettid()});
      g_cv.notify_all();
      g_cv.wait(lock, [&] { return me->go || !g_closed; });
      g_held.erase(me);
      g_cv.notify_all();
    }
  }
  return real_of(f)->pMethods->xSync(real_of(f), flags);
}

int gate_close(sqlite3_file* f) { return real_of(f)->pMethods->xClose(real_of(f)); }
int gate_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 at) {
  return real_of(f)->pMethods->xRead(real_of(f), buf, n, at);
}
int gate_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 at) {
  return real_of(f)->pMethods->xWrite(real_of(f), buf, n, at);
}
int gate_truncate(sqlite3_file* f, sqlite3_int64 size) { return real_of(f)->pMethods->xTruncate(real_of(f), size); }
int gate_file_size(sqlite3_file* f, sqlite3_int64* size) { return real_of(f)->pMethods->xFileSize(real_of(f), size); }
int gate_lock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xLock(real_of(f), level); }
int gate_unlock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xUnlock(real_of(f), level); }
int gate_check_reserved(sqlite3_file* f, int* out) {
  return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int gate_file_control(sqlite3_file* f, int op, void* arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int gate_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int gate_device(sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }
int gate_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, out);
}
int gate_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void gate_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int gate_shm_unmap(sqlite3_file* f, int del) { return real_of(f)->pMethods->xShmUnmap(real_of(f), del); }
int gate_fetch(sqlite3_file* f, sqlite3_int64 at, int n, void** out) {
  return real_of(f)->pMethods->xFetch(real_of(f), at, n, out);
}
int gate_unfetch(sqlite3_file* f, sqlite3_int64 at, void* p) {
  return real_of(f)->pMethods->xUnfetch(real_of(f), at, p);
}

const sqlite3_io_methods kGateMethods = {
    3,          gate_close,        gate_read,          gate_write,         gate_truncate,     gate_sync,
    gate_file_size, gate_lock,     gate_unlock,        gate_check_reserved, gate_file_control, gate_sector_size,
    gate_device,    gate_shm_map,  gate_shm_lock,      gate_shm_barrier,   gate_shm_unmap,    gate_fetch,
    gate_unfetch,
};

int gate_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* g = reinterpret_cast<GateFile*>(f);
  g->real = reinterpret_cast<sqlite3_file*>(g + 1);
  g->wal = (flags & SQLITE_OPEN_WAL) != 0;
  const int rc = g_real->xOpen(g_real, name, g->real, flags, out_flags);
  // SQLite calls xClose only when pMethods is set: mirror the real file.
  g->base.pMethods = g->real->pMethods != nullptr ? &kGateMethods : nullptr;
  return rc;
}

}  // namespace

SyncGateVfs::SyncGateVfs() {
  g_real = sqlite3_vfs_find(nullptr);
  // The unix VFS's files implement every version-3 method forwarded above.
  if (g_real == nullptr || g_real->iVersion < 3) std::abort();
  g_vfs = *g_real;
  g_vfs.zName = "xferq-test-sync-gate";
  g_vfs.szOsFile = static_cast<int>(sizeof(GateFile)) + g_real->szOsFile;
  g_vfs.xOpen = gate_open;
  g_vfs.pNext = nullptr;
  sqlite3_vfs_register(&g_vfs, 1);
}

SyncGateVfs::~SyncGateVfs() {
  open();
  sqlite3_vfs_unregister(&g_vfs);
  sqlite3_vfs_register(g_real, 1);
}

void SyncGateVfs::close() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_closed = true;
}

void SyncGateVfs::open() {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_closed = false;
  }
  g_cv.notify_all();
}

void SyncGateVfs::let_this_thread_through(bool through) { tl_through = through; }

void SyncGateVfs::let_through(pid_t tid) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    for (Held& h : g_held)
      if (h.tid == tid) h.go = true;
  }
  g_cv.notify_all();
}

bool SyncGateVfs::wait_until(const std::function<bool(const std::vector<pid_t>&)>& ready,
                             std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(g_mu);
  auto now_held = [] {
    std::vector<pid_t> tids;
    for (const Held& h : g_held)
      if (!h.go) tids.push_back(h.tid);
    return tids;
  };
  return g_cv.wait_for(lock, timeout, [&] { return ready(now_held()); });
}

}  // namespace xferq::testing
