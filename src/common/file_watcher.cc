#include "common/file_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/unique_fd.h"

namespace berth {
namespace {

// One mask for every inotify watch: adding a watch to an inode already watched replaces its
// mask, and a directory may be watched for several files while a file is watched for writes.
// A directory's IN_MODIFY (a write to a file in it) is ignored, as are a file's creations.
constexpr uint32_t kMask = IN_MODIFY | IN_CREATE | IN_MOVED_TO;

// How many times one arming may find the next directory down already there (each step goes one
// level deeper, or starts over once a directory it stood on went away).
constexpr int kMaxArmSteps = 64;

}  // namespace

// The watches. A watch of a file that exists is an inotify watch of the file (IN_MODIFY calls
// back); of a file not there yet, an inotify watch of its nearest existing directory, moved one
// level down each time the next part of the path appears in it, and onto the file itself (with
// a call) once the file appears. Several watches may share an inotify watch (one inode).
class FileWatcher::Impl {
 public:
  Impl()
      : inotify_(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)),
        stop_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

  bool ok() const { return inotify_ && stop_; }

  // Ends Loop.
  void Stop() {
    uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
  }

  // A new watch's key, or 0 when it cannot be watched.
  uint64_t Add(const std::filesystem::path& path, std::function<void()> changed) {
    MutexLock lock(mu_);
    uint64_t key = next_key_++;
    Entry& e = entries_[key];
    e.target = path;
    e.changed = std::move(changed);
    if (!Arm(key, e)) {
      entries_.erase(key);
      return 0;
    }
    return key;
  }

  void Remove(uint64_t key) {
    MutexLock lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    Detach(key, it->second);
    entries_.erase(it);
  }

  void Loop();

 private:
  struct Entry {
    std::filesystem::path target;  // the file
    std::function<void()> changed;
    int wd = -1;               // its inotify watch; -1: none (the watched inode went away)
    std::filesystem::path at;  // what `wd` watches: `target`, or a directory above it
  };

  // Points `e`'s watch at its file, or at its nearest existing directory. False when neither
  // can be watched (the entry is then detached).
  bool Arm(uint64_t key, Entry& e) REQUIRES(mu_) {
    for (int step = 0; step < kMaxArmSteps; ++step) {
      std::filesystem::path at = e.target;
      int wd = ::inotify_add_watch(inotify_.get(), at.c_str(), kMask);
      while (wd < 0 && errno == ENOENT && at.has_relative_path()) {
        at = at.parent_path();
        wd = ::inotify_add_watch(inotify_.get(), at.c_str(), kMask | IN_ONLYDIR);
      }
      if (wd < 0) {
        Detach(key, e);
        return false;
      }
      if (wd != e.wd) {
        Detach(key, e);
        e.wd = wd;
        by_wd_[wd].insert(key);
      }
      e.at = at;
      // The next part down may have appeared before the watch began: no event will tell.
      if (at == e.target || !std::filesystem::exists(at / NextPart(e))) return true;
    }
    Detach(key, e);
    return false;
  }

  // The part of `e.target`'s path just below `e.at`.
  static std::filesystem::path NextPart(const Entry& e) {
    return *e.target.lexically_relative(e.at).begin();
  }

  // Takes `e` off its inotify watch (removed with its last entry).
  void Detach(uint64_t key, Entry& e) REQUIRES(mu_) {
    if (e.wd < 0) return;
    auto it = by_wd_.find(e.wd);
    if (it != by_wd_.end()) {
      it->second.erase(key);
      if (it->second.empty()) {
        ::inotify_rm_watch(inotify_.get(), e.wd);
        by_wd_.erase(it);
      }
    }
    e.wd = -1;
  }

  // The calls one inotify event makes; moves the watches it concerns.
  void OnEvent(const inotify_event& ev, std::vector<std::function<void()>>& calls) REQUIRES(mu_);

  UniqueFd inotify_;
  UniqueFd stop_;  // an eventfd: Stop ends the loop through it
  Mutex mu_;
  std::map<uint64_t, Entry> entries_ GUARDED_BY(mu_);
  std::map<int, std::set<uint64_t>> by_wd_ GUARDED_BY(mu_);
  uint64_t next_key_ GUARDED_BY(mu_) = 1;
};

void FileWatcher::Impl::OnEvent(const inotify_event& ev,
                                std::vector<std::function<void()>>& calls) {
  auto it = by_wd_.find(ev.wd);
  if (it == by_wd_.end()) return;
  std::set<uint64_t> keys = it->second;  // re-arming changes by_wd_
  if (ev.mask & IN_IGNORED) {
    // The watched inode went away (a file replaced by a rename, a directory removed): the
    // kernel dropped the watch. Its entries watch afresh from where the path now ends.
    by_wd_.erase(it);
    for (uint64_t key : keys) entries_[key].wd = -1;
  }
  for (uint64_t key : keys) {
    Entry& e = entries_[key];
    bool on_file = e.wd >= 0 && e.at == e.target;
    if (on_file) {
      if ((ev.mask & IN_MODIFY) && ev.len == 0) calls.push_back(e.changed);
      continue;
    }
    bool appeared = (ev.mask & (IN_CREATE | IN_MOVED_TO)) && ev.len > 0 &&
                    std::filesystem::path(ev.name) == NextPart(e);
    if (!appeared && !(ev.mask & IN_IGNORED)) continue;
    // A watch that cannot be armed again calls no more (its owner's poll still reads the file).
    if (Arm(key, e) && e.at == e.target) calls.push_back(e.changed);
  }
}

void FileWatcher::Impl::Loop() {
  alignas(inotify_event) char buf[4096];
  while (true) {
    struct pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
    if (n <= 0) continue;
    std::vector<std::function<void()>> calls;
    {
      MutexLock lock(mu_);
      for (char* p = buf; p < buf + n;) {
        auto* e = reinterpret_cast<inotify_event*>(p);
        OnEvent(*e, calls);
        p += sizeof(inotify_event) + e->len;
      }
    }
    // Outside the lock: a call may destroy a watch (its own, too).
    for (const auto& fn : calls) fn();
  }
}

class FileWatcher::Handle : public Watch {
 public:
  Handle(Impl* owner, uint64_t key) : owner_(owner), key_(key) {}
  ~Handle() override { owner_->Remove(key_); }

 private:
  Impl* owner_;
  uint64_t key_;
};

FileWatcher::FileWatcher() : impl_(std::make_unique<Impl>()) {
  if (impl_->ok()) thread_ = std::thread([this] { impl_->Loop(); });
}

FileWatcher::~FileWatcher() {
  if (!thread_.joinable()) return;
  impl_->Stop();
  thread_.join();
}

std::unique_ptr<Watch> FileWatcher::WatchFile(const std::filesystem::path& path,
                                              std::function<void()> changed) {
  if (!thread_.joinable()) return nullptr;
  uint64_t key = impl_->Add(path, std::move(changed));
  if (key == 0) return nullptr;
  return std::make_unique<Handle>(impl_.get(), key);
}

}  // namespace berth
