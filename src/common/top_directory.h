// Marks a directory as the top of a directory hierarchy for ext4's Orlov allocator
// (FS_TOPDIR_FL, `chattr +T`): directories made in it are spread over the file system's block
// groups instead of being packed into its own, and the files made in each land in that
// directory's group.
//
// Why berth cares: every job makes and removes a few dozen files in its own directory (the
// bundle, the overlay's work dir, records, the runtime's state). On ext4 without a journal,
// each new inode skips every inode of its group freed in the last 5 s (300 s while the inode
// table is dirty): with all jobs in one group, that scan took a third of the machine's CPU
// while many short jobs ran. Spread out, the scan stays short.
#pragma once

#include <filesystem>

#include "common/status.h"

namespace berth {

// Sets the flag on `dir`. OK, changing nothing, when the file system has no such flag
// (tmpfs, xfs, btrfs, ...); an error only when `dir` cannot be opened or the flag set fails
// otherwise.
Status MarkTopDirectory(const std::filesystem::path& dir);

// Whether `dir` carries the flag (false when the file system has none).
bool IsTopDirectory(const std::filesystem::path& dir);

}  // namespace berth
