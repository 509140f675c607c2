// Content digests: sha256 of bytes and files, and copying blobs while verifying them.
//
// Digests are written "sha256:<64 lowercase hex>"; sha256 is the only algorithm berth accepts.
// Stateless functions; safe to call from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

struct evp_md_ctx_st;

namespace berth {

// Incremental sha256 (OpenSSL EVP). Thread-compatible.
class Sha256 {
 public:
  Sha256();
  // False when OpenSSL could not set up the hash (out of memory).
  bool ok() const { return ctx_ != nullptr; }
  void Update(const void* data, size_t n);
  // Lowercase hex of everything fed so far; the object is spent afterwards.
  std::string FinishHex();

 private:
  std::unique_ptr<evp_md_ctx_st, void (*)(evp_md_ctx_st*)> ctx_;
};

// Lowercase hex sha256 of the file at `path` (a regular file).
Result<std::string> Sha256OfFile(const std::filesystem::path& path);

// Lowercase hex sha256 of `data`.
std::string Sha256Hex(std::string_view data);

// The hex part of a well-formed "sha256:<64 lowercase hex>" digest; InvalidArgument otherwise.
Result<std::string> Sha256DigestHex(std::string_view digest);

// Reads a whole blob of at most `max_size` bytes and checks it is `size` bytes long and hashes
// to `digest`. InvalidArgument ("digest mismatch", "size mismatch") when it does not.
Result<std::string> ReadVerifiedBlob(const std::filesystem::path& path, std::string_view digest,
                                     int64_t size, int64_t max_size);

// Streams `src` to `dst` (a temp file beside it, fsynced, then renamed), checking size and
// digest on the way. On a mismatch nothing is left at `dst` and the error says "digest mismatch".
Status CopyVerifiedBlob(const std::filesystem::path& src, const std::filesystem::path& dst,
                        std::string_view digest, int64_t size);

}  // namespace berth
