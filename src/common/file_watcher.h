// FileWatcher: calls back when a file is written to (inotify), on one thread of its own. The
// daemon uses it to wake the followers of a job's log as soon as the job's monitor appends to
// it, instead of on their next poll. Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "common/mutex.h"
#include "common/unique_fd.h"

namespace berth {

// A watch: its callback is not called once this is destroyed. A call that had already begun
// may still be running when the destructor returns (waiting for it could deadlock on a lock
// that the call needs and the destroyer holds): a callback holds what it uses.
class Watch {
 public:
  virtual ~Watch() = default;
};

class FileWatcher {
 public:
  FileWatcher();
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Calls `changed` (on the watcher's thread) each time `path` is written to, until the watch
  // is destroyed. `changed` must be quick (hand the work to another thread). Null when the file
  // cannot be watched (it does not exist, or the inotify limits are reached): poll it instead.
  std::unique_ptr<Watch> WatchFile(const std::filesystem::path& path,
                                   std::function<void()> changed);

 private:
  class Handle;
  void Loop();
  void Remove(int wd, uint64_t key);

  UniqueFd inotify_;
  UniqueFd stop_;  // an eventfd: the destructor ends the loop through it
  Mutex mu_;
  std::map<int, std::map<uint64_t, std::function<void()>>> watches_ GUARDED_BY(mu_);
  uint64_t next_key_ GUARDED_BY(mu_) = 1;
  std::thread thread_;
};

}  // namespace berth
