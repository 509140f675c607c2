#include "runtime/monitor_watcher.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace berth {

MonitorWatcher::MonitorWatcher() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  thread_ = std::thread([this] { Loop(); });
}

MonitorWatcher::~MonitorWatcher() {
  Stop();
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

void MonitorWatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_, &one, sizeof one);
  (void)n;
  std::lock_guard<std::mutex> join_lock(join_mu_);
  if (thread_.joinable()) thread_.join();  // waits for a callback in progress
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [fd, cb] : watched_) ::close(fd);
  watched_.clear();
}

Status MonitorWatcher::Add(int pidfd, std::function<void()> on_exit) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) {
    ::close(pidfd);
    return Status::Unavailable("the monitor watcher has stopped");
  }
  watched_[pidfd] = std::move(on_exit);
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = pidfd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, pidfd, &ev) != 0) {
    int err = errno;
    watched_.erase(pidfd);
    ::close(pidfd);
    return ErrnoStatus("watch monitor", err);
  }
  return Status::Ok();
}

size_t MonitorWatcher::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return watched_.size();
}

void MonitorWatcher::Loop() {
  struct epoll_event events[64];
  for (;;) {
    int n = ::epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0 && errno != EINTR) return;
    std::vector<std::function<void()>> ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == wake_fd_) continue;
        auto it = watched_.find(fd);
        if (it == watched_.end()) continue;
        siginfo_t info{};
        // Reap it if it is our child; ECHILD for monitors adopted from an earlier daemon.
        ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &info, WEXITED | WNOHANG);
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
        ready.push_back(std::move(it->second));
        watched_.erase(it);
      }
    }
    for (auto& cb : ready) cb();
  }
}

}  // namespace berth
