#include "runtime/seccomp.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/mutex.h"
#include "images/registry_auth.h"
#include "runtime/seccomp_bpf.h"

namespace berth {
namespace {

using json = nlohmann::json;

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::vector<std::string> Strings(const json& cond, const char* key) {
  if (!cond.is_object() || !cond.contains(key) || !cond[key].is_array()) return {};
  return cond[key].get<std::vector<std::string>>();
}

// Whether a "syscalls" entry applies to `target`.
bool Applies(const json& entry, const SeccompTarget& target) {
  json inc = entry.value("includes", json::object());
  json exc = entry.value("excludes", json::object());
  for (const auto& cap : Strings(inc, "caps")) {
    if (!Contains(target.caps, cap)) return false;
  }
  std::vector<std::string> arches = Strings(inc, "arches");
  if (!arches.empty() && !Contains(arches, target.arch)) return false;
  for (const auto& cap : Strings(exc, "caps")) {
    if (Contains(target.caps, cap)) return false;
  }
  return !Contains(Strings(exc, "arches"), target.arch);
}

json Architectures(const json& profile, const SeccompTarget& target) {
  json arches = json::array({target.scmp_arch});
  for (const auto& m : profile.value("archMap", json::array())) {
    if (m.value("architecture", "") != target.scmp_arch) continue;
    for (const auto& sub : m.value("subArchitectures", json::array())) arches.push_back(sub);
  }
  return arches;
}

json Translate(const json& profile, const SeccompTarget& target) {
  json out = {{"defaultAction", profile.at("defaultAction").get<std::string>()},
              {"architectures", Architectures(profile, target)}};
  if (profile.contains("defaultErrnoRet")) {
    out["defaultErrnoRet"] = profile["defaultErrnoRet"].get<uint32_t>();
  }
  json syscalls = json::array();
  for (const auto& entry : profile.value("syscalls", json::array())) {
    if (!Applies(entry, target)) continue;
    json names = entry.contains("names") ? entry["names"] : json::array();
    if (entry.contains("name")) names.push_back(entry["name"]);
    if (names.empty()) continue;
    json call = {{"names", names}, {"action", entry.at("action").get<std::string>()}};
    if (entry.contains("errnoRet")) call["errnoRet"] = entry["errnoRet"].get<uint32_t>();
    json args = json::array();
    if (entry.contains("args") && entry["args"].is_array()) {
      for (const auto& a : entry["args"]) {
        args.push_back({{"index", a.at("index").get<uint32_t>()},
                        {"value", a.at("value").get<uint64_t>()},
                        {"valueTwo", a.value("valueTwo", uint64_t{0})},
                        {"op", a.at("op").get<std::string>()}});
      }
    }
    if (!args.empty()) call["args"] = args;
    syscalls.push_back(call);
  }
  out["syscalls"] = syscalls;
  return out;
}

}  // namespace

Result<std::shared_ptr<const SeccompFilter>> CachedSeccompFilter(std::string_view profile,
                                                                 const SeccompTarget& target) {
  static Mutex mu;
  static std::map<std::string, std::shared_ptr<const SeccompFilter>> cache;  // guarded by mu
  std::string key = std::to_string(std::hash<std::string_view>{}(profile)) + ":" +
                    std::to_string(profile.size()) + ":" + target.arch + ":" + target.scmp_arch;
  for (const auto& cap : target.caps) key += ":" + cap;
  {
    MutexLock lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  auto filter = std::make_shared<SeccompFilter>();
  try {
    json doc = json::parse(profile.begin(), profile.end());
    if (!doc.is_object()) return Status::InvalidArgument("seccomp profile: not a JSON object");
    filter->section = Translate(doc, target);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("seccomp profile: ") + e.what());
  }
  if (auto bpf = CompileSeccompBpf(filter->section); bpf.ok()) {
    filter->bpf = std::move(*bpf);
    filter->bpf_base64 = Base64Encode(filter->bpf);
  } else {
    LogWarn("seccomp: the runtime compiles the filter at each start",
            {{"reason", bpf.status().ToString()}});
  }
  MutexLock lock(mu);
  if (cache.size() >= 32) cache.clear();
  cache.emplace(key, filter);
  return std::shared_ptr<const SeccompFilter>(filter);
}

Result<std::string> TranslateSeccompProfile(std::string_view profile, const SeccompTarget& target) {
  try {
    json doc = json::parse(profile.begin(), profile.end());
    if (!doc.is_object()) return Status::InvalidArgument("seccomp profile: not a JSON object");
    return Translate(doc, target).dump();
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("seccomp profile: ") + e.what());
  }
}

}  // namespace berth
