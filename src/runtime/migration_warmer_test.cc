#include "runtime/migration_warmer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "common/files.h"

namespace berth {
namespace {

CgroupLayout Hybrid() {
  CgroupLayout l;
  l.mode = CgroupMode::kHybrid;
  l.v1_mounts = {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids",
                 "/sys/fs/cgroup/systemd"};
  l.v2_mounts = {"/sys/fs/cgroup/unified"};
  return l;
}

TEST(MigrationWarmTargetTest, TheCallersOwnCgroupInAV1Hierarchy) {
  std::string self =
      "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/\n0::/\n";
  EXPECT_EQ(MigrationWarmTarget(Hybrid(), self), "/sys/fs/cgroup/systemd/tasks")
      << "its first line with a mounted hierarchy (the root cgroup: no path added)";
  EXPECT_EQ(MigrationWarmTarget(Hybrid(), "2:cpu,cpuacct:/\n"), "/sys/fs/cgroup/cpu,cpuacct/tasks");
  EXPECT_EQ(MigrationWarmTarget(Hybrid(), "4:memory:/process_api/abc\n"),
            "/sys/fs/cgroup/memory/process_api/abc/tasks");
  EXPECT_EQ(MigrationWarmTarget(Hybrid(), "9:name=systemd:/system.slice/berth.service\n"),
            "/sys/fs/cgroup/systemd/system.slice/berth.service/tasks");
}

TEST(MigrationWarmTargetTest, NoneOnV2OnlyHostsOrWithoutAMatchingHierarchy) {
  CgroupLayout v2;
  v2.mode = CgroupMode::kV2;
  v2.v2_mounts = {"/sys/fs/cgroup"};
  EXPECT_TRUE(MigrationWarmTarget(v2, "0::/system.slice/berth.service\n").empty());
  EXPECT_TRUE(MigrationWarmTarget(CgroupLayout{}, "").empty());
  EXPECT_TRUE(MigrationWarmTarget(Hybrid(), "0::/\n5:devices:/\n").empty())
      << "no mount for devices in this layout; the v2 line is never a target";
}

TEST(MigrationWarmerTest, WithoutATargetAPokeDoesNothing) {
  MigrationWarmer warmer{std::filesystem::path()};
  warmer.Poke();
  EXPECT_EQ(warmer.writes(), 0);
}

// Needs root and a v1 or hybrid cgroup host (CI's machines are hybrid): the write goes to this
// process's own cgroup, and nothing moves.
TEST(MigrationWarmerTest, APokeWritesToTheThreadsOwnCgroupAndMovesNothing) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root";
  CgroupLayout layout = DetectCgroupLayout();
  ASSERT_TRUE(layout.mode == CgroupMode::kV1 || layout.mode == CgroupMode::kHybrid)
      << "needs a v1 or hybrid cgroup host; this one is " << ToString(layout.mode);
  auto before = ReadFile("/proc/self/cgroup");
  ASSERT_TRUE(before.ok());
  std::filesystem::path target = MigrationWarmTarget(layout, *before);
  ASSERT_FALSE(target.empty()) << *before;
  MigrationWarmer warmer(target);
  for (int i = 0; i < 3; ++i) {
    warmer.Poke();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (warmer.writes() < i + 1 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(warmer.writes(), i + 1);
  }
  auto after = ReadFile("/proc/self/cgroup");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, *before);
}

}  // namespace
}  // namespace berth
