// file_ops.h — the filesystem effects of xferq, and nothing else.
//
// Every call that creates, writes, renames, deletes, flushes, locks or
// inspects a file on behalf of the engine lives in engine/src/fs/: this file
// (paths: names, deletions, renames, reads of an upload's source, inspection),
// temp_file.h (the bytes of one temp file) and lock_file.h (the worker lock).
//
// Temp files are created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) in
// the target's directory, so the final rename is atomic and never crosses a
// filesystem; a symlink planted at a temp path is never followed. Every effect
// is idempotent, because the outbox may apply an operation twice (a crash
// after the effect and before the row is removed) — see docs/architecture.md.
//
// Thread safety: free functions without shared state; safe from any thread.
#ifndef XFERQ_FS_FILE_OPS_H_
#define XFERQ_FS_FILE_OPS_H_

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "xferq/result.h"

namespace xferq::detail {

// The temp path of file `idx` of a job: hidden, in the target's directory,
// named after the job so that it is never shared.
std::string temp_path_for(const std::string& local_path, const std::string& job_id, int64_t idx);

// Removes a file, and its discarded twin if one is left (discard_file).
// Success if both are gone. The removal is durable only once
// make_removals_durable() has synced its directory.
std::error_code delete_file(const std::string& path);

// The hidden name a temp file is moved to by discard_file(): beside it, with
// ".gone" for ".part" (the same length, so still under NAME_MAX).
std::string discarded_path(const std::string& temp_path);

// Frees a temp file's name at once without freeing its blocks: renames it to
// discarded_path(), a metadata change, where an unlink of freshly written
// blocks on a disk mounted with online discard waits for the device. The
// blocks go with delete_file(path) later. Falls back to unlinking when the
// rename fails; success if the file is already gone.
std::error_code discard_file(const std::string& path);

// fsyncs the directory of each path once, so that their removals survive a
// power cut (an outbox row may be retired only after that: a temp file whose
// unlink was lost would otherwise come back with no row left to delete it).
std::error_code make_removals_durable(const std::vector<std::string>& paths);

// Whether a finished temp file can be renamed to `final_path`: the temp file
// is a regular file, the final path's directory exists and is writable, and
// nothing but a regular file (or nothing) is at the final path, which is on
// the temp file's filesystem and can be looked up (not over NAME_MAX).
// ERROR_PATH_NOT_FOUND, E_ACCESSDENIED, ERROR_FILE_EXISTS (a directory,
// FIFO, device or socket is in the way: it is never replaced), or E_INVALIDARG
// (another filesystem, a name too long): a rename that would fail is
// refused here, before Complete changes anything.
std::error_code check_rename(const std::string& temp_path, const std::string& final_path);

// Moves a finished temp file to its final path atomically (replacing a
// regular file that is there, never anything else), makes it 0644 once it is
// in place, and makes the rename durable. Success if the temp file is gone and
// the final file exists (the rename happened before). ERROR_FILE_EXISTS if
// anything but a regular file (a symlink, FIFO, socket) is at the temp path:
// it is never moved into place.
std::error_code rename_into_place(const std::string& temp_path, const std::string& final_path);

// What tells one version of a file the application owns from another, as
// fstat() sees it: an upload's source must keep its stamp for the whole
// upload (BITS: BG_E_LOCAL_FILE_CHANGED), or the server would get a splice.
struct FileStamp {
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp& o) const {
    return device == o.device && inode == o.inode && size == o.size && mtime_ns == o.mtime_ns;
  }
};

// The stamp of the regular file at `path` (following symlinks: the path is
// the application's). Never blocks on a FIFO. E_INVALIDARG if it is not a
// regular file; ERROR_FILE_NOT_FOUND et al. from errno.
std::error_code stamp_file(const std::string& path, FileStamp* out);

// Reads `length` bytes at `offset` of a file the application owns (an upload's
// source), opened only for as long as the read takes, and never blocking on a
// FIFO. ERROR_FILE_NOT_FOUND et al. from errno; E_INVALIDARG if it is not a
// regular file; BG_E_VALIDATION_FAILED if the file became shorter, or if
// `expected` is given and the file's stamp differs from it.
std::error_code read_range(const std::string& path, int64_t offset, int64_t length, std::string* out,
                           const FileStamp* expected = nullptr);

// What is at a path (following symlinks, as open() would).
struct PathInfo {
  bool exists = false;
  bool regular = false;    // a regular file
  bool directory = false;
  int64_t size = 0;        // regular files only
};
PathInfo inspect_path(const std::string& path);

// Whether the calling process may read the file (R_OK), execute it (X_OK), or
// create files in the directory (W_OK | X_OK).
bool can_read(const std::string& path);
bool can_execute(const std::string& path);
bool can_create_in(const std::string& dir);

// The queue file, before SQLite opens it: created 0600 if missing (never
// through a symlink), made 0600 if it is ours and open to others, so that its
// -wal and -shm (which SQLite gives the main file's mode) are private too.
// A path that exists but is not a regular file is E_INVALIDARG. A file this
// process may only read is left as it is.
std::error_code prepare_private_file(const std::string& path);

// The path a download's file will have once complete: the canonical path of
// its directory (symlinks resolved) and its name, so that two spellings of one
// target compare equal. ERROR_PATH_NOT_FOUND if the directory is missing.
Result<std::string> canonical_target(const std::string& path);

// errno -> the HRESULT-valued error the API reports for it.
std::error_code errno_error(int err);

}  // namespace xferq::detail

#endif  // XFERQ_FS_FILE_OPS_H_
