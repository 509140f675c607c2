// FakeRuntime keeps the real runtime's contract, no kinder (STYLE.md).
#include "runtime/fake_runtime.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

namespace berth {
namespace {

using std::chrono::milliseconds;

// MonitorWatcher::Stop waits for a callback in progress; StopWatching returned while one ran,
// so its owner could be destroyed under it.
TEST(FakeRuntimeTest, StopWatchingWaitsForAnExitCallbackInProgress) {
  FakeRuntime runtime;
  JobSpec spec;
  spec.image = "busybox";
  ASSERT_TRUE(runtime.Start("job", spec, nullptr).ok());
  std::promise<void> entered;
  std::promise<void> leave;
  std::shared_future<void> may_leave = leave.get_future().share();
  std::atomic<bool> callback_done{false};
  ASSERT_TRUE(runtime
                  .Watch("job",
                         [&](const std::string&, Outcome) {
                           entered.set_value();
                           may_leave.wait();
                           callback_done = true;
                         })
                  .ok());
  std::thread finisher([&] { runtime.Finish("job", Exited{0}); });
  entered.get_future().wait();
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    runtime.StopWatching();
    stopped = true;
  });
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_FALSE(stopped) << "StopWatching returned while a callback still ran";
  leave.set_value();
  stopper.join();
  finisher.join();
  EXPECT_TRUE(stopped);
  EXPECT_TRUE(callback_done);
}

TEST(FakeRuntimeTest, AStartOnAnAbsentImagePullsItOnTheStartingThread) {
  FakeRuntime runtime;
  runtime.HoldPull("far/away:v1");
  EXPECT_FALSE(runtime.HasImage("far/away:v1"));
  JobSpec spec;
  spec.image = "far/away:v1";
  auto started =
      std::async(std::launch::async, [&] { return runtime.Start("job", spec, nullptr); });
  while (runtime.pulls_in_flight() == 0) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_EQ(started.wait_for(milliseconds(50)), std::future_status::timeout);
  runtime.ReleasePull("far/away:v1");
  EXPECT_TRUE(started.get().ok());
  EXPECT_TRUE(runtime.HasImage("far/away:v1"));
}

}  // namespace
}  // namespace berth
