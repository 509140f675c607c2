// Layer unpacking: one OCI layer tarball into one directory, ready to be an overlayfs lowerdir.
//
// The archive may be plain tar or gzip/zstd-compressed tar (libarchive detects which; no other
// decompressor is enabled). Entry paths are cleaned like containerd and podman do: "/", "./",
// "/usr", "./usr", "a/../b" are taken relative to the layer root (the root entry itself is
// skipped); a path that still climbs above the root ("../x") is refused, as is a hard link whose
// target does. Entries are then extracted with libarchive's secure flags (no writing through a
// symlink); permissions, numeric ownership, timestamps and safe xattrs (user.*,
// security.capability) are kept. Device nodes in the archive are skipped. OCI whiteouts become
// overlayfs ones: ".wh.NAME" becomes a 0/0 character device NAME, ".wh..wh..opq" sets
// trusted.overlay.opaque=y on its directory. Both need root (CAP_MKNOD, CAP_SYS_ADMIN).
//
// Extraction runs on a short-lived thread with its own working directory (unshare(CLONE_FS)),
// because libarchive resolves entries against, and while checking symlinks changes, the
// current directory. Safe to call from several threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>

#include "common/status.h"

namespace berth {

// A byte budget shared by the layers of one image: every entry costs 512 bytes plus its data.
// Bounds what a decompression bomb can write. Thread-safe.
class UnpackBudget {
 public:
  explicit UnpackBudget(int64_t max_bytes) : max_bytes_(max_bytes), left_(max_bytes) {}
  // Takes `n` bytes; false once the budget is spent.
  bool Take(int64_t n) { return left_.fetch_sub(n) >= n; }
  // The FailedPrecondition a spent budget fails the unpacking with.
  Status Exceeded() const;

 private:
  const int64_t max_bytes_;
  std::atomic<int64_t> left_;
};

// Unpacks the layer archive at `archive` into the existing, empty directory `dest`, charging
// `budget` when given. On error `dest` may hold part of the layer; the caller discards it.
Status UnpackLayer(const std::filesystem::path& archive, const std::filesystem::path& dest,
                   UnpackBudget* budget = nullptr);

}  // namespace berth
