// lock_file.h — the worker lock: one worker per queue file at a time.
//
// An exclusive flock on "<queue>-worker.lock" (created 0600, never through a
// symlink). The kernel releases it when the holder dies, so a crashed worker
// never blocks the next one.
//
// Thread safety: one thread at a time.
#ifndef XFERQ_FS_LOCK_FILE_H_
#define XFERQ_FS_LOCK_FILE_H_

#include <string>

#include "xferq/result.h"

namespace xferq::detail {

class LockFile {
 public:
  explicit LockFile(std::string path) : path_(std::move(path)) {}
  ~LockFile() { release(); }
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;

  // One attempt to take the lock without waiting: true if it is ours now
  // (also if it already was), false if another holder has it, an error if
  // the lock file cannot be opened or created.
  Result<bool> try_acquire();
  void release();

 private:
  std::string path_;
  int fd_ = -1;
  bool held_ = false;
};

}  // namespace xferq::detail

#endif  // XFERQ_FS_LOCK_FILE_H_
