#include "common/spare_directories.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/test_temp_dir.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

ino_t Inode(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

class SpareDirectoriesTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(parent_.empty()) << "no temp directory"; }
  TestTempDir tmp_{"berth-spares"};
  const fs::path& parent_ = tmp_.path();
};

TEST_F(SpareDirectoriesTest, AReadySpareBecomesTheNewDirectory) {
  SpareDirectories spares(parent_, 2, 0700);
  spares.Refill();
  ASSERT_EQ(spares.ready(), 2);
  std::set<ino_t> spare_inodes;
  for (const std::string& name : Entries(parent_)) {
    EXPECT_TRUE(SpareDirectories::IsSpare(name)) << name;
    spare_inodes.insert(Inode(parent_ / name));
  }
  ASSERT_TRUE(spares.Make(parent_ / "job-1").ok());
  EXPECT_TRUE(fs::is_directory(parent_ / "job-1"));
  EXPECT_TRUE(spare_inodes.count(Inode(parent_ / "job-1"))) << "renamed, not made";
  EXPECT_EQ(spares.ready(), 1);
  EXPECT_EQ(fs::status(parent_ / "job-1").permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(Entries(parent_).size(), 2u);
}

TEST_F(SpareDirectoriesTest, WithoutASpareTheDirectoryIsMadeAndAnExistingOneIsKept) {
  SpareDirectories spares(parent_, 1, 0700);
  ASSERT_TRUE(spares.Make(parent_ / "job-1").ok()) << "no spare yet: a plain mkdir";
  EXPECT_TRUE(fs::is_directory(parent_ / "job-1"));
  std::ofstream(parent_ / "job-1" / "log") << "an earlier attempt's output";
  spares.Refill();
  ASSERT_TRUE(spares.Make(parent_ / "job-1").ok());
  EXPECT_TRUE(fs::exists(parent_ / "job-1" / "log")) << "an existing directory is left alone";
  EXPECT_EQ(spares.ready(), 1) << "the spare is kept for the next one";
  Status bad = spares.Make(parent_ / "no-such-dir" / "job-2");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("job-2"), std::string::npos) << bad.ToString();
}

TEST_F(SpareDirectoriesTest, AdoptTakesOverEmptySparesAndRemovesTheRest) {
  {
    SpareDirectories earlier(parent_, 3, 0700);
    earlier.Refill();
  }
  std::vector<std::string> left = Entries(parent_);
  ASSERT_EQ(left.size(), 3u);
  std::ofstream(parent_ / left[0] / "stray") << "x";
  fs::create_directory(parent_ / "a-job");
  SpareDirectories spares(parent_, 3, 0700);
  spares.Adopt();
  EXPECT_EQ(spares.ready(), 3);
  EXPECT_FALSE(fs::exists(parent_ / left[0])) << "a spare that is not empty goes";
  EXPECT_TRUE(fs::exists(parent_ / left[1])) << "an empty one is used again";
  EXPECT_TRUE(fs::exists(parent_ / "a-job")) << "what is not a spare is not touched";
  EXPECT_EQ(Entries(parent_).size(), 4u);
}

TEST_F(SpareDirectoriesTest, ConcurrentMakesEachGetTheirOwnDirectory) {
  SpareDirectories spares(parent_, 4, 0700);
  spares.Refill();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        EXPECT_TRUE(
            spares.Make(parent_ / ("job-" + std::to_string(t) + "-" + std::to_string(i))).ok());
        spares.Refill();
      }
    });
  }
  for (auto& th : threads) th.join();
  int jobs = 0, spare_count = 0;
  for (const std::string& name : Entries(parent_)) {
    (SpareDirectories::IsSpare(name) ? spare_count : jobs)++;
  }
  EXPECT_EQ(jobs, 160);
  EXPECT_EQ(spare_count, spares.ready());
  EXPECT_LE(spare_count, 4);
}

}  // namespace
}  // namespace berth
