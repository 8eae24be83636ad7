// temp_file.cc — see temp_file.h.
#include "fs/temp_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "fs/file_ops.h"
#include "xferq/error.h"

namespace xferq::detail {

TempFile::~TempFile() { close(); }

TempFile::TempFile(TempFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), size_at_open_(other.size_at_open_), created_(other.created_) {}

TempFile& TempFile::operator=(TempFile&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    size_at_open_ = other.size_at_open_;
    created_ = other.created_;
  }
  return *this;
}

Result<TempFile> TempFile::create(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error(errno);
  return TempFile(fd, 0, true);
}

Result<TempFile> TempFile::open_existing(const std::string& path) {
  // O_NONBLOCK: a FIFO planted at the path must not block the worker (it
  // fails with ENXIO without a reader, and is refused below with one). It
  // changes nothing for a regular file.
  const int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return errno_error(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    ::close(fd);
    return make_error_code(Errc::file_exists);
  }
  return TempFile(fd, st.st_size, false);
}

Result<TempFile> TempFile::open_or_create(const std::string& path) {
  auto opened = open_existing(path);  // a leftover of ours (resume, or a crash)
  if (!opened && opened.error() == make_error_code(Errc::path_not_found)) return create(path);
  return opened;
}

std::error_code TempFile::write_at(const char* data, size_t n, int64_t offset) {
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::pwrite(fd_, data + done, n - done, offset + static_cast<int64_t>(done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno);
    }
    done += static_cast<size_t>(w);
  }
  return {};
}

std::error_code TempFile::read_at(char* data, size_t n, int64_t offset, size_t* got) const {
  for (;;) {
    const ssize_t r = ::pread(fd_, data, n, offset);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_error(errno);
    *got = static_cast<size_t>(r);
    return {};
  }
}

std::error_code TempFile::truncate(int64_t size) {
  if (::ftruncate(fd_, size) != 0) return errno_error(errno);
  return {};
}

void TempFile::start_writeback(int64_t offset, int64_t length) {
  ::sync_file_range(fd_, offset, length, SYNC_FILE_RANGE_WRITE);
}

std::error_code TempFile::sync() {
  if (::fdatasync(fd_) != 0) return errno_error(errno);
  return {};
}

bool TempFile::unlinked() const {
  struct stat st {};
  return ::fstat(fd_, &st) == 0 && st.st_nlink == 0;
}

Result<TempFile> TempFile::share() const {
  const int dup = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return errno_error(errno);
  return TempFile(dup, size_at_open_, false);
}

void TempFile::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace xferq::detail
