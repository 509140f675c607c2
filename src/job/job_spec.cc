#include "job/job_spec.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace berth {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxCommandArgs = 4096;
constexpr size_t kMaxEnvVars = 1024;

Status FieldError(std::string_view field, std::string_view what) {
  return Status::InvalidArgument("field '" + std::string(field) + "': " + std::string(what));
}

bool IsValidEnvName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

Result<std::map<std::string, std::string>> ParseEnv(const json& v, std::string_view field) {
  if (!v.is_object()) return FieldError(field, "must be an object of strings");
  if (v.size() > kMaxEnvVars) return FieldError(field, "too many variables");
  std::map<std::string, std::string> out;
  for (const auto& [k, val] : v.items()) {
    if (!IsValidEnvName(k)) {
      return FieldError(std::string(field) + "." + k, "not a valid variable name");
    }
    if (!val.is_string()) return FieldError(std::string(field) + "." + k, "must be a string");
    out[k] = val.get<std::string>();
  }
  return out;
}

Result<double> ParseNonNegative(const json& v, std::string_view field, double max) {
  if (!v.is_number()) return FieldError(field, "must be a number");
  double d = v.get<double>();
  if (!std::isfinite(d) || d < 0 || d > max) {
    return FieldError(field, "must be between 0 and " + std::to_string(static_cast<int64_t>(max)));
  }
  return d;
}

Status ParseField(const std::string& key, const json& v, JobSpec& spec) {
  if (key == "image") {
    if (!v.is_string() || v.get<std::string>().empty()) {
      return FieldError(key, "must be a non-empty string");
    }
    spec.image = v.get<std::string>();
  } else if (key == "command") {
    if (v.is_string()) {
      spec.command = {"/bin/sh", "-c", v.get<std::string>()};
    } else if (v.is_array()) {
      if (v.size() > kMaxCommandArgs) return FieldError(key, "too many arguments");
      for (const auto& a : v) {
        if (!a.is_string()) return FieldError(key, "must be an array of strings");
        spec.command.push_back(a.get<std::string>());
      }
    } else {
      return FieldError(key, "must be a string or an array of strings");
    }
  } else if (key == "environmentVariables") {
    ASSIGN_OR_RETURN(spec.env, ParseEnv(v, key));
  } else if (key == "secureEnvironmentVariables") {
    ASSIGN_OR_RETURN(spec.secure_env, ParseEnv(v, key));
  } else if (key == "cpu") {
    ASSIGN_OR_RETURN(spec.cpu, ParseNonNegative(v, key, 1024));
  } else if (key == "memoryInGB") {
    ASSIGN_OR_RETURN(spec.memory_gb, ParseNonNegative(v, key, 16384));
  } else if (key == "restartPolicy") {
    if (v == "Never") {
      spec.restart_policy = RestartPolicy::kNever;
    } else if (v == "OnFailure") {
      spec.restart_policy = RestartPolicy::kOnFailure;
    } else {
      return FieldError(key, "must be \"Never\" or \"OnFailure\"");
    }
  } else if (key == "timeoutSeconds") {
    if (!v.is_number_integer() && !v.is_number_unsigned()) {
      return FieldError(key, "must be a whole number");
    }
    if (v.is_number_unsigned() ? v.get<uint64_t>() > 31'536'000
                               : v.get<int64_t>() < 0 || v.get<int64_t>() > 31'536'000) {
      return FieldError(key, "must be between 0 and 31536000");
    }
    spec.timeout_seconds = v.get<int64_t>();
  } else {
    return FieldError(key, "unknown field");
  }
  return Status::Ok();
}

}  // namespace

std::string_view ToString(RestartPolicy p) {
  return p == RestartPolicy::kOnFailure ? "OnFailure" : "Never";
}

Result<JobSpec> ParseJobSpec(std::string_view text) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("malformed JSON: ") + e.what());
  }
  if (!doc.is_object()) return Status::InvalidArgument("the job spec must be a JSON object");
  JobSpec spec;
  for (const auto& [key, v] : doc.items()) {
    RETURN_IF_ERROR(ParseField(key, v, spec));
  }
  if (spec.image.empty()) return FieldError("image", "is required");
  return spec;
}

std::string JobSpecToJson(const JobSpec& spec, bool include_secrets) {
  json j;
  j["image"] = spec.image;
  if (!spec.command.empty()) j["command"] = spec.command;
  if (!spec.env.empty()) j["environmentVariables"] = spec.env;
  if (include_secrets && !spec.secure_env.empty())
    j["secureEnvironmentVariables"] = spec.secure_env;
  if (spec.cpu > 0) j["cpu"] = spec.cpu;
  if (spec.memory_gb > 0) j["memoryInGB"] = spec.memory_gb;
  j["restartPolicy"] = ToString(spec.restart_policy);
  if (spec.timeout_seconds > 0) j["timeoutSeconds"] = spec.timeout_seconds;
  return j.dump();
}

}  // namespace berth
