// Layer unpacking: one OCI layer tarball into one directory, ready to be an overlayfs lowerdir.
//
// The archive may be plain tar or gzip/zstd-compressed tar (libarchive detects which). Entries
// are extracted with libarchive's secure flags: no "..", no absolute paths, no writing through
// a symlink; permissions, numeric ownership, timestamps and safe xattrs (user.*,
// security.capability) are kept. Device nodes in the archive are skipped. OCI whiteouts become
// overlayfs ones: ".wh.NAME" becomes a 0/0 character device NAME, ".wh..wh..opq" sets
// trusted.overlay.opaque=y on its directory. Both need root (CAP_MKNOD, CAP_SYS_ADMIN).
//
// Extraction runs on a short-lived thread with its own working directory (unshare(CLONE_FS)),
// because libarchive resolves entries against, and while checking symlinks changes, the
// current directory. Safe to call from several threads at once.
#pragma once

#include <filesystem>

#include "common/status.h"

namespace berth {

// Unpacks the layer archive at `archive` into the existing, empty directory `dest`. On error
// `dest` may hold part of the layer; the caller discards it.
Status UnpackLayer(const std::filesystem::path& archive, const std::filesystem::path& dest);

}  // namespace berth
