#include "runtime/monitor_watcher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace berth {
namespace {

using std::chrono::milliseconds;

// A child that waits for a signal; its pidfd.
struct Child {
  pid_t pid = -1;
  int pidfd = -1;
};

Child Spawn() {
  Child c;
  c.pid = ::fork();
  if (c.pid == 0) {
    ::pause();
    _exit(0);
  }
  c.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, c.pid, 0));
  return c;
}

bool WaitExited(pid_t pid) {
  // Not reaped (the watcher reaps): a zombie still has a /proc entry with state Z.
  for (int i = 0; i < 500; ++i) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == pid) {
      return true;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

TEST(MonitorWatcherTest, ProcessesThatEndTogetherShareOneAfterBatchCall) {
  std::mutex mu;
  std::condition_variable cv;
  bool release_first = false;
  std::vector<int> batches;  // callbacks seen by each after-batch call
  int callbacks = 0;
  MonitorWatcher watcher([&] {
    std::lock_guard<std::mutex> lock(mu);
    batches.push_back(callbacks);
    callbacks = 0;
    cv.notify_all();
  });
  Child a = Spawn(), b = Spawn(), c = Spawn();
  ASSERT_GE(a.pidfd, 0);
  // The first callback holds the watcher thread until b and c have both ended: the thread's
  // next wake-up finds them together.
  ASSERT_TRUE(watcher
                  .Add(a.pidfd,
                       [&] {
                         std::unique_lock<std::mutex> lock(mu);
                         cv.wait(lock, [&] { return release_first; });
                         ++callbacks;
                       })
                  .ok());
  for (Child* ch : {&b, &c}) {
    ASSERT_TRUE(watcher
                    .Add(ch->pidfd,
                         [&] {
                           std::lock_guard<std::mutex> lock(mu);
                           ++callbacks;
                         })
                    .ok());
  }
  ::kill(a.pid, SIGTERM);
  std::this_thread::sleep_for(milliseconds(100));  // the watcher is now in a's callback
  ::kill(b.pid, SIGTERM);
  ::kill(c.pid, SIGTERM);
  ASSERT_TRUE(WaitExited(b.pid));
  ASSERT_TRUE(WaitExited(c.pid));
  {
    std::lock_guard<std::mutex> lock(mu);
    release_first = true;
  }
  cv.notify_all();
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return batches.size() == 2; }));
  EXPECT_EQ(batches, (std::vector<int>{1, 2}));
}

TEST(MonitorWatcherTest, WithoutAnAfterBatchCallEachCallbackStillRuns) {
  MonitorWatcher watcher;
  std::atomic<int> ran{0};
  Child a = Spawn();
  ASSERT_TRUE(watcher.Add(a.pidfd, [&] { ++ran; }).ok());
  ::kill(a.pid, SIGTERM);
  for (int i = 0; i < 500 && ran == 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace berth
