// DataDirLock: one daemon per data dir. An exclusive flock(2) on `<data>/lock`, held for the
// life of the object (the process's life when `berth serve` keeps it), with the holder's pid
// written in the file so a second daemon can name it. The kernel drops the lock when the
// process dies, so a crash (kill -9) never leaves a stale lock. Not thread-safe.
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace berth {

class DataDirLock {
 public:
  // Takes the lock on `data_dir`/lock (created mode 0600). FailedPrecondition naming the
  // holder's pid when another process holds it; IoError when the file cannot be used.
  static Result<DataDirLock> Acquire(const std::filesystem::path& data_dir);

  DataDirLock(DataDirLock&&) = default;
  DataDirLock& operator=(DataDirLock&&) = default;

  const std::filesystem::path& path() const { return path_; }

 private:
  DataDirLock(UniqueFd fd, std::filesystem::path path)
      : fd_(std::move(fd)), path_(std::move(path)) {}

  UniqueFd fd_;
  std::filesystem::path path_;
};

}  // namespace berth
