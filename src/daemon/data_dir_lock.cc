#include "daemon/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace berth {
namespace {

// The pid the holder wrote ("" when unreadable or still empty).
std::string ReadHolderPid(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "";
  std::string pid(buf, static_cast<size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return "";
  return pid;
}

}  // namespace

Result<DataDirLock> DataDirLock::Acquire(const std::filesystem::path& data_dir) {
  std::filesystem::path path = data_dir / "lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return ErrnoStatus("open " + path.string(), errno);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err != EWOULDBLOCK) return ErrnoStatus("lock " + path.string(), err);
    std::string pid = ReadHolderPid(fd.get());
    return Status::FailedPrecondition("data dir " + data_dir.string() +
                                      " is in use by another berth daemon" +
                                      (pid.empty() ? "" : " (pid " + pid + ")") +
                                      "; one daemon per data dir (lock " + path.string() + ")");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 ||
      ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return ErrnoStatus("write " + path.string(), errno);
  }
  return DataDirLock(std::move(fd), std::move(path));
}

}  // namespace berth
