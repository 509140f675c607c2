#include "daemon/data_dir_lock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>

#include "common/files.h"

namespace berth {
namespace {

using ::testing::HasSubstr;

class DataDirLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-lock-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(DataDirLockTest, SecondHolderIsRefusedWithTheFirstOnesPid) {
  std::optional<DataDirLock> first;
  {
    auto lock = DataDirLock::Acquire(dir_);
    ASSERT_TRUE(lock.ok()) << lock.status().ToString();
    first.emplace(std::move(lock).value());
  }
  auto text = ReadFile(dir_ / "lock");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, std::to_string(getpid()) + "\n");

  // flock locks belong to the open file: a second open, even in this process, is refused.
  auto second = DataDirLock::Acquire(dir_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("pid " + std::to_string(getpid())));

  first.reset();  // released: the next daemon gets it
  auto third = DataDirLock::Acquire(dir_);
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

}  // namespace
}  // namespace berth
