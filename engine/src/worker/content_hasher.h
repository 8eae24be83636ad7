// content_hasher.h — the SHA-256 / SHA-512 of a download, computed as its
// bytes arrive (OpenSSL's EVP digests), for the integrity check of
// FileSpec::integrity.
//
// Thread safety: a ContentHasher is used by one thread (the worker's); not
// synchronized. Copying is forbidden (it owns OpenSSL contexts).
#ifndef XFERQ_WORKER_CONTENT_HASHER_H_
#define XFERQ_WORKER_CONTENT_HASHER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "xferq/types.h"

namespace xferq::detail {

class ContentHasher {
 public:
  // Hashes with the digests `expected` names (SHA-256 and / or SHA-512).
  explicit ContentHasher(const FileIntegrity& expected);
  ~ContentHasher();
  ContentHasher(const ContentHasher&) = delete;
  ContentHasher& operator=(const ContentHasher&) = delete;

  // Whether `expected` names a digest at all (otherwise nothing is hashed).
  static bool needed(const FileIntegrity& expected) { return !expected.sha256.empty() || !expected.sha512.empty(); }

  void update(const char* data, size_t n);
  // Starts again from no byte (the file restarts from zero).
  void reset();
  // After the last byte: "" if every digest matches, else what differs
  // ("SHA-256 is <hex>, expected <hex>"). Ends the hash (reset() to reuse).
  std::string mismatch();

 private:
  struct Digest;
  FileIntegrity expected_;
  std::unique_ptr<Digest> sha256_;
  std::unique_ptr<Digest> sha512_;
};

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_CONTENT_HASHER_H_
