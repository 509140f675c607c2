#include "runtime/image_user.h"

#include <sstream>

#include "common/files.h"

namespace berth {
namespace {

bool IsNumber(const std::string& s) {
  return !s.empty() && s.size() <= 10 && s.find_first_not_of("0123456789") == std::string::npos;
}

// The topmost layer's copy of `rel` (e.g. "etc/passwd"), or "" when no layer has it.
std::string ReadFromLayers(const std::vector<std::filesystem::path>& layers, const char* rel) {
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    std::error_code ec;
    auto p = *it / rel;
    if (std::filesystem::is_regular_file(std::filesystem::symlink_status(p, ec))) {
      auto text = ReadFile(p);
      if (text.ok()) return *text;
    }
  }
  return "";
}

// Field `field` (0-based, ':'-separated) of the line whose first field is `name`.
std::string Lookup(const std::string& table, const std::string& name, int field) {
  std::istringstream in(table);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> parts;
    std::stringstream ls(line);
    std::string part;
    while (std::getline(ls, part, ':')) parts.push_back(part);
    if (parts.size() > static_cast<size_t>(field) && parts[0] == name) return parts[field];
  }
  return "";
}

}  // namespace

Result<std::string> ResolveImageUser(const std::string& user,
                                     const std::vector<std::filesystem::path>& layers) {
  if (user.empty()) return user;
  size_t colon = user.find(':');
  std::string u = user.substr(0, colon);
  std::string g = colon == std::string::npos ? "" : user.substr(colon + 1);
  if (IsNumber(u) && (g.empty() || IsNumber(g))) return user;
  std::string passwd = ReadFromLayers(layers, "etc/passwd");
  std::string uid = u, gid = g;
  if (!IsNumber(u)) {
    uid = Lookup(passwd, u, 2);
    if (!IsNumber(uid)) {
      return Status::FailedPrecondition("image user '" + u + "' is not in the image's /etc/passwd");
    }
    if (g.empty()) gid = Lookup(passwd, u, 3);
  }
  if (!gid.empty() && !IsNumber(gid)) {
    std::string group = ReadFromLayers(layers, "etc/group");
    std::string name = gid;
    gid = Lookup(group, name, 2);
    if (!IsNumber(gid)) {
      return Status::FailedPrecondition("image group '" + name +
                                        "' is not in the image's /etc/group");
    }
  }
  return gid.empty() ? uid : uid + ":" + gid;
}

}  // namespace berth
