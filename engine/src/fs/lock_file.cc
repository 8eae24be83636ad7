// lock_file.cc — see lock_file.h.
#include "fs/lock_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "fs/file_ops.h"

namespace xferq::detail {

Result<bool> LockFile::try_acquire() {
  if (held_) return true;
  if (fd_ < 0) fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) return errno_error(errno);
  held_ = ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
  return held_;
}

void LockFile::release() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
  fd_ = -1;
  held_ = false;
}

}  // namespace xferq::detail
