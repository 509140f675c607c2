#include "runtime/cgroup_layout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace berth {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Mounts every host has, none of them a cgroup.
constexpr char kBaseMounts[] =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n"
    "23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
    "24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "25 22 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=8000000k,mode=755\n";

// A cgroup v1 host: a tmpfs at /sys/fs/cgroup with one cgroup mount per controller.
constexpr char kV1Mounts[] =
    "33 24 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "34 33 0:29 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup "
    "cgroup rw,xattr,name=systemd\n"
    "37 33 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup "
    "cgroup rw,memory\n"
    "38 33 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup "
    "cgroup rw,cpu,cpuacct\n"
    "39 33 0:34 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup "
    "rw,pids\n";

constexpr char kUnifiedMount[] =
    "35 33 0:30 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:11 - cgroup2 "
    "cgroup2 rw,nsdelegate\n";

constexpr char kV2Mount[] =
    "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

TEST(ParseCgroupLayoutTest, V1Host) {
  CgroupLayout layout = ParseCgroupLayout(std::string(kBaseMounts) + kV1Mounts);
  EXPECT_EQ(layout.mode, CgroupMode::kV1);
  EXPECT_THAT(layout.v1_mounts, ElementsAre("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/memory",
                                            "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/pids"));
  EXPECT_THAT(layout.v2_mounts, IsEmpty());
}

TEST(ParseCgroupLayoutTest, PureV2Host) {
  CgroupLayout layout = ParseCgroupLayout(std::string(kBaseMounts) + kV2Mount);
  EXPECT_EQ(layout.mode, CgroupMode::kV2);
  EXPECT_THAT(layout.v1_mounts, IsEmpty());
  EXPECT_THAT(layout.v2_mounts, ElementsAre("/sys/fs/cgroup"));
}

TEST(ParseCgroupLayoutTest, HybridHost) {
  CgroupLayout layout = ParseCgroupLayout(std::string(kBaseMounts) + kV1Mounts + kUnifiedMount);
  EXPECT_EQ(layout.mode, CgroupMode::kHybrid);
  EXPECT_EQ(layout.v1_mounts.size(), 4u);
  EXPECT_THAT(layout.v2_mounts, ElementsAre("/sys/fs/cgroup/unified"));
}

TEST(ParseCgroupLayoutTest, HostWithoutCgroups) {
  CgroupLayout layout = ParseCgroupLayout(kBaseMounts);
  EXPECT_EQ(layout.mode, CgroupMode::kNone);
  EXPECT_THAT(layout.v1_mounts, IsEmpty());
  EXPECT_THAT(layout.v2_mounts, IsEmpty());

  EXPECT_EQ(ParseCgroupLayout("").mode, CgroupMode::kNone);
}

TEST(ParseCgroupLayoutTest, LinesWithoutOptionalFieldsOrTrailingNewline) {
  // No "shared:N" optional fields, and the last line has no newline.
  CgroupLayout layout = ParseCgroupLayout(
      "36 35 98:0 /mnt1 /mnt2 rw,noatime - ext3 /dev/root rw,errors=continue\n"
      "40 35 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw");
  EXPECT_EQ(layout.mode, CgroupMode::kV2);
  EXPECT_THAT(layout.v2_mounts, ElementsAre("/sys/fs/cgroup"));
}

TEST(ParseCgroupLayoutTest, OnlyTheFilesystemTypeCounts) {
  // A tmpfs whose source is called "cgroup", and a mount point that looks like a cgroup one.
  CgroupLayout layout = ParseCgroupLayout(
      "50 24 0:40 / /sys/fs/cgroup rw shared:9 - tmpfs cgroup rw\n"
      "51 24 0:41 / /cgroup2 rw shared:9 - ext4 /dev/cgroup2 rw\n");
  EXPECT_EQ(layout.mode, CgroupMode::kNone);
  EXPECT_THAT(layout.v1_mounts, IsEmpty());
  EXPECT_THAT(layout.v2_mounts, IsEmpty());
}

TEST(CgroupModeTest, ToString) {
  EXPECT_EQ(ToString(CgroupMode::kV1), "v1");
  EXPECT_EQ(ToString(CgroupMode::kV2), "v2");
  EXPECT_EQ(ToString(CgroupMode::kHybrid), "hybrid");
  EXPECT_EQ(ToString(CgroupMode::kNone), "none");
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

TEST(OomEventsFileTest, V1MemoryControllerV2EventsNoneWithoutMemory) {
  CgroupLayout v1;
  v1.mode = CgroupMode::kHybrid;
  v1.v1_mounts = {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory"};
  v1.v2_mounts = {"/sys/fs/cgroup/unified"};
  EXPECT_EQ(OomEventsFile(v1, "/berth-x"), "/sys/fs/cgroup/memory/berth-x/memory.oom_control");
  v1.v1_mounts = {"/c/cpu,memory"};
  EXPECT_EQ(OomEventsFile(v1, "berth-x"), "/c/cpu,memory/berth-x/memory.oom_control");
  CgroupLayout v2;
  v2.mode = CgroupMode::kV2;
  v2.v2_mounts = {"/sys/fs/cgroup"};
  EXPECT_EQ(OomEventsFile(v2, "/berth-x"), "/sys/fs/cgroup/berth-x/memory.events");
  CgroupLayout hybrid_without_memory;
  hybrid_without_memory.mode = CgroupMode::kHybrid;
  hybrid_without_memory.v1_mounts = {"/sys/fs/cgroup/pids"};
  hybrid_without_memory.v2_mounts = {"/sys/fs/cgroup/unified"};
  EXPECT_EQ(OomEventsFile(hybrid_without_memory, "/b"), "");
}

}  // namespace
}  // namespace berth
