#include "runtime/cgroup_layout.h"

#include <sstream>

#include "common/files.h"

namespace berth {

CgroupLayout ParseCgroupLayout(std::string_view mountinfo) {
  CgroupLayout layout;
  std::istringstream in{std::string(mountinfo)};
  std::string line;
  while (std::getline(in, line)) {
    // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount_point, tok;
    fields >> id >> parent >> dev >> root >> mount_point;
    while (fields >> tok && tok != "-") {
    }
    std::string fstype;
    fields >> fstype;
    if (fstype == "cgroup") layout.v1_mounts.push_back(mount_point);
    if (fstype == "cgroup2") layout.v2_mounts.push_back(mount_point);
  }
  if (!layout.v1_mounts.empty() && !layout.v2_mounts.empty()) {
    layout.mode = CgroupMode::kHybrid;
  } else if (!layout.v1_mounts.empty()) {
    layout.mode = CgroupMode::kV1;
  } else if (!layout.v2_mounts.empty()) {
    layout.mode = CgroupMode::kV2;
  }
  return layout;
}

CgroupLayout DetectCgroupLayout() {
  auto text = ReadFile("/proc/self/mountinfo");
  return text.ok() ? ParseCgroupLayout(*text) : CgroupLayout{};
}

std::string_view ToString(CgroupMode mode) {
  switch (mode) {
    case CgroupMode::kV1:
      return "v1";
    case CgroupMode::kV2:
      return "v2";
    case CgroupMode::kHybrid:
      return "hybrid";
    case CgroupMode::kNone:
      return "none";
  }
  return "none";
}

std::string OomEventsFile(const CgroupLayout& layout, std::string_view cgroup_path) {
  std::string path = (cgroup_path.starts_with('/') ? "" : "/") + std::string(cgroup_path);
  for (const auto& m : layout.v1_mounts) {
    // v1 controllers are mounted at .../memory or a co-mounted .../cpu,memory.
    std::string base = m.substr(m.rfind('/') + 1);
    std::istringstream names(base);
    std::string name;
    while (std::getline(names, name, ',')) {
      if (name == "memory") return m + path + "/memory.oom_control";
    }
  }
  if (layout.mode == CgroupMode::kV2 && !layout.v2_mounts.empty()) {
    return layout.v2_mounts.front() + path + "/memory.events";
  }
  return "";
}

}  // namespace berth
