// file_ops.h — the filesystem effects of xferq, and nothing else.
//
// Temp files are created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) in
// the target's directory, so the final rename is atomic and never crosses a
// filesystem; a symlink planted at a temp path is never followed. Every effect
// is idempotent, because the outbox may apply an operation twice (a crash
// after the effect and before the row is removed).
#ifndef XFERQ_FILE_OPS_H_
#define XFERQ_FILE_OPS_H_

#include <cstdint>
#include <string>
#include <system_error>

#include "xferq/result.h"

namespace xferq::detail {

// The temp path of file `idx` of a job: hidden, in the target's directory,
// named after the job so that it is never shared.
std::string temp_path_for(const std::string& local_path, const std::string& job_id, int64_t idx);

// A new, empty temp file; fails (ERROR_FILE_EXISTS) if anything is at the path.
Result<int> create_temp_file(const std::string& path);
// An existing temp file, to continue writing; fails if missing or not a
// regular file. *size receives its size.
Result<int> open_temp_file(const std::string& path, int64_t* size);

// Removes a file. Success if it is already gone.
std::error_code delete_file(const std::string& path);

// Moves a finished temp file to its final path atomically (replacing what is
// there) and makes the rename durable. Success if the temp file is gone and
// the final file exists (the rename happened before).
std::error_code rename_into_place(const std::string& temp_path, const std::string& final_path);

// Reads `length` bytes at `offset` of a file the application owns (an upload's
// source), opened only for as long as the read takes. ERROR_FILE_NOT_FOUND et
// al. from errno; BG_E_VALIDATION_FAILED if the file became shorter.
std::error_code read_range(const std::string& path, int64_t offset, int64_t length, std::string* out);

// Flushes a file's data (fdatasync) so a committed byte count never exceeds
// what the disk holds.
std::error_code flush_file(int fd);

// errno -> the HRESULT-valued error the API reports for it.
std::error_code errno_error(int err);

}  // namespace xferq::detail

#endif  // XFERQ_FILE_OPS_H_
