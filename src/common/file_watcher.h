// FileWatcher: calls back when a file is written to (inotify), on one thread of its own, and
// when a file not there yet appears (its nearest existing directory is watched until then). The
// daemon uses it to wake the followers of a job's log as soon as the job's monitor creates it or
// appends to it, instead of on their next poll. Thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <thread>

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

  // Calls `changed` (on the watcher's thread) each time `path` is written to, and once when it
  // appears (created, or renamed into place) if it is not there yet, until the watch is
  // destroyed. `changed` must be quick (hand the work to another thread). Null when the file
  // cannot be watched (a part of its path is not a directory, no part of it exists, or the
  // inotify limits are reached): poll it instead. The watcher outlives its watches.
  std::unique_ptr<Watch> WatchFile(const std::filesystem::path& path,
                                   std::function<void()> changed);

 private:
  class Handle;
  class Impl;  // the inotify descriptor and the watches (file_watcher.cc)

  std::unique_ptr<Impl> impl_;
  std::thread thread_;  // runs impl_->Loop(); joined by the destructor
};

}  // namespace berth
