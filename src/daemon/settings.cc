#include "daemon/settings.h"

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/files.h"

namespace berth {
namespace {

using json = nlohmann::json;

Status Bad(const std::string& name, const std::string& what) {
  return Status::InvalidArgument("setting " + name + ": " + what);
}

Result<int64_t> ToInt(const std::string& name, const json& v, int64_t min, int64_t max) {
  int64_t n = 0;
  if (v.is_number_integer()) {
    n = v.get<int64_t>();
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    size_t used = 0;
    try {
      n = std::stoll(s, &used);
    } catch (const std::exception&) {
      return Bad(name, "'" + s + "' is not a whole number");
    }
    if (used != s.size()) return Bad(name, "'" + s + "' is not a whole number");
  } else {
    return Bad(name, "must be a whole number");
  }
  if (n < min || n > max) {
    return Bad(name, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return n;
}

Result<bool> ToBool(const std::string& name, const json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  return Bad(name, "must be true or false");
}

Result<std::string> ToString(const std::string& name, const json& v) {
  if (!v.is_string()) return Bad(name, "must be a string");
  return v.get<std::string>();
}

Result<std::vector<std::string>> ToCommand(const std::string& name, const json& v) {
  if (v.is_string()) {
    // From the environment, a JSON array may arrive as text.
    const std::string& s = v.get_ref<const std::string&>();
    if (!s.empty() && s[0] == '[') {
      json parsed = json::parse(s, nullptr, false);
      if (parsed.is_discarded()) return Bad(name, "malformed JSON array");
      return ToCommand(name, parsed);
    }
    if (s.empty()) return Bad(name, "must not be empty");
    return std::vector<std::string>{"/bin/sh", "-c", s};
  }
  if (!v.is_array() || v.empty()) return Bad(name, "must be a string or an array of strings");
  std::vector<std::string> out;
  for (const auto& a : v) {
    if (!a.is_string()) return Bad(name, "must be a string or an array of strings");
    out.push_back(a.get<std::string>());
  }
  return out;
}

using Setter = std::function<Status(Settings&, const std::string&, const json&)>;

template <typename Field>
Setter IntSetter(Field Settings::*field, int64_t min, int64_t max) {
  return [=](Settings& s, const std::string& n, const json& v) -> Status {
    ASSIGN_OR_RETURN(int64_t x, ToInt(n, v, min, max));
    s.*field = static_cast<Field>(x);
    return Status::Ok();
  };
}

Setter BoolSetter(bool Settings::*field) {
  return [=](Settings& s, const std::string& n, const json& v) -> Status {
    ASSIGN_OR_RETURN(s.*field, ToBool(n, v));
    return Status::Ok();
  };
}

Setter DoubleSetter(double Settings::*field, double min, double max) {
  return [=](Settings& s, const std::string& n, const json& v) -> Status {
    double x = 0;
    if (v.is_number()) {
      x = v.get<double>();
    } else if (v.is_string()) {
      char* end = nullptr;
      const std::string& text = v.get_ref<const std::string&>();
      x = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0') return Bad(n, "'" + text + "' is not a number");
    } else {
      return Bad(n, "must be a number");
    }
    if (!(x >= min && x <= max)) {
      return Bad(n, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    s.*field = x;
    return Status::Ok();
  };
}

Setter StringSetter(std::string Settings::*field) {
  return [=](Settings& s, const std::string& n, const json& v) -> Status {
    ASSIGN_OR_RETURN(s.*field, ToString(n, v));
    return Status::Ok();
  };
}

const std::vector<std::pair<std::string, Setter>>& Setters() {
  static const auto* setters = new std::vector<std::pair<std::string, Setter>>{
      {"JobQueueName", StringSetter(&Settings::job_queue_name)},
      {"ResourceGroupName", StringSetter(&Settings::resource_group_name)},
      {"AzureWebJobsStorage", StringSetter(&Settings::azure_web_jobs_storage)},
      {"FunctionKey", StringSetter(&Settings::function_key)},
      {"MaxConcurrentJobs", IntSetter(&Settings::max_concurrent_jobs, 1, 100000)},
      {"MaxDequeueCount", IntSetter(&Settings::max_dequeue_count, 1, 1000)},
      {"QueueLeaseSeconds", IntSetter(&Settings::queue_lease_seconds, 1, 86400)},
      {"QueueRetryDelayMs", IntSetter(&Settings::queue_retry_delay_ms, 0, 86400000)},
      {"JobStartTimeoutSeconds", IntSetter(&Settings::job_start_timeout_seconds, 1, 3600)},
      {"StartBackoffMs", IntSetter(&Settings::start_backoff_ms, 0, 3600000)},
      {"StartBackoffMaxMs", IntSetter(&Settings::start_backoff_max_ms, 0, 86400000)},
      {"Runtime", StringSetter(&Settings::runtime)},
      {"StatusRequiresKey", BoolSetter(&Settings::status_requires_key)},
      {"MetricsRequireKey", BoolSetter(&Settings::metrics_require_key)},
      {"JobPidsLimit", IntSetter(&Settings::job_pids_limit, 0, 4194304)},
      {"DefaultJobImage", StringSetter(&Settings::default_job_image)},
      {"DefaultJobCommand",
       [](Settings& s, const std::string& n, const json& v) -> Status {
         ASSIGN_OR_RETURN(s.default_job_command, ToCommand(n, v));
         return Status::Ok();
       }},
      {"BundledImagesDir",
       [](Settings& s, const std::string& n, const json& v) -> Status {
         ASSIGN_OR_RETURN(std::string p, ToString(n, v));
         s.bundled_images_dir = p;
         return Status::Ok();
       }},
      {"DispatchPaused", BoolSetter(&Settings::dispatch_paused)},
      {"CancelGraceSeconds", IntSetter(&Settings::cancel_grace_seconds, 0, 3600)},
      {"JobRetentionHours", DoubleSetter(&Settings::job_retention_hours, 0, 24 * 3650)},
      {"MaxRetries", IntSetter(&Settings::max_retries, 0, 100)},
      {"RetryBackoffMs", IntSetter(&Settings::retry_backoff_ms, 0, 3600000)},
      {"RetryBackoffMaxMs", IntSetter(&Settings::retry_backoff_max_ms, 0, 86400000)},
      {"AllowHostNetwork", BoolSetter(&Settings::allow_host_network)},
      {"CallbackMaxAttempts", IntSetter(&Settings::callback_max_attempts, 1, 100)},
      {"CallbackAllowedHosts", StringSetter(&Settings::callback_allowed_hosts)},
      {"AllowLoopbackCallbacks", BoolSetter(&Settings::allow_loopback_callbacks)},
      {"CallbackBackoffMs", IntSetter(&Settings::callback_backoff_ms, 0, 3600000)},
      {"CallbackTimeoutSeconds", IntSetter(&Settings::callback_timeout_seconds, 1, 300)},
      {"JobLogMaxBytes", IntSetter(&Settings::job_log_max_bytes, 4096, int64_t{1} << 40)},
      {"JobUpperDirMaxBytes", IntSetter(&Settings::job_upper_dir_max_bytes, 0, int64_t{1} << 40)},
      {"DefaultJobCpu", DoubleSetter(&Settings::default_job_cpu, 0, 1024)},
      {"DefaultJobMemoryInGB", DoubleSetter(&Settings::default_job_memory_gb, 0, 16384)},
      {"JobTmpSizeBytes", IntSetter(&Settings::job_tmp_size_bytes, 0, int64_t{1} << 40)},
      {"AllowNoSeccomp", BoolSetter(&Settings::allow_no_seccomp)},
      {"SeccompProfile",
       [](Settings& s, const std::string& n, const json& v) -> Status {
         ASSIGN_OR_RETURN(std::string p, ToString(n, v));
         if (p.empty()) return Bad(n, "must not be empty");
         s.seccomp_profile = p;
         return Status::Ok();
       }},
      {"UserNamespaceRange", StringSetter(&Settings::user_namespace_range)},
      {"DefaultRegistry", StringSetter(&Settings::default_registry)},
      {"RegistryMirrors", StringSetter(&Settings::registry_mirrors)},
      {"InsecureRegistries", StringSetter(&Settings::insecure_registries)},
      {"RegistryAuthFile", StringSetter(&Settings::registry_auth_file)},
      {"AllowedRegistries", StringSetter(&Settings::allowed_registries)},
      {"ImagePullMaxBytes", IntSetter(&Settings::image_pull_max_bytes, 1 << 20, int64_t{1} << 42)},
      {"ImagePullTimeoutSeconds", IntSetter(&Settings::image_pull_timeout_seconds, 1, 86400)},
      // Common in a function app's settings; accepted and not used.
      {"FUNCTIONS_WORKER_RUNTIME",
       [](Settings&, const std::string&, const json&) -> Status { return Status::Ok(); }},
  };
  return *setters;
}

const Setter* FindSetter(const std::string& name) {
  for (const auto& [n, setter] : Setters()) {
    if (n == name) return &setter;
  }
  return nullptr;
}

// A pinned key shorter than this is refused: keys are the only guard of the submit route.
constexpr size_t kMinPinnedKeyLength = 16;

Status Validate(const Settings& s) {
  if (!s.function_key.empty() && s.function_key.size() < kMinPinnedKeyLength) {
    return Bad("FunctionKey", "a pinned key must be at least 16 characters (got " +
                                  std::to_string(s.function_key.size()) +
                                  "); leave it empty to have one generated");
  }
  if (s.runtime.empty() || (s.runtime.find('/') != std::string::npos && s.runtime[0] != '/')) {
    return Bad("Runtime", "must be a runtime's name (crun, runc, youki, ...) or an absolute path");
  }
  if (!s.azure_web_jobs_storage.empty()) {
    return Bad("AzureWebJobsStorage",
               "only the embedded store is supported in this version; leave it empty");
  }
  if (s.job_queue_name.empty() || s.job_queue_name.size() > 63) {
    return Bad("JobQueueName", "must be 1 to 63 characters");
  }
  if (s.default_job_image.empty()) return Bad("DefaultJobImage", "must not be empty");
  return Status::Ok();
}

}  // namespace

JobSpec Settings::DefaultJob() const {
  JobSpec spec;
  spec.image = default_job_image;
  spec.command = default_job_command;
  spec.restart_policy = RestartPolicy::kNever;
  return spec;
}

RegistryOptions Settings::Registries() const {
  RegistryOptions r;
  r.default_registry = default_registry;
  r.mirrors = SplitRegistryList(registry_mirrors);
  r.insecure = SplitRegistryList(insecure_registries);
  r.auth_file = registry_auth_file;
  r.allowed = SplitRegistryList(allowed_registries);
  r.max_image_bytes = image_pull_max_bytes;
  r.pull_timeout = std::chrono::seconds(image_pull_timeout_seconds);
  return r;
}

const std::vector<std::string>& SettingNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string>;
    for (const auto& [n, setter] : Setters()) v->push_back(n);
    return v;
  }();
  return *names;
}

Result<Settings> LoadSettings(const std::optional<std::filesystem::path>& file,
                              const std::function<const char*(const char*)>& getenv) {
  Settings s;
  if (file) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(*file));
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      return Status::InvalidArgument("settings file " + file->string() + ": malformed JSON");
    }
    for (const auto& [key, v] : doc.items()) {
      if (key == "Values") continue;
      if (key == "IsEncrypted" || key == "Host" || key == "ConnectionStrings") continue;
      return Status::InvalidArgument("settings file " + file->string() + ": unknown key '" + key +
                                     "' (settings go in \"Values\")");
    }
    if (doc.contains("Values")) {
      if (!doc["Values"].is_object())
        return Status::InvalidArgument("\"Values\" must be an object");
      for (const auto& [key, v] : doc["Values"].items()) {
        const Setter* setter = FindSetter(key);
        if (setter == nullptr) {
          return Status::InvalidArgument("settings file " + file->string() + ": unknown setting '" +
                                         key + "'");
        }
        RETURN_IF_ERROR((*setter)(s, key, v));
      }
    }
  }
  for (const auto& [name, setter] : Setters()) {
    if (const char* v = getenv(name.c_str())) RETURN_IF_ERROR(setter(s, name, json(v)));
  }
  RETURN_IF_ERROR(Validate(s));
  return s;
}

}  // namespace berth
