// FileWatcher: writes to a watched file wake its watchers, and only while they watch.
#include "common/file_watcher.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

namespace berth {
namespace {

using std::chrono::milliseconds;

class FileWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-watch-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    file_ = dir_ / "log";
    std::ofstream(file_) << "";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Append(const std::string& text) { std::ofstream(file_, std::ios::app) << text; }

  // Waits up to `limit` for `count` to reach `want`.
  static bool Reaches(const std::atomic<int>& count, int want, milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (count.load() < want && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(1));
    return count.load() >= want;
  }

  std::filesystem::path dir_, file_;
};

TEST_F(FileWatcherTest, EveryWatcherOfAFileHearsItsWritesUntilItStops) {
  FileWatcher watcher;
  std::atomic<int> a{0}, b{0};
  auto wa = watcher.WatchFile(file_, [&a] { ++a; });
  auto wb = watcher.WatchFile(file_, [&b] { ++b; });
  ASSERT_NE(wa, nullptr);
  ASSERT_NE(wb, nullptr);
  Append("one\n");
  EXPECT_TRUE(Reaches(a, 1, milliseconds(2000)));
  EXPECT_TRUE(Reaches(b, 1, milliseconds(2000)));

  wa.reset();  // no call of `a` begins after this (one under way may end)
  std::this_thread::sleep_for(milliseconds(50));
  int a_after = a.load();
  Append("two\n");
  EXPECT_TRUE(Reaches(b, 2, milliseconds(2000))) << "the other watch still hears";
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(a.load(), a_after);
}

TEST_F(FileWatcherTest, AMissingFileCannotBeWatched) {
  FileWatcher watcher;
  EXPECT_EQ(watcher.WatchFile(dir_ / "nothing", [] {}), nullptr);
}

TEST_F(FileWatcherTest, AWatchDroppedByItsOwnCallbackDoesNotDeadlock) {
  FileWatcher watcher;
  std::atomic<int> calls{0};
  std::unique_ptr<Watch> w;
  w = watcher.WatchFile(file_, [&] {
    ++calls;
    w.reset();
  });
  ASSERT_NE(w, nullptr);
  Append("x\n");
  EXPECT_TRUE(Reaches(calls, 1, milliseconds(2000)));
  Append("y\n");
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace berth
