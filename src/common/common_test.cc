// Unit tests of the common layer: Status/Result, ids and secrets, file helpers, time, the
// scheduler and the thread pool.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/files.h"
#include "common/random.h"
#include "common/scheduler.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "common/url_encoding.h"

namespace berth {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(PercentEncodeTest, KeepsUnreservedAndEncodesEveryOtherByteInUpperCaseHex) {
  EXPECT_EQ(PercentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(PercentEncode("a b/c?d=e&f+g%"), "a%20b%2Fc%3Fd%3De%26f%2Bg%25");
  EXPECT_EQ(PercentEncode(std::string("\0\xff", 2)), "%00%FF");
  EXPECT_EQ(PercentEncode(""), "");
}

TEST(StatusTest, ResultCarriesValueOrErrorThroughTheMacros) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Quarter(6).status().ToString(), "InvalidArgument: odd");
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::NotFound("x").WithContext("job 1").message(), "job 1: x");
}

TEST(StatusTest, ErrnoMapsToCodes) {
  EXPECT_TRUE(ErrnoStatus("open", ENOENT).IsNotFound());
  EXPECT_EQ(ErrnoStatus("write", ENOSPC).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus("open", EACCES).code(), StatusCode::kPermissionDenied);
  EXPECT_NE(ErrnoStatus("open", ENOENT).message().find("open: "), std::string::npos);
}

TEST(RandomTest, UuidsAreVersion4CanonicalAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewUuidV4();
    ASSERT_TRUE(IsCanonicalUuid(id)) << id;
    EXPECT_EQ(id[14], '4');
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_FALSE(IsCanonicalUuid("not-a-uuid"));
  EXPECT_FALSE(IsCanonicalUuid("6d07bd04-5382-4654-a376-c8a8446cdac4x"));
  EXPECT_FALSE(IsCanonicalUuid("6d07bd04+5382-4654-a376-c8a8446cdac4"));
  EXPECT_FALSE(IsCanonicalUuid("6d07bd04-5382-4654-a376-c8a8446cdacg"));
}

// Ids are drawn from a per-thread block of random bytes: a forked child must not draw the ids its
// parent draws next (fails without the block being dropped at fork).
TEST(RandomTest, AForkedChildDoesNotRepeatItsParentsNextIds) {
  NewUuidV4();  // the block is filled and has ids left in it
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string child = NewUuidV4() + NewUuidV4();
    _exit(write(fds[1], child.data(), child.size()) == static_cast<ssize_t>(child.size()) ? 0 : 1);
  }
  close(fds[1]);
  std::string parent = NewUuidV4() + NewUuidV4();
  char buf[72];
  size_t got = 0;
  while (got < sizeof buf) {
    ssize_t n = read(fds[0], buf + got, sizeof buf - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_EQ(got, sizeof buf);
  std::string child(buf, got);
  EXPECT_NE(child.substr(0, 36), parent.substr(0, 36));
  EXPECT_NE(child.substr(36), parent.substr(36));
  EXPECT_NE(child.substr(0, 36), parent.substr(36));
}

TEST(RandomTest, TokensAreUrlSafeAndSecretsCompare) {
  std::string t = RandomUrlSafeToken(32);
  EXPECT_EQ(t.size(), 43u);  // 256 bits in base64 without padding
  EXPECT_EQ(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_NE(t, RandomUrlSafeToken(32));
  EXPECT_TRUE(ConstantTimeEquals(t, t));
  EXPECT_FALSE(ConstantTimeEquals(t, t.substr(1)));
  EXPECT_FALSE(ConstantTimeEquals("", t));
}

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-files-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(FilesTest, AtomicWritesReplaceWholeFilesWithTheirMode) {
  auto p = dir_ / "a.json";
  ASSERT_TRUE(WriteFileAtomic(p, "one", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(p, "two!", 0600).ok());
  EXPECT_EQ(*ReadFile(p), "two!");
  struct stat st {};
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(WriteFileReplace(p, "three", 0644).ok());
  EXPECT_EQ(*ReadFile(p), "three");
  size_t entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u) << "no temp file left behind";
  EXPECT_FALSE(WriteFileAtomic(dir_ / "missing" / "x", "y").ok());
}

TEST_F(FilesTest, ReadsTailsAndProcFiles) {
  auto p = dir_ / "log";
  ASSERT_TRUE(WriteFileAtomic(p, "0123456789").ok());
  auto tail = ReadFileTail(p, 4);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->data, "6789");
  EXPECT_TRUE(tail->truncated);
  EXPECT_FALSE(ReadFileTail(p, 100)->truncated);
  EXPECT_TRUE(ReadFile(dir_ / "nope").status().IsNotFound());
  // /proc files report size 0: they must still be read whole.
  auto stat = ReadFile("/proc/self/stat");
  ASSERT_TRUE(stat.ok());
  EXPECT_GT(stat->size(), 20u);
  ASSERT_TRUE(MakeDirs(dir_ / "a" / "b" / "c").ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir_ / "a" / "b" / "c"));
}

TEST(ClockTest, FormatsRfc3339InUtcWithMilliseconds) {
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(1'700'000'000'123)), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(ToUnixMillis(FromUnixMillis(42)), 42);
  // The same second again, the next one, and back (the date part is kept between calls).
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(1'700'000'000'009)), "2023-11-14T22:13:20.009Z");
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(1'700'000'001'050)), "2023-11-14T22:13:21.050Z");
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(1'700'000'000'999)), "2023-11-14T22:13:20.999Z");
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(-1)), "1969-12-31T23:59:59.999Z");
}

TEST(SchedulerTest, RunsTasksWhenTheFakeClockReachesThemAndCancelDropsThem) {
  FakeClock clock;
  Scheduler scheduler(clock, milliseconds(5));
  std::atomic<int> ran{0};
  scheduler.After(milliseconds(1000), [&] { ran += 1; });
  uint64_t dropped = scheduler.After(milliseconds(1000), [&] { ran += 100; });
  scheduler.After(milliseconds(5000), [&] { ran += 10; });
  EXPECT_TRUE(scheduler.Cancel(dropped));
  EXPECT_FALSE(scheduler.Cancel(dropped));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(ran.load(), 0) << "nothing is due before the clock moves";
  clock.Advance(milliseconds(1000));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (ran.load() != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(ran.load(), 1);
  clock.Advance(milliseconds(4000));
  while (ran.load() != 11 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(ran.load(), 11);
}

TEST(ThreadPoolTest, RunsEveryTaskBeforeItIsDestroyed) {
  std::atomic<int> n{0};
  {
    ThreadPool pool(3);
    for (int i = 0; i < 100; ++i) pool.Post([&] { n += 1; });
  }
  EXPECT_EQ(n.load(), 100);
}

}  // namespace
}  // namespace berth

#include "common/log_text.h"

namespace berth {
namespace {

// Issue 10: registry and runtime text reached the daemon's log unescaped.
TEST(EscapeForLogTest, ControlBytesCannotCutOrDriveTheLog) {
  EXPECT_EQ(EscapeForLog("plain text: ok"), "plain text: ok");
  EXPECT_EQ(EscapeForLog(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(EscapeForLog("line1\nberth: fake line\r"), "line1\\nberth: fake line\\r");
  EXPECT_EQ(EscapeForLog("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(EscapeForLog("tab\there \\ \x7f"), "tab\\there \\\\ \\x7f");
  EXPECT_EQ(EscapeForLog("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 stays readable
  EXPECT_EQ(EscapeForLog(std::string(10, 'x'), 4), "xxxx...");
}

}  // namespace
}  // namespace berth
