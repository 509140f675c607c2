// End-to-end: a full disk. New submissions answer 503 (never a crash, never a lying 202), the
// server keeps serving, and every job acknowledged with 202 is still there once space is back.
// The data dir is a small tmpfs the test mounts; needs root.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <thread>

#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

using nlohmann::json;

// Writes zeros to `path` until the file system is full.
void FillDisk(const std::filesystem::path& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  std::string block(1 << 16, '\0');
  while (write(fd, block.data(), block.size()) > 0) {
  }
  // Top up the last partial block.
  while (write(fd, block.data(), 1) > 0) {
  }
  close(fd);
}

TEST(DiskFullTest, SubmitsAnswer503AndNoAcknowledgedJobIsLost) {
  if (geteuid() != 0) GTEST_FAIL() << "needs root (mounts a tmpfs)";
  const json settings = {{"DispatchPaused", "true"}};
  BerthProcess berth(settings);
  ASSERT_FALSE(berth.url().empty());
  berth.Stop();
  std::filesystem::remove_all(berth.data_dir());
  std::filesystem::create_directories(berth.data_dir());
  ASSERT_EQ(mount("tmpfs", berth.data_dir().c_str(), "tmpfs", 0, "size=24m"), 0);
  ASSERT_TRUE(berth.Restart(settings));

  std::vector<std::string> acked;
  acked.push_back(berth.SubmitOk(R"({"image":"busybox","command":"true"})"));
  FillDisk(berth.data_dir() / "filler");
  int unavailable = 0, other = 0;
  for (int i = 0; i < 300; ++i) {
    Reply r =
        berth.Submit(R"({"image":"busybox","command":"echo )" + std::string(2000, 'x') + "\"}");
    if (r.status == 202) {
      acked.push_back(r.Json().value("id", ""));
    } else if (r.status == 503) {
      ++unavailable;
      EXPECT_TRUE(r.Json()["error"]["message"].is_string()) << r.body;
    } else {
      ++other;
      ADD_FAILURE() << "unexpected answer " << r.status << ": " << r.body;
    }
  }
  EXPECT_GT(unavailable, 0) << "a full disk must refuse new jobs";
  EXPECT_EQ(other, 0);
  EXPECT_EQ(Http("GET", berth.url() + "/healthz").status, 200) << "still serving";

  std::filesystem::remove(berth.data_dir() / "filler");
  EXPECT_EQ(berth.Submit(R"({"image":"busybox","command":"true"})").status, 202)
      << "accepts jobs again once there is space";
  // Every acknowledged job survives, even across a crash and restart.
  ASSERT_TRUE(berth.Restart(settings));
  for (const auto& id : acked) {
    Reply r = berth.Status(id);
    EXPECT_EQ(r.status, 202) << id << ": " << r.body;
    EXPECT_EQ(r.Json().value("state", ""), "Queued") << id;
  }
}

}  // namespace
}  // namespace berth::e2e
