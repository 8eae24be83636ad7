// temp_file.h — the bytes of one temp file: every write, truncation,
// writeback and flush the worker does to a file it is filling.
//
// A TempFile owns one descriptor. It is opened only through create() (a new
// file, O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) or open_existing() (a leftover
// of this job, which must be a regular file of ours, never a symlink), so the
// worker cannot be made to write through someone else's file.
//
// Thread safety: a TempFile is used by one thread at a time. share() gives a
// second, independent descriptor of the same file for another thread (the
// flusher's fdatasync, the hash pool's read-back).
#ifndef XFERQ_FS_TEMP_FILE_H_
#define XFERQ_FS_TEMP_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

#include "xferq/result.h"

namespace xferq::detail {

class TempFile {
 public:
  TempFile() = default;
  ~TempFile();
  TempFile(TempFile&& other) noexcept;
  TempFile& operator=(TempFile&& other) noexcept;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  // A new, empty file; fails (ERROR_FILE_EXISTS) if anything is at the path.
  static Result<TempFile> create(const std::string& path);
  // An existing temp file, to continue writing; fails (ERROR_PATH_NOT_FOUND)
  // if missing, (ERROR_FILE_EXISTS) if not a regular file owned by us.
  static Result<TempFile> open_existing(const std::string& path);
  // open_existing(), or create() if nothing is at the path.
  static Result<TempFile> open_or_create(const std::string& path);

  bool is_open() const { return fd_ >= 0; }
  // Its size when it was opened (0 for a created one).
  int64_t size_at_open() const { return size_at_open_; }
  // true if create() made it (the caller may then mark a crash point).
  bool created() const { return created_; }

  // Writes all of data[0, n) at `offset` (retrying short writes and EINTR).
  std::error_code write_at(const char* data, size_t n, int64_t offset);
  std::error_code truncate(int64_t size);
  // Reads up to n bytes at `offset` into data; *got says how many (0 at the
  // end of the file). For hashing what was written (file_hasher.h).
  std::error_code read_at(char* data, size_t n, int64_t offset, size_t* got) const;
  // Starts writeback of [offset, offset + length) without waiting, so that a
  // later sync() finds little left to do.
  void start_writeback(int64_t offset, int64_t length);
  // fdatasync: the bytes written so far survive a power cut.
  std::error_code sync();
  // True if the file has no name any more (someone deleted it).
  bool unlinked() const;
  // A second descriptor of the same file, for another thread.
  Result<TempFile> share() const;
  void close();

 private:
  explicit TempFile(int fd, int64_t size, bool created) : fd_(fd), size_at_open_(size), created_(created) {}
  int fd_ = -1;
  int64_t size_at_open_ = 0;
  bool created_ = false;
};

}  // namespace xferq::detail

#endif  // XFERQ_FS_TEMP_FILE_H_
