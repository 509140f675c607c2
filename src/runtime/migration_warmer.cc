#include "runtime/migration_warmer.h"

#include <fcntl.h>
#include <unistd.h>

#include <sstream>

#include "common/log.h"
#include "common/unique_fd.h"

namespace berth {

std::filesystem::path MigrationWarmTarget(const CgroupLayout& layout,
                                          std::string_view self_cgroup) {
  if (layout.mode != CgroupMode::kV1 && layout.mode != CgroupMode::kHybrid) return {};
  // "/proc/self/cgroup" lines: "4:memory:/some/path"; a v1 hierarchy is mounted at a directory
  // named after its controllers ("/sys/fs/cgroup/cpu,cpuacct") or its name ("systemd").
  std::istringstream lines{std::string(self_cgroup)};
  std::string line;
  while (std::getline(lines, line)) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controllers.empty() || path.empty() || path[0] != '/') continue;
    if (controllers.starts_with("name=")) controllers = controllers.substr(5);
    for (const std::string& mount : layout.v1_mounts) {
      if (std::filesystem::path(mount).filename() == controllers) {
        return std::filesystem::path(mount + (path == "/" ? "" : path)) / "tasks";
      }
    }
  }
  return {};
}

MigrationWarmer::MigrationWarmer(std::filesystem::path tasks_file) {
  if (tasks_file.empty()) return;
  thread_ = std::thread([this, file = std::move(tasks_file)] { Run(file); });
}

MigrationWarmer::~MigrationWarmer() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MigrationWarmer::Poke() {
  if (!thread_.joinable()) return;
  {
    MutexLock lock(mu_);
    if (poked_) return;
    poked_ = true;
  }
  cv_.notify_one();
}

int MigrationWarmer::writes() {
  MutexLock lock(mu_);
  return writes_;
}

void MigrationWarmer::Run(const std::filesystem::path& tasks_file) {
  UniqueFd fd(::open(tasks_file.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) {
    LogInfo("runtime: no cgroup warm-up before starts (open " + tasks_file.string() + " failed)");
    return;
  }
  // This thread's own id: a write naming the writer takes the lock that moves take (a "0" would
  // skip it), and the thread is in this cgroup already, so nothing moves.
  const std::string self = std::to_string(::gettid());
  MutexLock lock(mu_);
  for (;;) {
    while (!poked_ && !stopping_) cv_.wait(lock);
    if (stopping_) return;
    poked_ = false;
    lock.unlock();
    bool ok = ::write(fd.get(), self.data(), self.size()) == static_cast<ssize_t>(self.size());
    lock.lock();
    if (!ok) {
      LogInfo("runtime: cgroup warm-up before starts stops (write " + tasks_file.string() +
              " failed)");
      return;
    }
    ++writes_;
  }
}

}  // namespace berth
