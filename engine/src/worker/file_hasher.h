// file_hasher.h — the digests of one download's temp file, computed by the
// hash pool while the event loop keeps transferring.
//
// The driver writes bytes in order from offset 0 and tells the hasher how
// far the file is written (advance()); the pool's threads read the new bytes
// back through a shared descriptor and feed them to a ContentHasher. A
// resumed file starts with advance(bytes already on disk), so its bytes are
// re-hashed in the background instead of before the first request. At the
// end, verdict() waits for the last bytes — normally already hashed while
// the final fdatasync ran.
//
// Thread safety: a FileHasher belongs to one thread (the worker's); its
// shared state is locked. Destroying it never waits: a task still running
// sees it abandoned and stops after its current chunk. Copying is forbidden.
#ifndef XFERQ_WORKER_FILE_HASHER_H_
#define XFERQ_WORKER_FILE_HASHER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include "fs/temp_file.h"
#include "worker/hash_pool.h"
#include "xferq/types.h"

namespace xferq::detail {

class FileHasher {
 public:
  // Hashes `file` (a shared descriptor of the temp file) with the digests
  // `expected` names; see ContentHasher::needed().
  FileHasher(HashPool& pool, const FileIntegrity& expected, TempFile file);
  ~FileHasher();
  FileHasher(const FileHasher&) = delete;
  FileHasher& operator=(const FileHasher&) = delete;

  // The file holds its bytes [0, bytes) now. Cheap: schedules a task only
  // when a whole chunk is waiting.
  void advance(int64_t bytes);

  struct Verdict {
    std::error_code read_error;  // the bytes could not be read back
    std::string mismatch;        // "" if every digest matches
  };
  // Hashes up to `total` bytes (the whole file), waits for it, and compares.
  // Called once, after the last advance().
  Verdict verdict(int64_t total);

 private:
  struct State;
  static void hash_some(const std::shared_ptr<State>& state);
  void schedule_locked();

  HashPool& pool_;
  std::shared_ptr<State> state_;
};

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_FILE_HASHER_H_
