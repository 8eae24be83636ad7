// content_hasher.cc — see content_hasher.h.
#include "worker/content_hasher.h"

#include <openssl/evp.h>

namespace xferq::detail {

// One EVP digest context of one algorithm.
struct ContentHasher::Digest {
  explicit Digest(const EVP_MD* md) : md(md), ctx(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx, md, nullptr); }
  ~Digest() { EVP_MD_CTX_free(ctx); }
  void reset() { EVP_DigestInit_ex(ctx, md, nullptr); }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, out, &n);
    static const char kHex[] = "0123456789abcdef";
    std::string s;
    for (unsigned int i = 0; i < n; ++i) {
      s += kHex[out[i] >> 4];
      s += kHex[out[i] & 15];
    }
    return s;
  }
  const EVP_MD* md;
  EVP_MD_CTX* ctx;
};

ContentHasher::ContentHasher(const FileIntegrity& expected) : expected_(expected) {
  if (!expected.sha256.empty()) sha256_ = std::make_unique<Digest>(EVP_sha256());
  if (!expected.sha512.empty()) sha512_ = std::make_unique<Digest>(EVP_sha512());
}

ContentHasher::~ContentHasher() = default;

void ContentHasher::update(const char* data, size_t n) {
  if (sha256_) EVP_DigestUpdate(sha256_->ctx, data, n);
  if (sha512_) EVP_DigestUpdate(sha512_->ctx, data, n);
}

void ContentHasher::reset() {
  if (sha256_) sha256_->reset();
  if (sha512_) sha512_->reset();
}

std::string ContentHasher::mismatch() {
  std::string why;
  if (sha256_) {
    const std::string got = sha256_->hex();
    if (got != expected_.sha256) why = "SHA-256 is " + got + ", expected " + expected_.sha256;
  }
  if (sha512_) {
    const std::string got = sha512_->hex();
    if (got != expected_.sha512) why += (why.empty() ? "" : "; ") + std::string("SHA-512 is ") + got + ", expected " + expected_.sha512;
  }
  return why;
}

}  // namespace xferq::detail
