#include "runtime/monitor_watcher.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

namespace berth {

MonitorWatcher::MonitorWatcher(std::function<void()> after_batch)
    : after_batch_(std::move(after_batch)) {
  epoll_fd_.Reset(::epoll_create1(EPOLL_CLOEXEC));
  wake_fd_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_.get();
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev);
  thread_ = std::thread([this] { Loop(); });
}

MonitorWatcher::~MonitorWatcher() { Stop(); }

void MonitorWatcher::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
  (void)n;
  MutexLock join_lock(join_mu_);
  if (thread_.joinable()) thread_.join();  // waits for a callback in progress
  MutexLock lock(mu_);
  watched_.clear();  // closes the pidfds
}

Status MonitorWatcher::Add(int pidfd, std::function<void()> on_exit) {
  UniqueFd fd(pidfd);
  MutexLock lock(mu_);
  if (stopping_) return Status::Unavailable("the monitor watcher has stopped");
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = pidfd;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, pidfd, &ev) != 0) {
    return ErrnoStatus("watch monitor", errno);
  }
  watched_[pidfd] = Watched{std::move(fd), std::move(on_exit)};
  return Status::Ok();
}

size_t MonitorWatcher::size() {
  MutexLock lock(mu_);
  return watched_.size();
}

void MonitorWatcher::Loop() {
  struct epoll_event events[64];
  for (;;) {
    int n = ::epoll_wait(epoll_fd_.get(), events, 64, -1);
    if (n < 0 && errno != EINTR) return;
    std::vector<std::function<void()>> ready;
    {
      MutexLock lock(mu_);
      if (stopping_) return;
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == wake_fd_.get()) continue;
        auto it = watched_.find(fd);
        if (it == watched_.end()) continue;
        siginfo_t info{};
        // Reap it if it is our child; ECHILD for monitors adopted from an earlier daemon.
        ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &info, WEXITED | WNOHANG);
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
        ready.push_back(std::move(it->second.on_exit));
        watched_.erase(it);  // closes the pidfd
      }
    }
    for (auto& cb : ready) cb();
    if (!ready.empty() && after_batch_) after_batch_();
  }
}

}  // namespace berth
