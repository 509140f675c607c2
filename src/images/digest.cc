#include "images/digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <memory>
#include <vector>

#include "common/files.h"
#include "common/unique_fd.h"

namespace berth {
namespace {

constexpr size_t kSha256HexLength = 64;
constexpr size_t kChunk = 1 << 20;

Status CheckContent(std::string_view digest, int64_t want_size, int64_t got_size,
                    const std::string& got_hex, const std::string& what) {
  if (got_size != want_size) {
    return Status::InvalidArgument("blob " + std::string(digest) + ": size mismatch (" + what +
                                   " has " + std::to_string(got_size) + " bytes, descriptor says " +
                                   std::to_string(want_size) + ")");
  }
  if ("sha256:" + got_hex != digest) {
    return Status::InvalidArgument("blob " + std::string(digest) + ": digest mismatch (" + what +
                                   " hashes to sha256:" + got_hex + ")");
  }
  return Status::Ok();
}

Result<UniqueFd> OpenRegularFile(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("open " + path.string(), errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(path.string() + " is not a regular file");
  }
  return fd;
}

// Copies everything from `in` to `out` while hashing; returns the byte count.
Result<int64_t> CopyAndHash(int in, int out, Sha256& hash, const std::string& what) {
  std::vector<char> buf(kChunk);
  int64_t total = 0;
  while (true) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read " + what, errno);
    if (n == 0) return total;
    hash.Update(buf.data(), static_cast<size_t>(n));
    total += n;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ErrnoStatus("write copy of " + what, errno);
      done += w;
    }
  }
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) ctx_.reset();
}

void Sha256::Update(const void* data, size_t n) {
  if (ctx_ != nullptr) EVP_DigestUpdate(ctx_.get(), data, n);
}

std::string Sha256::FinishHex() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (ctx_ != nullptr) EVP_DigestFinal_ex(ctx_.get(), md.data(), &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

Result<std::string> Sha256OfFile(const std::filesystem::path& path) {
  Sha256 hash;
  if (!hash.ok()) return Status::Internal("cannot initialize sha256");
  ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularFile(path));
  std::vector<char> buf(kChunk);
  while (true) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read " + path.string(), errno);
    if (n == 0) break;
    hash.Update(buf.data(), static_cast<size_t>(n));
  }
  return hash.FinishHex();
}

std::string Sha256Hex(std::string_view data) {
  Sha256 hash;
  hash.Update(data.data(), data.size());
  return hash.FinishHex();
}

Result<std::string> Sha256DigestHex(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (digest.substr(0, kPrefix.size()) != kPrefix) {
    return Status::InvalidArgument("unsupported digest \"" + std::string(digest) +
                                   "\" (only sha256:<hex> is accepted)");
  }
  std::string_view hex = digest.substr(kPrefix.size());
  bool ok = hex.size() == kSha256HexLength;
  for (char c : hex) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!ok) {
    return Status::InvalidArgument("malformed digest \"" + std::string(digest) +
                                   "\" (want sha256: and 64 lowercase hex digits)");
  }
  return std::string(hex);
}

Result<std::string> ReadVerifiedBlob(const std::filesystem::path& path, std::string_view digest,
                                     int64_t size, int64_t max_size) {
  if (size < 0 || size > max_size) {
    return Status::InvalidArgument("blob " + std::string(digest) + ": size " +
                                   std::to_string(size) + " is out of range");
  }
  std::error_code ec;
  uintmax_t on_disk = std::filesystem::file_size(path, ec);
  if (ec) return ErrnoStatus("stat " + path.string(), ec.value());
  if (on_disk != static_cast<uintmax_t>(size)) {
    return CheckContent(digest, size, static_cast<int64_t>(on_disk), "", path.string());
  }
  ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  RETURN_IF_ERROR(CheckContent(digest, size, static_cast<int64_t>(data.size()), Sha256Hex(data),
                               path.string()));
  return data;
}

Status CopyVerifiedBlob(const std::filesystem::path& src, const std::filesystem::path& dst,
                        std::string_view digest, int64_t size) {
  Sha256 hash;
  if (!hash.ok()) return Status::Internal("cannot initialize sha256");
  ASSIGN_OR_RETURN(UniqueFd in, OpenRegularFile(src));
  std::string tmp = dst.string() + ".tmp.XXXXXX";
  int out = ::mkstemp(tmp.data());
  if (out < 0) return ErrnoStatus("create temp file for " + dst.string(), errno);
  Result<int64_t> copied = CopyAndHash(in.get(), out, hash, src.string());
  in.Reset();
  Status st = copied.ok() ? CheckContent(digest, size, *copied, hash.FinishHex(), src.string())
                          : copied.status();
  if (st.ok() && ::fchmod(out, 0644) != 0) st = ErrnoStatus("chmod " + tmp, errno);
  if (st.ok() && ::fsync(out) != 0) st = ErrnoStatus("fsync " + tmp, errno);
  if (::close(out) != 0 && st.ok()) st = ErrnoStatus("close " + tmp, errno);
  if (st.ok() && ::rename(tmp.c_str(), dst.c_str()) != 0) st = ErrnoStatus("rename " + tmp, errno);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return SyncDir(dst.parent_path());
}

}  // namespace berth
