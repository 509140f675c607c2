#include "common/top_directory.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include <cerrno>

#include "common/unique_fd.h"

namespace berth {
namespace {

// File systems without FS_IOC_GETFLAGS/SETFLAGS, or without this flag.
bool Unsupported(int err) { return err == ENOTTY || err == EOPNOTSUPP || err == EINVAL; }

}  // namespace

Status MarkTopDirectory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("open " + dir.string(), errno);
  int flags = 0;
  if (::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) != 0) {
    return Unsupported(errno) ? Status::Ok()
                              : ErrnoStatus("read the flags of " + dir.string(), errno);
  }
  if (flags & FS_TOPDIR_FL) return Status::Ok();
  flags |= FS_TOPDIR_FL;
  if (::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags) != 0) {
    return Unsupported(errno) ? Status::Ok()
                              : ErrnoStatus("mark " + dir.string() + " a top directory", errno);
  }
  return Status::Ok();
}

bool IsTopDirectory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  int flags = 0;
  return fd && ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_TOPDIR_FL) != 0;
}

}  // namespace berth
