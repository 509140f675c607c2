#include "common/top_directory.h"

#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/test_temp_dir.h"

namespace berth {
namespace {

long FileSystemType(const std::filesystem::path& dir) {
  struct statfs fs {};
  return ::statfs(dir.c_str(), &fs) == 0 ? static_cast<long>(fs.f_type) : -1;
}

class TopDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()) << "no temp directory"; }
  TestTempDir tmp_{"berth-topdir"};
  const std::filesystem::path& dir_ = tmp_.path();
};

// What the daemon's machines have (the data dir's file system): the flag is set, once, and the
// directories made in the marked one are not top directories themselves.
TEST_F(TopDirectoryTest, OnExt4TheFlagIsSetAndNotInherited) {
  ASSERT_EQ(FileSystemType(dir_), EXT4_SUPER_MAGIC)
      << dir_ << " is not on ext4: run the tests with TMPDIR on an ext4 file system";
  auto jobs = dir_ / "jobs";
  std::filesystem::create_directory(jobs);
  EXPECT_FALSE(IsTopDirectory(jobs));
  ASSERT_TRUE(MarkTopDirectory(jobs).ok());
  EXPECT_TRUE(IsTopDirectory(jobs));
  EXPECT_TRUE(MarkTopDirectory(jobs).ok()) << "marking it again changes nothing";
  EXPECT_TRUE(IsTopDirectory(jobs));
  std::filesystem::create_directory(jobs / "a-job");
  EXPECT_FALSE(IsTopDirectory(jobs / "a-job"));
}

TEST_F(TopDirectoryTest, AFileSystemWithoutTheFlagIsFineAndAMissingDirIsAnError) {
  ASSERT_EQ(FileSystemType("/dev/shm"), TMPFS_MAGIC) << "needs a tmpfs at /dev/shm";
  auto shm = std::filesystem::path("/dev/shm") / dir_.filename();
  std::filesystem::create_directories(shm);
  Status st = MarkTopDirectory(shm);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(IsTopDirectory(shm));
  std::filesystem::remove_all(shm);

  Status missing = MarkTopDirectory(dir_ / "none");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("none"), std::string::npos) << missing.ToString();
}

}  // namespace
}  // namespace berth
