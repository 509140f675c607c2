#include "job/job_spec.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "job/callback_url.h"

namespace berth {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxCommandArgs = 4096;
constexpr size_t kMaxEnvVars = 1024;
constexpr int kMaxJobRetries = 10;

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

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
    if (HasNul(val.get_ref<const std::string&>())) {
      return FieldError(std::string(field) + "." + k, "must not contain a NUL byte");
    }
    out[k] = val.get<std::string>();
  }
  return out;
}

Result<std::map<std::string, std::string>> ParseAnnotations(const json& v, std::string_view field) {
  if (!v.is_object()) return FieldError(field, "must be an object of strings");
  if (v.size() > 32) return FieldError(field, "more than 32 annotations");
  std::map<std::string, std::string> out;
  for (const auto& [k, val] : v.items()) {
    std::string name = std::string(field) + "." + k;
    if (k.empty() || k.size() > 128) return FieldError(field, "a name must be 1..128 characters");
    if (!val.is_string()) return FieldError(name, "must be a string");
    const std::string& s = val.get_ref<const std::string&>();
    if (s.size() > 8192) return FieldError(name, "must be at most 8192 bytes");
    if (HasNul(k) || HasNul(s)) return FieldError(name, "must not contain a NUL byte");
    out[k] = s;
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

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// path-component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
bool IsPathComponent(std::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (IsLowerAlnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !IsLowerAlnum(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (sep != "." && sep != "_" && sep != "__" && !dashes) return false;
    i = j;
  }
  return true;
}

// domain: label(.label)*[:port], labels [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?
bool IsDomain(std::string_view d) {
  size_t colon = d.find(':');
  if (colon != std::string_view::npos) {
    std::string_view port = d.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != port.npos) {
      return false;
    }
    d = d.substr(0, colon);
  }
  if (d.empty()) return false;
  size_t start = 0;
  while (start <= d.size()) {
    size_t dot = d.find('.', start);
    std::string_view label = d.substr(start, dot == d.npos ? d.npos : dot - start);
    if (label.empty() || !IsAlnum(label.front()) || !IsAlnum(label.back())) return false;
    for (char c : label) {
      if (!IsAlnum(c) && c != '-') return false;
    }
    if (dot == d.npos) break;
    start = dot + 1;
  }
  return true;
}

bool IsTag(std::string_view t) {
  if (t.empty() || t.size() > 128 || t[0] == '.' || t[0] == '-') return false;
  for (char c : t) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

bool IsDigest(std::string_view d) {
  size_t colon = d.find(':');
  if (colon == d.npos || colon == 0) return false;
  std::string_view algo = d.substr(0, colon), hex = d.substr(colon + 1);
  if (!IsLowerAlnum(algo.front()) || !IsLowerAlnum(algo.back())) return false;
  for (char c : algo) {
    if (!IsLowerAlnum(c) && c != '+' && c != '.' && c != '_' && c != '-') return false;
  }
  if (hex.size() < 32 || hex.size() > 128) return false;
  if (algo == "sha256" && hex.size() != 64) return false;
  for (char c : hex) {
    if (!IsHex(c)) return false;
  }
  return true;
}

Status ParseField(const std::string& key, const json& v, JobSpec& spec) {
  if (key == "image") {
    if (!v.is_string() || v.get<std::string>().empty()) {
      return FieldError(key, "must be a non-empty string");
    }
    if (Status st = ValidateImageReference(v.get_ref<const std::string&>()); !st.ok()) {
      return FieldError(key, st.message());
    }
    spec.image = v.get<std::string>();
  } else if (key == "command") {
    if (v.is_string()) {
      if (HasNul(v.get_ref<const std::string&>())) {
        return FieldError(key, "must not contain a NUL byte");
      }
      spec.command = {"/bin/sh", "-c", v.get<std::string>()};
    } else if (v.is_array()) {
      if (v.size() > kMaxCommandArgs) return FieldError(key, "too many arguments");
      for (const auto& a : v) {
        if (!a.is_string()) return FieldError(key, "must be an array of strings");
        if (HasNul(a.get_ref<const std::string&>())) {
          return FieldError(key, "must not contain a NUL byte");
        }
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
  } else if (key == "maxRetries") {
    if (!v.is_number_integer() ||
        (v.is_number_unsigned() ? v.get<uint64_t>() > kMaxJobRetries
                                : v.get<int64_t>() < 0 || v.get<int64_t>() > kMaxJobRetries)) {
      return FieldError(key, "must be a whole number from 0 to " + std::to_string(kMaxJobRetries));
    }
    spec.max_retries = v.get<int>();
  } else if (key == "callbackUrl") {
    if (!v.is_string()) return FieldError(key, "must be a string (an http or https URL)");
    RETURN_IF_ERROR(ParseCallbackUrl(v.get_ref<const std::string&>()).status());
    spec.callback_url = v.get<std::string>();
  } else if (key == "count" || key == "parallelism") {
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > kMaxArrayCount) {
      return FieldError(key, "must be a whole number from 1 to " + std::to_string(kMaxArrayCount));
    }
    (key == "count" ? spec.count : spec.parallelism) = v.get<int>();
  } else if (key == "completionPolicy") {
    if (v == "All") {
      spec.completion_policy = CompletionPolicy::kAll;
    } else if (v == "Any") {
      spec.completion_policy = CompletionPolicy::kAny;
    } else {
      return FieldError(key, "must be \"All\" or \"Any\"");
    }
  } else if (key == "readOnlyRootFilesystem") {
    if (!v.is_boolean()) return FieldError(key, "must be true or false");
    spec.read_only_root_filesystem = v.get<bool>();
  } else if (key == "annotations") {
    ASSIGN_OR_RETURN(spec.annotations, ParseAnnotations(v, key));
  } else if (key == "network") {
    if (v == "none") {
      spec.network = NetworkMode::kNone;
    } else if (v == "host") {
      spec.network = NetworkMode::kHost;
    } else {
      return FieldError(key, "must be \"none\" or \"host\"");
    }
  } else {
    return FieldError(key, "unknown field");
  }
  return Status::Ok();
}

}  // namespace

std::string_view ToString(RestartPolicy p) {
  return p == RestartPolicy::kOnFailure ? "OnFailure" : "Never";
}

std::string_view ToString(CompletionPolicy p) {
  return p == CompletionPolicy::kAny ? "Any" : "All";
}

std::string_view ToString(NetworkMode m) { return m == NetworkMode::kHost ? "host" : "none"; }

Status ValidateImageReference(std::string_view ref) {
  constexpr size_t kMaxReference = 512;
  constexpr size_t kMaxName = 255;
  auto bad = [](std::string_view what) { return Status::InvalidArgument(std::string(what)); };
  if (ref.empty()) return bad("is empty");
  if (ref.size() > kMaxReference) return bad("is longer than 512 characters");
  for (unsigned char c : ref) {
    if (c <= 0x20 || c >= 0x7f) return bad("contains whitespace, control or non-ASCII characters");
  }
  std::string_view name = ref;
  size_t at = name.find('@');
  if (at != name.npos) {
    if (!IsDigest(name.substr(at + 1))) return bad("has a malformed digest (want algo:hex)");
    name = name.substr(0, at);
  }
  size_t last_slash = name.rfind('/');
  size_t colon = name.find(':', last_slash == name.npos ? 0 : last_slash + 1);
  if (colon != name.npos) {
    if (!IsTag(name.substr(colon + 1))) {
      return bad("has a malformed tag (want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
    }
    name = name.substr(0, colon);
  }
  if (name.empty()) return bad("has no repository name");
  if (name.size() > kMaxName) return bad("has a repository name longer than 255 characters");
  size_t first_slash = name.find('/');
  if (first_slash != name.npos) {
    std::string_view first = name.substr(0, first_slash);
    bool is_domain = first.find_first_of(".:") != first.npos || first == "localhost" ||
                     first.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != first.npos;
    if (is_domain) {
      if (!IsDomain(first)) return bad("has a malformed registry host");
      name = name.substr(first_slash + 1);
    }
  }
  size_t start = 0;
  for (;;) {
    size_t slash = name.find('/', start);
    std::string_view comp = name.substr(start, slash == name.npos ? name.npos : slash - start);
    if (comp.empty()) return bad("has an empty path component");
    if (comp == ".." || comp == ".") return bad("has a '.' or '..' path component");
    if (!IsPathComponent(comp)) {
      return bad("has a path component '" + std::string(comp) +
                 "' that is not lower-case letters and digits with single separators");
    }
    if (slash == name.npos) break;
    start = slash + 1;
  }
  return Status::Ok();
}

namespace {

// Parses `text` as JSON, refusing a key given twice in one object (nlohmann keeps the last).
Result<json> ParseJsonNoDuplicateKeys(std::string_view text) {
  // The parser reports each object's start and end and each key (depth-first), so a stack of
  // the keys seen per open object finds a repeat.
  std::vector<std::set<std::string>> open;
  std::string duplicate;
  auto callback = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open.empty()) open.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open.empty() && !open.back().insert(parsed.get<std::string>()).second &&
            duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("malformed JSON: ") + e.what());
  }
  if (!duplicate.empty()) {
    return FieldError(duplicate, "is given twice (a key may appear once per object)");
  }
  return doc;
}

}  // namespace

Result<JobSpec> ParseJobSpec(std::string_view text) {
  ASSIGN_OR_RETURN(json doc, ParseJsonNoDuplicateKeys(text));
  if (!doc.is_object()) return Status::InvalidArgument("the job spec must be a JSON object");
  JobSpec spec;
  for (const auto& [key, v] : doc.items()) {
    RETURN_IF_ERROR(ParseField(key, v, spec));
  }
  if (spec.image.empty()) return FieldError("image", "is required");
  if (spec.count == 0 && (spec.parallelism != 0 || doc.contains("completionPolicy"))) {
    return FieldError(spec.parallelism != 0 ? "parallelism" : "completionPolicy",
                      "is for job arrays: give 'count' too");
  }
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
  if (spec.max_retries) j["maxRetries"] = *spec.max_retries;
  if (spec.read_only_root_filesystem) j["readOnlyRootFilesystem"] = true;
  if (spec.network != NetworkMode::kNone) j["network"] = ToString(spec.network);
  if (!spec.callback_url.empty()) j["callbackUrl"] = spec.callback_url;
  if (!spec.annotations.empty()) j["annotations"] = spec.annotations;
  if (spec.count > 0) {
    j["count"] = spec.count;
    if (spec.parallelism > 0) j["parallelism"] = spec.parallelism;
    j["completionPolicy"] = ToString(spec.completion_policy);
  }
  return j.dump();
}

}  // namespace berth
