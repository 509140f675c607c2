#include "api/aci_json.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include "api/job_json.h"

namespace berth {
namespace {

using json = nlohmann::json;

constexpr std::string_view kNameAnnotation = "aci.name";
constexpr std::string_view kContainerAnnotation = "aci.container";
constexpr std::string_view kLocationAnnotation = "aci.location";
constexpr std::string_view kTagsAnnotation = "aci.tags";
constexpr std::string_view kResourcesAnnotation = "aci.resources";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

ArmError Invalid(std::string_view field, std::string_view problem) {
  return {400, "InvalidRequestContent",
          "The request content is invalid: '" + std::string(field) + "' " + std::string(problem)};
}

ArmError Unsupported(std::string_view field, std::string_view problem) {
  return {400, "UnsupportedFeature",
          "'" + std::string(field) + "' is not supported by berth: " + std::string(problem)};
}

// Whether `v` is absent in effect: null, an empty array or an empty object.
bool IsEmpty(const json& v) {
  return v.is_null() || ((v.is_array() || v.is_object()) && v.empty());
}

std::string Annotation(const JobRecord& job, std::string_view name) {
  auto it = job.spec.annotations.find(std::string(name));
  return it == job.spec.annotations.end() ? "" : it->second;
}

// resources.requests or .limits: {cpu, memoryInGB}, numbers > 0; `required` for requests.
std::optional<ArmError> ParseResourceValues(const json& v, const std::string& field, bool required,
                                            double& cpu, double& memory_gb) {
  if (!v.is_object()) return Invalid(field, "must be an object");
  for (const auto& [k, val] : v.items()) {
    if (k == "gpu") {
      if (!val.is_null()) return Unsupported(field + ".gpu", "berth gives containers no GPUs");
    } else if (k == "cpu" || k == "memoryInGB") {
      if (!val.is_number()) return Invalid(field + "." + k, "must be a number");
      double d = val.get<double>();
      double max = k == "cpu" ? 1024 : 16384;
      if (!std::isfinite(d) || d <= 0 || d > max) {
        return Invalid(field + "." + k,
                       "must be more than 0 and at most " + std::to_string(int(max)));
      }
      (k == "cpu" ? cpu : memory_gb) = d;
    } else {
      return Unsupported(field + "." + k, "unknown field");
    }
  }
  if (required && (cpu == 0 || memory_gb == 0)) {
    return Invalid(field, cpu == 0 ? "needs 'cpu'" : "needs 'memoryInGB'");
  }
  return std::nullopt;
}

std::optional<ArmError> ParseResources(const json& v, const std::string& field, JobSpec& spec) {
  if (!v.is_object()) return Invalid(field, "must be an object");
  double req_cpu = 0, req_mem = 0, lim_cpu = 0, lim_mem = 0;
  if (!v.contains("requests")) return Invalid(field + ".requests", "is required");
  for (const auto& [k, val] : v.items()) {
    if (k == "requests") {
      if (auto e = ParseResourceValues(val, field + ".requests", true, req_cpu, req_mem)) return e;
    } else if (k == "limits") {
      if (val.is_null()) continue;
      if (auto e = ParseResourceValues(val, field + ".limits", false, lim_cpu, lim_mem)) return e;
    } else {
      return Unsupported(field + "." + k, "unknown field");
    }
  }
  if ((lim_cpu > 0 && lim_cpu < req_cpu) || (lim_mem > 0 && lim_mem < req_mem)) {
    return Invalid(field + ".limits", "must not be less than the requests");
  }
  spec.cpu = lim_cpu > 0 ? lim_cpu : req_cpu;
  spec.memory_gb = lim_mem > 0 ? lim_mem : req_mem;
  spec.annotations[std::string(kResourcesAnnotation)] = v.dump();
  return std::nullopt;
}

bool IsEnvName(const std::string& name) {
  if (name.empty() || name.size() > 256) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = c == '_' || std::isalpha(static_cast<unsigned char>(c)) ||
              (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

std::optional<ArmError> ParseEnv(const json& v, const std::string& field, JobSpec& spec) {
  if (v.is_null()) return std::nullopt;
  if (!v.is_array()) return Invalid(field, "must be an array of {name, value | secureValue}");
  std::set<std::string> seen;
  for (size_t i = 0; i < v.size(); ++i) {
    const json& e = v[i];
    std::string at = field + "[" + std::to_string(i) + "]";
    if (!e.is_object()) return Invalid(at, "must be an object");
    if (!e.contains("name") || !e["name"].is_string()) return Invalid(at + ".name", "is required");
    std::string name = e["name"].get<std::string>();
    if (!IsEnvName(name)) {
      return Invalid(at + ".name", "must be letters, digits and '_', not starting with a digit");
    }
    if (!seen.insert(name).second) return Invalid(at + ".name", "is given twice: " + name);
    bool has_value = false, has_secure = false;
    for (const auto& [k, val] : e.items()) {
      if (k == "name") continue;
      if (k != "value" && k != "secureValue") return Unsupported(at + "." + k, "unknown field");
      if (val.is_null()) continue;
      if (!val.is_string()) return Invalid(at + "." + k, "must be a string");
      if (val.get_ref<const std::string&>().find('\0') != std::string::npos) {
        return Invalid(at + "." + k, "must not contain a NUL byte");
      }
      (k == "value" ? has_value : has_secure) = true;
      (k == "value" ? spec.env : spec.secure_env)[name] = val.get<std::string>();
    }
    if (has_value && has_secure) return Invalid(at, "has both 'value' and 'secureValue'");
    if (!has_value && !has_secure) spec.env[name] = "";
  }
  return std::nullopt;
}

std::optional<ArmError> ParseContainer(const json& c, JobSpec& spec) {
  const std::string field = "properties.containers[0]";
  if (!c.is_object()) return Invalid(field, "must be an object");
  for (const auto& [k, val] : c.items()) {
    if (k != "name" && k != "properties") return Unsupported(field + "." + k, "unknown field");
  }
  if (!c.contains("name") || !c["name"].is_string()) return Invalid(field + ".name", "is required");
  std::string name = c["name"].get<std::string>();
  if (auto e = CheckGroupName(name, field + ".name")) return e;
  spec.annotations[std::string(kContainerAnnotation)] = name;
  if (!c.contains("properties") || !c["properties"].is_object()) {
    return Invalid(field + ".properties", "is required");
  }
  const json& p = c["properties"];
  const std::string pf = field + ".properties";
  for (const auto& [k, val] : p.items()) {
    std::string at = pf + "." + k;
    if (k == "image") {
      if (!val.is_string() || val.get_ref<const std::string&>().empty()) {
        return Invalid(at, "must be a non-empty string");
      }
      spec.image = val.get<std::string>();
      if (Status st = ValidateImageReference(spec.image); !st.ok()) {
        return Invalid(at, "is not a valid image reference: " + st.message());
      }
    } else if (k == "command") {
      if (val.is_null()) continue;
      if (!val.is_array()) return Invalid(at, "must be an array of strings");
      for (const json& a : val) {
        if (!a.is_string()) return Invalid(at, "must be an array of strings");
        if (a.get_ref<const std::string&>().find('\0') != std::string::npos) {
          return Invalid(at, "must not contain a NUL byte");
        }
        spec.command.push_back(a.get<std::string>());
      }
    } else if (k == "environmentVariables") {
      if (auto e = ParseEnv(val, at, spec)) return e;
    } else if (k == "resources") {
      if (auto e = ParseResources(val, at, spec)) return e;
    } else if (k == "ports") {
      if (!IsEmpty(val)) return Unsupported(at, "berth containers have no network ports");
    } else if (k == "volumeMounts") {
      if (!IsEmpty(val)) return Unsupported(at, "berth mounts no volumes");
    } else if (k == "livenessProbe" || k == "readinessProbe") {
      if (!IsEmpty(val)) return Unsupported(at, "berth runs no probes");
    } else if (k == "securityContext") {
      if (!IsEmpty(val)) return Unsupported(at, "berth applies its own isolation");
    } else if (k == "instanceView") {
      continue;  // read-only: what a client echoes back from a GET
    } else {
      return Unsupported(at, "unknown field");
    }
  }
  if (spec.image.empty()) return Invalid(pf + ".image", "is required");
  if (!p.contains("resources")) return Invalid(pf + ".resources", "is required");
  return std::nullopt;
}

// properties.{restartPolicy, osType, sku, priority}: the values berth can honor.
std::optional<ArmError> ParseGroupEnum(const std::string& k, const json& val, JobSpec& spec) {
  std::string at = "properties." + k;
  if (!val.is_string()) return Invalid(at, "must be a string");
  std::string v = val.get<std::string>();
  if (k == "restartPolicy") {
    if (v == "Never") {
      spec.restart_policy = RestartPolicy::kNever;
    } else if (v == "OnFailure") {
      spec.restart_policy = RestartPolicy::kOnFailure;
    } else if (v == "Always") {
      return Unsupported(at, "berth runs jobs to completion: use \"Never\" or \"OnFailure\"");
    } else {
      return Invalid(at, "must be \"Never\" or \"OnFailure\"");
    }
  } else if (k == "osType") {
    if (v == "Windows") return Unsupported(at, "berth runs Linux containers only");
    if (v != "Linux") return Invalid(at, "must be \"Linux\"");
  } else if (k == "sku") {
    if (v != "Standard") return Unsupported(at, "only \"Standard\" is supported");
  } else if (k == "priority") {
    if (v != "Regular") return Unsupported(at, "only \"Regular\" is supported");
  }
  return std::nullopt;
}

std::optional<ArmError> ParseGroupProperties(const json& p, JobSpec& spec) {
  if (!p.is_object()) return Invalid("properties", "must be an object");
  bool has_restart_policy = false;
  for (const auto& [k, val] : p.items()) {
    std::string at = "properties." + k;
    if (k == "containers") {
      if (!val.is_array() || val.empty()) return Invalid(at, "needs one container");
      if (val.size() > 1) {
        return Unsupported(
            at, "a group runs exactly one container (got " + std::to_string(val.size()) + ")");
      }
      if (auto e = ParseContainer(val[0], spec)) return e;
    } else if (k == "restartPolicy" || k == "osType" || k == "sku" || k == "priority") {
      if (val.is_null()) continue;
      has_restart_policy |= k == "restartPolicy";
      if (auto e = ParseGroupEnum(k, val, spec)) return e;
    } else if (k == "ipAddress") {
      if (!IsEmpty(val)) return Unsupported(at, "berth containers get no IP address");
    } else if (k == "volumes" || k == "initContainers" || k == "imageRegistryCredentials" ||
               k == "subnetIds" || k == "extensions") {
      if (!IsEmpty(val)) return Unsupported(at, "not available in berth");
    } else if (k == "diagnostics" || k == "dnsConfig" || k == "encryptionProperties" ||
               k == "confidentialComputeProperties") {
      if (!IsEmpty(val)) return Unsupported(at, "not available in berth");
    } else if (k == "provisioningState" || k == "instanceView") {
      continue;  // read-only
    } else {
      return Unsupported(at, "unknown field");
    }
  }
  if (!p.contains("containers")) return Invalid("properties.containers", "is required");
  if (!has_restart_policy) {
    return Invalid("properties.restartPolicy",
                   "is required: berth runs jobs to completion (\"Never\" or \"OnFailure\"; "
                   "ACI's default \"Always\" is not supported)");
  }
  return std::nullopt;
}

bool ValidChars(std::string_view s, std::string_view extra, bool lower_only) {
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              (!lower_only && c >= 'A' && c <= 'Z') || extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

json TimeOrNull(const std::optional<TimePoint>& t) {
  return t ? json(FormatRfc3339(*t)) : json(nullptr);
}

json TerminatedState(const AttemptRecord& a, const std::vector<std::string>& hidden) {
  json s = {{"state", "Terminated"},
            {"startTime", TimeOrNull(a.started_at)},
            {"finishTime", TimeOrNull(a.finished_at)},
            {"detailStatus", ScrubPaths(a.reason, hidden)}};
  if (a.exit_code) s["exitCode"] = *a.exit_code;
  return s;
}

json CurrentState(const JobRecord& job, const std::vector<std::string>& hidden) {
  switch (job.state) {
    case JobState::kQueued:
    case JobState::kPending:
      return {{"state", "Waiting"},
              {"detailStatus", job.reason.empty() ? std::string(ToString(job.state))
                                                  : ScrubPaths(job.reason, hidden)}};
    case JobState::kRunning:
      return {
          {"state", "Running"}, {"startTime", TimeOrNull(job.started_at)}, {"detailStatus", ""}};
    default: {
      AttemptRecord last;
      last.exit_code = job.exit_code;
      last.reason = job.reason.empty() ? std::string(ToString(job.state)) : job.reason;
      last.started_at = job.started_at;
      last.finished_at = job.finished_at;
      return TerminatedState(last, hidden);
    }
  }
}

json ContainerInstanceView(const JobRecord& job, const std::vector<std::string>& hidden) {
  // `history` has every finished run; a terminal job's last run is its current state.
  size_t previous_runs = job.history.size();
  if (IsTerminal(job.state) && previous_runs > 0) --previous_runs;
  json view = {{"restartCount", previous_runs}, {"currentState", CurrentState(job, hidden)}};
  if (previous_runs > 0)
    view["previousState"] = TerminatedState(job.history[previous_runs - 1], hidden);
  json events = json::array();
  auto started = [&](const std::optional<TimePoint>& t) {
    if (!t) return;
    events.push_back({{"count", 1},
                      {"firstTimestamp", FormatRfc3339(*t)},
                      {"lastTimestamp", FormatRfc3339(*t)},
                      {"name", "Started"},
                      {"message", "Started container"},
                      {"type", "Normal"}});
  };
  for (size_t i = 0; i < previous_runs; ++i) started(job.history[i].started_at);
  started(job.started_at);
  view["events"] = std::move(events);
  return view;
}

}  // namespace

std::string AciGroupRef::ResourceId() const {
  return "/subscriptions/" + subscription + "/resourceGroups/" + resource_group + "/providers/" +
         std::string(kAciGroupType) + "/" + name;
}

std::string AciGroupRef::Key() const { return Lower(ResourceId()); }

std::string AciKeyPrefix(std::string_view subscription, std::string_view resource_group) {
  std::string prefix = "/subscriptions/" + Lower(subscription) + "/resourcegroups/";
  if (resource_group.empty()) return prefix;
  return prefix + Lower(resource_group) + "/providers/" + Lower(kAciGroupType) + "/";
}

std::optional<ArmError> CheckSubscription(std::string_view s) {
  if (s.empty() || s.size() > 64 || !ValidChars(s, "-", false)) {
    return ArmError{
        400, "InvalidSubscriptionId",
        "The provided subscription identifier '" + std::string(s) + "' is malformed or invalid."};
  }
  return std::nullopt;
}

std::optional<ArmError> CheckResourceGroup(std::string_view rg) {
  if (rg.empty() || rg.size() > 90 || rg.back() == '.' || !ValidChars(rg, "-_.()", false)) {
    return ArmError{400, "InvalidResourceGroupName",
                    "Resource group '" + std::string(rg) +
                        "' is invalid: 1..90 letters, digits, '.', '_', '-', '(' or ')', not "
                        "ending in '.'"};
  }
  return std::nullopt;
}

std::optional<ArmError> CheckGroupName(std::string_view name, std::string_view what) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-' ||
      !ValidChars(name, "-", true)) {
    return ArmError{400, "InvalidContainerGroupName",
                    "'" + std::string(what) + "' '" + std::string(name) +
                        "' is invalid: 1..63 lower-case letters, digits and '-', not starting "
                        "or ending with '-'"};
  }
  return std::nullopt;
}

std::variant<JobSpec, ArmError> ParseContainerGroup(std::string_view body, const AciGroupRef& ref,
                                                    std::string_view default_location) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return ArmError{400, "InvalidRequestContent",
                    "The request content is not a JSON object (a container group)."};
  }
  JobSpec spec;
  spec.annotations[std::string(kAciIdAnnotation)] = ref.ResourceId();
  spec.annotations[std::string(kNameAnnotation)] = ref.name;
  spec.annotations[std::string(kLocationAnnotation)] = std::string(default_location);
  for (const auto& [k, val] : doc.items()) {
    if (k == "location") {
      if (!val.is_string() || val.get_ref<const std::string&>().size() > 128) {
        return Invalid(k, "must be a string of at most 128 characters");
      }
      spec.annotations[std::string(kLocationAnnotation)] = val.get<std::string>();
    } else if (k == "tags") {
      if (val.is_null()) continue;
      if (!val.is_object() || val.size() > 50) return Invalid(k, "must be at most 50 strings");
      for (const auto& [tag, tv] : val.items()) {
        if (!tv.is_string()) return Invalid("tags." + tag, "must be a string");
      }
      if (!val.empty()) spec.annotations[std::string(kTagsAnnotation)] = val.dump();
    } else if (k == "properties") {
      if (auto e = ParseGroupProperties(val, spec)) return *e;
    } else if (k == "identity" || k == "zones") {
      if (!IsEmpty(val)) return Unsupported(k, "not available in berth");
    } else if (k == "id" || k == "name" || k == "type") {
      continue;  // read-only: what a client echoes back from a GET
    } else {
      return Unsupported(k, "unknown field");
    }
  }
  if (!doc.contains("properties")) return Invalid("properties", "is required");
  // The store reads specs back with ParseJobSpec: whatever it would refuse is refused here.
  auto back = ParseJobSpec(JobSpecToJson(spec, true));
  if (!back.ok()) return ArmError{400, "InvalidRequestContent", back.status().message()};
  return spec;
}

