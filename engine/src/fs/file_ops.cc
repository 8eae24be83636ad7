// file_ops.cc — names, deletions, renames, reads and inspection of paths.
#include "fs/file_ops.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "xferq/error.h"

namespace xferq::detail {
namespace {

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

void sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

std::error_code errno_error(int err) {
  switch (err) {
    case 0:
      return {};
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return make_error_code(Errc::disk_full);
    case EACCES:
    case EPERM:
    case EROFS:
      return make_error_code(Errc::access_denied);
    case ENOENT:
      return make_error_code(Errc::path_not_found);
    case ENOTDIR:  // a path component is not a directory
      return make_error_code(Errc::path_not_found);
    case EEXIST:
    case EISDIR:  // a directory sits where a file should go
    case ELOOP:   // O_NOFOLLOW met a symlink: something else sits at our path
      return make_error_code(Errc::file_exists);
    default:
      return make_error_code(Errc::invalid_arg);
  }
}

std::string temp_path_for(const std::string& local_path, const std::string& job_id, int64_t idx) {
  // Strip the braces and dashes of the GUID: ".name.xferq-<32 hex>-<idx>.part".
  std::string hex;
  for (char c : job_id)
    if (std::isxdigit(static_cast<unsigned char>(c))) hex.push_back(c);
  std::string base = base_of(local_path);
  if (base.size() > 120) base.resize(120);  // keep the name under NAME_MAX
  return dir_of(local_path) + "/." + base + ".xferq-" + hex + "-" + std::to_string(idx) + ".part";
}

std::string discarded_path(const std::string& temp_path) {
  static const std::string kPart = ".part", kGone = ".gone";
  const bool part = temp_path.size() > kPart.size() &&
                    temp_path.compare(temp_path.size() - kPart.size(), kPart.size(), kPart) == 0;
  return (part ? temp_path.substr(0, temp_path.size() - kPart.size()) : temp_path) + kGone;
}

namespace {
// Success if the name is gone; with `directory_ok`, also if a directory
// holds it (unlink() never removes one).
std::error_code unlink_one(const std::string& path, bool directory_ok = false) {
  if (::unlink(path.c_str()) == 0 || errno == ENOENT || (directory_ok && errno == EISDIR)) return {};
  return errno_error(errno);
}

// A directory at the twin's name is not ours (discard_file never makes one):
// it is left alone and is no reason to keep retrying the deletion.
std::error_code unlink_twin(const std::string& temp_path) { return unlink_one(discarded_path(temp_path), true); }
}  // namespace

std::error_code delete_file(const std::string& path) {
  if (path.empty()) return {};
  std::error_code ec = unlink_one(path);
  // A twin is left by an in-call Cancel until its janitor runs, or by a
  // crash before it did; where there is none, trying costs a failed lookup.
  std::error_code twin = unlink_twin(path);
  return ec ? ec : twin;
}

std::error_code discard_file(const std::string& path) {
  if (path.empty()) return {};
  // rename() replaces only a non-directory; anything else in the twin's
  // place (a directory) makes it fail, and the unlink below decides.
  if (::rename(path.c_str(), discarded_path(path).c_str()) == 0 || errno == ENOENT) return {};
  return unlink_one(path);
}

std::error_code check_rename(const std::string& temp_path, const std::string& final_path) {
  struct stat st {};
  if (::lstat(temp_path.c_str(), &st) != 0) return errno_error(errno);
  if (!S_ISREG(st.st_mode)) return make_error_code(Errc::file_exists);
  const dev_t temp_dev = st.st_dev;
  const std::string dir = dir_of(final_path);
  if (::stat(dir.c_str(), &st) != 0) return errno_error(errno);
  if (!S_ISDIR(st.st_mode)) return make_error_code(Errc::path_not_found);
  if (::access(dir.c_str(), W_OK | X_OK) != 0) return make_error_code(Errc::access_denied);
  // rename() moves a name within one filesystem only: a final name set on
  // another (a reply file name changed after the reply arrived) would fail
  // after Complete had begun.
  if (st.st_dev != temp_dev) return errno_error(EXDEV);
  if (::stat(final_path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) return make_error_code(Errc::file_exists);
  } else if (errno != ENOENT) {
    return errno_error(errno);  // e.g. a name over NAME_MAX: the rename would fail too
  }
  return {};
}

std::error_code make_removals_durable(const std::vector<std::string>& paths) {
  std::vector<std::string> dirs;
  for (const std::string& p : paths) {
    if (p.empty()) continue;
    std::string d = dir_of(p);
    if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(std::move(d));
  }
  std::error_code first_error;
  for (const std::string& d : dirs) {
    const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      if (errno != ENOENT && !first_error) first_error = errno_error(errno);  // a removed directory took them along
      continue;
    }
    if (::fsync(fd) != 0 && !first_error) first_error = errno_error(errno);
    ::close(fd);
  }
  return first_error;
}

std::error_code rename_into_place(const std::string& temp_path, const std::string& final_path) {
  struct stat st {};
  if (::stat(final_path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return make_error_code(Errc::file_exists);
  // Held across the rename: the descriptor follows the inode to its new name,
  // so the mode changes only once the file is in place. O_NONBLOCK: a FIFO
  // planted at the temp path must not block (it is refused just below).
  const int fd = ::open(temp_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 && errno != ENOENT) {
    // A symlink (ELOOP) or a socket (ENXIO) planted at the temp path is not
    // our temp file either; ENOENT goes on: the rename may be done already.
    return errno == ENXIO ? make_error_code(Errc::file_exists) : errno_error(errno);
  }
  if (fd >= 0 && (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
    ::close(fd);
    return make_error_code(Errc::file_exists);  // not our temp file: never moved into place
  }
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    if (err == ENOENT && ::lstat(temp_path.c_str(), &st) != 0 && ::stat(final_path.c_str(), &st) == 0) {
      // Done before (a crash may have come before the mode change).
      const int final_fd = ::open(final_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
      if (final_fd >= 0) {
        ::fchmod(final_fd, 0644);
        ::close(final_fd);
      }
      // The crash may also have come before the twin's removal and the sync.
      unlink_twin(temp_path);
      sync_dir(dir_of(final_path));
      return {};
    }
    return errno_error(err);
  }
  // The temp file was private while partial; the final file is an ordinary
  // one (0644, like a file the user saved).
  if (fd >= 0) {
    ::fchmod(fd, 0644);
    ::close(fd);
  }
  // A twin is left only by a Cancel that a power cut rolled back (its rename
  // made durable by some other directory sync): the job ran again, and its
  // end is the last chance to remove it. Same directory: the sync covers it.
  unlink_twin(temp_path);
  sync_dir(dir_of(final_path));
  return {};
}

namespace {

FileStamp stamp_of(const struct stat& st) {
  FileStamp s;
  s.device = static_cast<uint64_t>(st.st_dev);
  s.inode = static_cast<uint64_t>(st.st_ino);
  s.size = static_cast<int64_t>(st.st_size);
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return s;
}

// Opens a file the application owns for reading. O_NONBLOCK: a FIFO swapped
// in must not stall the transfer loop (it is refused as not regular).
int open_application_file(const std::string& path, struct stat* st, std::error_code* ec) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    *ec = errno_error(errno);
    return -1;
  }
  if (::fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
    ::close(fd);
    *ec = make_error_code(Errc::invalid_arg);
    return -1;
  }
  return fd;
}

}  // namespace

std::error_code stamp_file(const std::string& path, FileStamp* out) {
  struct stat st {};
  std::error_code ec;
  const int fd = open_application_file(path, &st, &ec);
  if (fd < 0) return ec;
  ::close(fd);
  *out = stamp_of(st);
  return {};
}

std::error_code read_range(const std::string& path, int64_t offset, int64_t length, std::string* out,
                           const FileStamp* expected) {
  out->resize(static_cast<size_t>(length));
  struct stat st {};
  std::error_code ec;
  const int fd = open_application_file(path, &st, &ec);
  if (fd < 0) return ec;
  if (expected && !(stamp_of(st) == *expected)) {
    ::close(fd);
    return make_error_code(Errc::validation_failed);  // another version: never spliced
  }
  int64_t got = 0;
  int err = 0;
  while (got < length) {
    const ssize_t r = ::pread(fd, &(*out)[static_cast<size_t>(got)], static_cast<size_t>(length - got), offset + got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      err = r < 0 ? errno : 0;
      break;
    }
    got += r;
  }
  ::close(fd);
  if (err) return errno_error(err);
  if (got != length) return make_error_code(Errc::validation_failed);
  return {};
}

std::error_code prepare_private_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
  if (fd < 0 && (errno == EACCES || errno == EROFS)) {
    // A queue this process may only read (another user's, a read-only
    // mount): nothing to create or tighten; SQLite opens it read-only.
    fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  }
  if (fd < 0) return errno == ELOOP ? make_error_code(Errc::invalid_arg) : errno_error(errno);
  struct stat st {};
  std::error_code ec;
  if (::fstat(fd, &st) != 0)
    ec = errno_error(errno);
  else if (!S_ISREG(st.st_mode))
    ec = make_error_code(Errc::invalid_arg);
  else if ((st.st_mode & 077) != 0 && st.st_uid == ::geteuid())
    ::fchmod(fd, st.st_mode & 0700);
  ::close(fd);
  return ec;
}

Result<std::string> canonical_target(const std::string& path) {
  const std::string dir = dir_of(path);
  char* real = ::realpath(dir.c_str(), nullptr);
  if (!real) return errno_error(errno);
  std::string out(real);
  std::free(real);
  if (out != "/") out += "/";
  return out + base_of(path);
}

PathInfo inspect_path(const std::string& path) {
  PathInfo info;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return info;
  info.exists = true;
  info.regular = S_ISREG(st.st_mode);
  info.directory = S_ISDIR(st.st_mode);
  if (info.regular) info.size = st.st_size;
  return info;
}

bool can_read(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

bool can_execute(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

bool can_create_in(const std::string& dir) { return ::access(dir.c_str(), W_OK | X_OK) == 0; }

}  // namespace xferq::detail
