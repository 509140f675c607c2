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

// A queued job's log: neither it nor its directory is there yet. The watch waits in the nearest
// directory that is, hears the file appear, then its writes.
TEST_F(FileWatcherTest, AFileNotThereYetIsHeardWhenItAppearsThenWhenWritten) {
  FileWatcher watcher;
  std::atomic<int> calls{0};
  std::filesystem::path later = dir_ / "job" / "log";
  auto w = watcher.WatchFile(later, [&calls] { ++calls; });
  ASSERT_NE(w, nullptr);
  std::filesystem::create_directory(dir_ / "job");
  std::filesystem::create_directory(dir_ / "other");   // another job's directory: not a call
  std::ofstream(dir_ / "job" / "monitor.log") << "x";  // another file of the job: not a call
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(calls.load(), 0);
  std::ofstream(later) << "";  // created empty
  EXPECT_TRUE(Reaches(calls, 1, milliseconds(2000))) << "the file appeared";
  std::this_thread::sleep_for(milliseconds(50));
  int after_create = calls.load();
  std::ofstream(later, std::ios::app) << "first\n";
  EXPECT_TRUE(Reaches(calls, after_create + 1, milliseconds(2000))) << "the file was written";
}

// The monitor trims a log by renaming a shorter copy over it: the watch follows the new file.
TEST_F(FileWatcherTest, AFileRenamedIntoPlaceIsHeardAndSoAreItsWrites) {
  FileWatcher watcher;
  std::atomic<int> calls{0};
  std::filesystem::path later = dir_ / "renamed";
  auto w = watcher.WatchFile(later, [&calls] { ++calls; });
  ASSERT_NE(w, nullptr);
  std::ofstream(dir_ / "renamed.tmp") << "whole\n";
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(calls.load(), 0);
  std::filesystem::rename(dir_ / "renamed.tmp", later);
  EXPECT_TRUE(Reaches(calls, 1, milliseconds(2000)));
  std::ofstream(dir_ / "renamed.tmp") << "shorter\n";
  std::filesystem::rename(dir_ / "renamed.tmp", later);  // replaces the watched file
  EXPECT_TRUE(Reaches(calls, 2, milliseconds(2000)));
  std::this_thread::sleep_for(milliseconds(50));
  int before = calls.load();
  std::ofstream(later, std::ios::app) << "more\n";
  EXPECT_TRUE(Reaches(calls, before + 1, milliseconds(2000))) << "writes to the new file";
}

TEST_F(FileWatcherTest, AWatchOfAFileNotThereYetDestroyedBeforeItAppearsIsNeverCalled) {
  FileWatcher watcher;
  std::atomic<int> calls{0};
  auto w = watcher.WatchFile(dir_ / "job" / "log", [&calls] { ++calls; });
  ASSERT_NE(w, nullptr);
  w.reset();
  std::filesystem::create_directory(dir_ / "job");
  std::ofstream(dir_ / "job" / "log") << "x\n";
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(FileWatcherTest, AFileUnderAFileCanNeverBeAndCannotBeWatched) {
  FileWatcher watcher;
  EXPECT_EQ(watcher.WatchFile(file_ / "log", [] {}), nullptr);
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
