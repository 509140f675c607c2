#include "common/file_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace berth {

class FileWatcher::Handle : public Watch {
 public:
  Handle(FileWatcher* owner, int wd, uint64_t key) : owner_(owner), wd_(wd), key_(key) {}
  ~Handle() override { owner_->Remove(wd_, key_); }

 private:
  FileWatcher* owner_;
  int wd_;
  uint64_t key_;
};

FileWatcher::FileWatcher()
    : inotify_(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)),
      stop_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (inotify_ && stop_) thread_ = std::thread([this] { Loop(); });
}

FileWatcher::~FileWatcher() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!::write(stop_.get(), &one, sizeof one);
  thread_.join();
}

std::unique_ptr<Watch> FileWatcher::WatchFile(const std::filesystem::path& path,
                                              std::function<void()> changed) {
  if (!thread_.joinable()) return nullptr;
  MutexLock lock(mu_);
  // The same file watched twice answers the same descriptor: its callbacks share it.
  int wd = ::inotify_add_watch(inotify_.get(), path.c_str(), IN_MODIFY);
  if (wd < 0) return nullptr;
  uint64_t key = next_key_++;
  watches_[wd].emplace(key, std::move(changed));
  return std::make_unique<Handle>(this, wd, key);
}

void FileWatcher::Remove(int wd, uint64_t key) {
  {
    MutexLock lock(mu_);
    auto it = watches_.find(wd);
    if (it != watches_.end()) {
      it->second.erase(key);
      if (it->second.empty()) {
        ::inotify_rm_watch(inotify_.get(), wd);
        watches_.erase(it);
      }
    }
  }
}

void FileWatcher::Loop() {
  alignas(inotify_event) char buf[4096];
  while (true) {
    struct pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
    if (n <= 0) continue;
    std::vector<int> changed;
    for (char* p = buf; p < buf + n;) {
      auto* e = reinterpret_cast<inotify_event*>(p);
      if (e->mask & IN_MODIFY) changed.push_back(e->wd);
      p += sizeof(inotify_event) + e->len;
    }
    std::vector<std::function<void()>> calls;
    {
      MutexLock lock(mu_);
      for (int wd : changed) {
        auto it = watches_.find(wd);
        if (it == watches_.end()) continue;
        for (const auto& [key, fn] : it->second) calls.push_back(fn);
      }
    }
    for (const auto& fn : calls) fn();
  }
}

}  // namespace berth
