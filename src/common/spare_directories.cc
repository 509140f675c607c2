#include "common/spare_directories.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cerrno>
#include <system_error>

#include "common/random.h"

namespace berth {
namespace {

constexpr std::string_view kPrefix = ".spare-";

}  // namespace

SpareDirectories::SpareDirectories(std::filesystem::path parent, int keep, mode_t mode)
    : parent_(std::move(parent)), keep_(keep), mode_(mode) {}

bool SpareDirectories::IsSpare(std::string_view name) { return name.starts_with(kPrefix); }

void SpareDirectories::Adopt() {
  std::vector<std::filesystem::path> found;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(parent_, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (!IsSpare(it->path().filename().string())) continue;
    std::error_code e;
    if (it->is_directory(e) && std::filesystem::is_empty(it->path(), e) && !e) {
      found.push_back(it->path());
    } else {
      std::filesystem::remove_all(it->path(), e);
    }
  }
  {
    MutexLock lock(mu_);
    for (auto& p : found) ready_.push_back(std::move(p));
  }
  Refill();
}

Status SpareDirectories::Make(const std::filesystem::path& dir) {
  std::filesystem::path spare;
  {
    MutexLock lock(mu_);
    if (!ready_.empty()) {
      spare = std::move(ready_.back());
      ready_.pop_back();
    }
  }
  if (!spare.empty()) {
    if (::renameat2(AT_FDCWD, spare.c_str(), AT_FDCWD, dir.c_str(), RENAME_NOREPLACE) == 0) {
      return Status::Ok();
    }
    int err = errno;
    if (err == EEXIST) {
      // `dir` is there already (an earlier attempt's): the spare stays one.
      MutexLock lock(mu_);
      ready_.push_back(std::move(spare));
      return Status::Ok();
    }
    // Gone from under us (or a file system without renameat2): made the usual way below.
    std::error_code ec;
    std::filesystem::remove(spare, ec);
  }
  if (::mkdir(dir.c_str(), mode_) != 0 && errno != EEXIST) {
    return ErrnoStatus("mkdir " + dir.string(), errno);
  }
  return Status::Ok();
}

void SpareDirectories::Refill() {
  for (;;) {
    {
      MutexLock lock(mu_);
      if (static_cast<int>(ready_.size()) + making_ >= keep_) return;
      ++making_;
    }
    std::filesystem::path spare = parent_ / (std::string(kPrefix) + NewUuidV4());
    bool made = ::mkdir(spare.c_str(), mode_) == 0;
    MutexLock lock(mu_);
    --making_;
    if (!made) return;
    ready_.push_back(std::move(spare));
  }
}

int SpareDirectories::ready() {
  MutexLock lock(mu_);
  return static_cast<int>(ready_.size());
}

}  // namespace berth
