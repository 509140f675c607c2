// MonitorWatcher: one thread that waits on many processes through pidfds (epoll) and runs a
// callback when each ends. Reaps the process when it is our child. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <thread>

#include "common/mutex.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace berth {

class MonitorWatcher {
 public:
  // `after_batch`, when given, runs on the watcher thread after the callbacks of the processes
  // found ended together (one wake-up of the thread): what they leave to do in common can be
  // done once for all of them.
  explicit MonitorWatcher(std::function<void()> after_batch = {});
  ~MonitorWatcher();
  MonitorWatcher(const MonitorWatcher&) = delete;
  MonitorWatcher& operator=(const MonitorWatcher&) = delete;

  // Takes ownership of `pidfd`; runs `on_exit` on the watcher thread once the process ends.
  Status Add(int pidfd, std::function<void()> on_exit);

  // Stops watching: once it returns, no callback runs or will run (one running is waited for).
  // Idempotent; Add fails with Unavailable afterwards. Not to be called from a callback.
  void Stop();

  // How many processes are being watched.
  size_t size();

 private:
  void Loop();

  struct Watched {
    UniqueFd pidfd;
    std::function<void()> on_exit;
  };

  std::function<void()> after_batch_;
  UniqueFd epoll_fd_;
  UniqueFd wake_fd_;
  Mutex mu_;
  std::map<int, Watched> watched_ GUARDED_BY(mu_);  // by pidfd
  bool stopping_ GUARDED_BY(mu_) = false;
  Mutex join_mu_;  // serializes Stop's join
  std::thread thread_;
};

}  // namespace berth
