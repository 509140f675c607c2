#include "common/process.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/files.h"

namespace berth {

std::optional<uint64_t> ProcessStartTime(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  const char* p = stat->c_str() + close + 1;
  // Field 3 is the state; start time is field 22, i.e. 19 fields further.
  for (int field = 3; field < 22; ++field) {
    p = std::strchr(p + 1, ' ');
    if (p == nullptr) return std::nullopt;
  }
  return std::strtoull(p + 1, nullptr, 10);
}

int OpenPidfdIfSame(pid_t pid, uint64_t start_time) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return -1;
  // The pidfd pins the process it was opened for; check it is the one we mean.
  auto now = ProcessStartTime(pid);
  if (!now || *now != start_time) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace berth