bool IsContainerGroup(const JobRecord& job) {
  return job.spec.annotations.contains(std::string(kAciIdAnnotation));
}

std::string GroupName(const JobRecord& job) { return Annotation(job, kNameAnnotation); }

std::string ContainerName(const JobRecord& job) { return Annotation(job, kContainerAnnotation); }

std::string ProvisioningState(const JobRecord& job) {
  // An OnFailure job queued again after a failed run has been provisioned: it restarts.
  if (!job.history.empty()) return "Succeeded";
  switch (job.state) {
    case JobState::kQueued:
      return "Pending";
    case JobState::kPending:
      return "Creating";
    case JobState::kRunning:
    case JobState::kSucceeded:
      return "Succeeded";
    case JobState::kFailed:
    case JobState::kCanceled:
      return job.started_at || job.exit_code ? "Succeeded" : "Failed";
  }
  return "Failed";
}

std::string GroupState(const JobRecord& job) {
  switch (job.state) {
    case JobState::kQueued:
    case JobState::kPending:
      return job.history.empty() ? "Pending" : "Running";  // restarting after a failed run
    case JobState::kRunning:
      return "Running";
    case JobState::kSucceeded:
      return "Succeeded";
    case JobState::kFailed:
      return "Failed";
    case JobState::kCanceled:
      return "Stopped";
  }
  return "Failed";
}

