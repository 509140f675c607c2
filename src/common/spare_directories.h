// SpareDirectories: empty directories made ahead of need in one parent, renamed into place when
// a new child directory is wanted.
//
// Why berth cares: a job's directory is made on its start path, in a parent marked for ext4's
// Orlov allocator (common/top_directory.h). There, each new directory is placed by a scan of
// every block group, and its group's bitmaps are often read from disk: a few tenths of a
// millisecond to several, per start. A spare made after the previous start takes that cost off
// the path; the rename that puts it in place allocates nothing.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace berth {

class SpareDirectories {
 public:
  // Spares live in `parent` as hidden entries (IsSpare); `keep` are kept ready.
  SpareDirectories(std::filesystem::path parent, int keep, mode_t mode);

  // Takes over the spares an earlier run left in the parent (a spare that is not empty is
  // removed), then makes the rest.
  void Adopt();

  // Makes `dir`, a child of the parent: a spare renamed to it when one is ready, else a new
  // directory. OK when `dir` exists already (a spare is then kept).
  Status Make(const std::filesystem::path& dir);

  // Makes spares until `keep` are ready. Errors are left to Make's own mkdir to report.
  void Refill();

  // Whether an entry of the parent is a spare (and not, say, a job's directory).
  static bool IsSpare(std::string_view name);

  // Spares ready now.
  int ready();

 private:
  const std::filesystem::path parent_;
  const int keep_;
  const mode_t mode_;
  Mutex mu_;
  std::vector<std::filesystem::path> ready_ GUARDED_BY(mu_);
  int making_ GUARDED_BY(mu_) = 0;  // spares being made by Refill calls under way
};

}  // namespace berth
