// Which cgroup layout the host has, read from /proc/self/mountinfo.
//
// Hybrid hosts (v1 controllers plus a cgroup2 mount, e.g. /sys/fs/cgroup/unified) are common;
// crun refuses them ("cgroups in hybrid mode not supported"). The monitor hides the cgroup2
// mounts in its private mount namespace so the runtime sees a plain v1 host.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth {

enum class CgroupMode { kV1, kV2, kHybrid, kNone };

struct CgroupLayout {
  CgroupMode mode = CgroupMode::kNone;
  std::vector<std::string> v1_mounts;
  std::vector<std::string> v2_mounts;
};

// Parses mountinfo text (the format of /proc/self/mountinfo).
CgroupLayout ParseCgroupLayout(std::string_view mountinfo);

// The running host's layout.
CgroupLayout DetectCgroupLayout();

std::string_view ToString(CgroupMode mode);

// The file that counts OOM kills in the cgroup at `cgroup_path` (e.g. "/berth-<id>"): the
// memory controller's memory.oom_control on v1 and hybrid hosts, memory.events on v2. Empty
// when the host has no memory controller. The monitor reads it (see shim/shim.h).
std::string OomEventsFile(const CgroupLayout& layout, std::string_view cgroup_path);

}  // namespace berth