json ContainerGroupToJson(const JobRecord& job, const std::vector<std::string>& hidden_paths) {
  json env = json::array();
  for (const auto& [name, value] : job.spec.env) env.push_back({{"name", name}, {"value", value}});
  for (const auto& [name, value] : job.spec.secure_env) env.push_back({{"name", name}});
  json resources = json::parse(Annotation(job, kResourcesAnnotation), nullptr, false);
  if (resources.is_discarded()) {
    resources = {{"requests", {{"cpu", job.spec.cpu}, {"memoryInGB", job.spec.memory_gb}}}};
  }
  json container_props = {{"image", job.spec.image},
                          {"environmentVariables", std::move(env)},
                          {"resources", std::move(resources)},
                          {"instanceView", ContainerInstanceView(job, hidden_paths)}};
  if (!job.spec.command.empty()) container_props["command"] = job.spec.command;
  json tags = json::parse(Annotation(job, kTagsAnnotation), nullptr, false);
  json group_events = json::array();
  json out = {
      {"id", Annotation(job, kAciIdAnnotation)},
      {"name", GroupName(job)},
      {"type", kAciGroupType},
      {"location", Annotation(job, kLocationAnnotation)},
      {"properties",
       {{"provisioningState", ProvisioningState(job)},
        {"osType", "Linux"},
        {"sku", "Standard"},
        {"restartPolicy", ToString(job.spec.restart_policy)},
        {"containers",
         json::array({{{"name", ContainerName(job)}, {"properties", container_props}}})},
        {"instanceView", {{"state", GroupState(job)}, {"events", std::move(group_events)}}}}}};
  if (tags.is_object()) out["tags"] = std::move(tags);
  return out;
}

json OperationStatusJson(const JobRecord& job, const std::vector<std::string>& hidden_paths) {
  std::string state = ProvisioningState(job);
  if (state == "Succeeded") return {{"status", "Succeeded"}};
  if (state != "Failed") return {{"status", "InProgress"}};
  std::string why = job.reason.empty() ? std::string(ToString(job.state)) : job.reason;
  return {{"status", "Failed"},
          {"error",
           {{"code", job.state == JobState::kCanceled ? "Canceled" : "ContainerGroupFailed"},
            {"message", "the container group did not start: " + ScrubPaths(why, hidden_paths)}}}};
}

bool SameGroupSpec(const JobSpec& a, const JobSpec& b) {
  JobSpec b_as_a = b;
  auto id = a.annotations.find(std::string(kAciIdAnnotation));
  if (id != a.annotations.end()) b_as_a.annotations[id->first] = id->second;
  return JobSpecToJson(a, true) == JobSpecToJson(b_as_a, true);
}

}  // namespace berth
