#include "daemon/settings.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "azure/azure_queue_store.h"
#include "azure/connection_string.h"
#include "common/files.h"
#include "common/log.h"

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

// Sets one setting from its JSON value; `show` gives the value a Settings holds (for `berth help
// settings`), when the setter knows its field.
struct Setter {
  using Set = std::function<Status(Settings&, const std::string&, const json&)>;
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Setter>>>
  Setter(F set, std::function<json(const Settings&)> show = nullptr)  // NOLINT: implicit
      : set(std::move(set)), show(std::move(show)) {}
  Status operator()(Settings& s, const std::string& n, const json& v) const { return set(s, n, v); }
  Set set;
  std::function<json(const Settings&)> show;
};

template <typename Field>
std::function<json(const Settings&)> Show(Field Settings::*field) {
  return [=](const Settings& s) { return json(s.*field); };
}

template <typename Field>
Setter IntSetter(Field Settings::*field, int64_t min, int64_t max) {
  return Setter(
      [=](Settings& s, const std::string& n, const json& v) -> Status {
        ASSIGN_OR_RETURN(int64_t x, ToInt(n, v, min, max));
        s.*field = static_cast<Field>(x);
        return Status::Ok();
      },
      Show(field));
}

Setter BoolSetter(bool Settings::*field) {
  return Setter(
      [=](Settings& s, const std::string& n, const json& v) -> Status {
        ASSIGN_OR_RETURN(s.*field, ToBool(n, v));
        return Status::Ok();
      },
      Show(field));
}

Setter DoubleSetter(double Settings::*field, double min, double max) {
  return Setter(
      [=](Settings& s, const std::string& n, const json& v) -> Status {
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
      },
      Show(field));
}

Setter StringSetter(std::string Settings::*field) {
  return Setter(
      [=](Settings& s, const std::string& n, const json& v) -> Status {
        ASSIGN_OR_RETURN(s.*field, ToString(n, v));
        return Status::Ok();
      },
      Show(field));
}

const std::vector<std::pair<std::string, Setter>>& Setters() {
  static const auto* setters = new std::vector<std::pair<std::string, Setter>>{
      {"JobQueueName", StringSetter(&Settings::job_queue_name)},
      {"ResourceGroupName", StringSetter(&Settings::resource_group_name)},
      {"AzureWebJobsStorage", StringSetter(&Settings::azure_web_jobs_storage)},
      {"StoreConnection", StringSetter(&Settings::store_connection)},
      {"Role", StringSetter(&Settings::role)},
      {"NodeId", StringSetter(&Settings::node_id)},
      {"NodeLeaseSeconds", IntSetter(&Settings::node_lease_seconds, 2, 3600)},
      {"StorePoolSize", IntSetter(&Settings::store_pool_size, 1, 64)},
      {"QueueMessageEncoding", StringSetter(&Settings::queue_message_encoding)},
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
      {"DefaultJobCommand", Setter(
                                [](Settings& s, const std::string& n, const json& v) -> Status {
                                  ASSIGN_OR_RETURN(s.default_job_command, ToCommand(n, v));
                                  return Status::Ok();
                                },
                                Show(&Settings::default_job_command))},
      {"BundledImagesDir",
       Setter(
           [](Settings& s, const std::string& n, const json& v) -> Status {
             ASSIGN_OR_RETURN(std::string p, ToString(n, v));
             s.bundled_images_dir = p;
             return Status::Ok();
           },
           [](const Settings& s) { return json(s.bundled_images_dir.string()); })},
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
      {"LogFollowPollMs", IntSetter(&Settings::log_follow_poll_ms, 1, 60000)},
      {"JobUpperDirMaxBytes", IntSetter(&Settings::job_upper_dir_max_bytes, 0, int64_t{1} << 40)},
      {"DefaultJobCpu", DoubleSetter(&Settings::default_job_cpu, 0, 1024)},
      {"DefaultJobMemoryInGB", DoubleSetter(&Settings::default_job_memory_gb, 0, 16384)},
      {"JobTmpSizeBytes", IntSetter(&Settings::job_tmp_size_bytes, 0, int64_t{1} << 40)},
      {"AllowNoSeccomp", BoolSetter(&Settings::allow_no_seccomp)},
      {"SeccompProfile", Setter(
                             [](Settings& s, const std::string& n, const json& v) -> Status {
                               ASSIGN_OR_RETURN(std::string p, ToString(n, v));
                               if (p.empty()) return Bad(n, "must not be empty");
                               s.seccomp_profile = p;
                               return Status::Ok();
                             },
                             [](const Settings& s) { return json(s.seccomp_profile.string()); })},
      {"UserNamespaceRange", StringSetter(&Settings::user_namespace_range)},
      {"DefaultRegistry", StringSetter(&Settings::default_registry)},
      {"RegistryMirrors", StringSetter(&Settings::registry_mirrors)},
      {"InsecureRegistries", StringSetter(&Settings::insecure_registries)},
      {"RegistryAuthFile", StringSetter(&Settings::registry_auth_file)},
      {"AllowedRegistries", StringSetter(&Settings::allowed_registries)},
      {"ImagePullMaxBytes", IntSetter(&Settings::image_pull_max_bytes, 1 << 20, int64_t{1} << 42)},
      {"ImagePullTimeoutSeconds", IntSetter(&Settings::image_pull_timeout_seconds, 1, 86400)},
      {"LogFormat", Setter(
                        [](Settings& s, const std::string& n, const json& v) -> Status {
                          ASSIGN_OR_RETURN(std::string f, ToString(n, v));
                          if (!ParseLogFormat(f).ok()) {
                            return Bad(n, "must be text or json, got '" + f + "'");
                          }
                          s.log_format = f;
                          return Status::Ok();
                        },
                        Show(&Settings::log_format))},
      {"TlsCertFile", StringSetter(&Settings::tls_cert_file)},
      {"TlsKeyFile", StringSetter(&Settings::tls_key_file)},
      {"ArmListen", StringSetter(&Settings::arm_listen)},
      {"ArmTlsCertFile", StringSetter(&Settings::arm_tls_cert_file)},
      {"ArmTlsKeyFile", StringSetter(&Settings::arm_tls_key_file)},
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

// "line L, column C" of the token the parser stopped at: `byte` is the 1-based offset of the
// last byte it read (a token's end), so the position moves back to the token's start.
std::string LineAndColumn(const std::string& text, size_t byte) {
  size_t at = std::min(byte == 0 ? 0 : byte - 1, text.size());
  if (at < text.size() && text[at] == '"' && at > 0) {
    size_t open = at - 1;  // a string: back to its opening quote
    while (open > 0 && !(text[open] == '"' && text[open - 1] != '\\')) --open;
    if (text[open] == '"') at = open;
  } else {
    auto word = [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+';
    };
    // A bad literal ("tru}") is read up to the byte that broke it: back onto the literal.
    if (at > 0 && at < text.size() && !word(text[at]) && word(text[at - 1])) --at;
    while (at > 0 && at < text.size() && word(text[at]) && word(text[at - 1])) --at;
  }
  size_t line = 1, column = 1;
  for (size_t i = 0; i < at; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// The parser's own words without its prefix ("[json.exception.parse_error.101] parse error at
// line 3, column 5: ") and position, which LineAndColumn gives.
std::string ParseErrorReason(const json::parse_error& e) {
  std::string what = e.what();
  size_t colon = what.find(": ");
  if (colon != std::string::npos) what = what.substr(colon + 2);
  // nlohmann writes "syntax error while parsing object - invalid literal; last read: 'x'".
  return what;
}

// Azure's queue naming rules, leaving room for the "-poison" suffix.
bool ValidAzureQueueName(const std::string& n) {
  if (n.size() < 3 || n.size() > 56) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (alnum) continue;
    if (c != '-' || i == 0 || i + 1 == n.size() || n[i - 1] == '-') return false;
  }
  return true;
}

bool ValidNodeId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
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
  const std::string& sc = s.store_connection;
  if (!sc.empty() && !sc.starts_with("postgresql://") && !sc.starts_with("postgres://") &&
      sc.find('=') == std::string::npos) {
    return Bad("StoreConnection",
               "must be empty (SQLite in the data dir), a postgresql:// URI or a libpq "
               "key=value string");
  }
  RETURN_IF_ERROR(ValidateRole(s));
  if (!s.node_id.empty() && !ValidNodeId(s.node_id)) {
    return Bad("NodeId", "must be 1 to 64 of A-Z a-z 0-9 . _ - (got '" + s.node_id + "')");
  }
  if (s.job_queue_name.empty() || s.job_queue_name.size() > 63) {
    return Bad("JobQueueName", "must be 1 to 63 characters");
  }
  if (!ParseMessageEncoding(s.queue_message_encoding).ok()) {
    return Bad("QueueMessageEncoding",
               "must be base64 or none, got '" + s.queue_message_encoding + "'");
  }
  if (!s.azure_web_jobs_storage.empty()) {
    if (auto account = ParseConnectionString(s.azure_web_jobs_storage); !account.ok()) {
      return Bad("AzureWebJobsStorage", account.status().message());
    }
    if (!ValidAzureQueueName(s.job_queue_name)) {
      return Bad("JobQueueName",
                 "an Azure queue name is 3 to 56 characters (room for '-poison'): lower-case "
                 "letters, digits and single hyphens, starting and ending with a letter or digit");
    }
  }
  if (s.default_job_image.empty()) return Bad("DefaultJobImage", "must not be empty");
  if (s.tls_cert_file.empty() != s.tls_key_file.empty()) {
    return Bad(s.tls_cert_file.empty() ? "TlsCertFile" : "TlsKeyFile",
               "TLS needs both TlsCertFile and TlsKeyFile");
  }
  if (s.arm_tls_cert_file.empty() != s.arm_tls_key_file.empty()) {
    return Bad(s.arm_tls_cert_file.empty() ? "ArmTlsCertFile" : "ArmTlsKeyFile",
               "give both ArmTlsCertFile and ArmTlsKeyFile, or neither (a self-signed pair)");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateRole(const Settings& s) {
  if (s.role != "all" && s.role != "api" && s.role != "worker") {
    return Bad("Role", "must be all, api or worker, got '" + s.role + "'");
  }
  if (s.role != "all" && s.store_connection.empty()) {
    return Bad("Role", "'" + s.role +
                           "' needs a store shared by every node: set StoreConnection to a "
                           "PostgreSQL database (only 'all' runs on the embedded SQLite store)");
  }
  return Status::Ok();
}

std::string EffectiveNodeId(const Settings& s) {
  if (!s.node_id.empty()) return s.node_id;
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "berth";
  std::string id;
  for (const char* p = host; *p != '\0' && id.size() < 64; ++p) {
    char c = *p;
    id += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ? c : '-';
  }
  return id;
}

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

std::vector<std::pair<std::string, std::string>> SettingDefaults() {
  Settings defaults;
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, setter] : Setters()) {
    if (!setter.show) continue;  // accepted for compatibility, not used
    out.emplace_back(name, setter.show(defaults).dump());
  }
  return out;
}

Result<Settings> LoadSettings(const std::optional<std::filesystem::path>& file,
                              const std::function<const char*(const char*)>& getenv) {
  Settings s;
  if (file) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(*file));
    json doc;
    try {
      doc = json::parse(text);
    } catch (const json::parse_error& e) {
      return Status::InvalidArgument("settings file " + file->string() + ": malformed JSON at " +
                                     LineAndColumn(text, e.byte) + ": " + ParseErrorReason(e));
    }
    if (!doc.is_object()) {
      return Status::InvalidArgument("settings file " + file->string() +
                                     ": must be a JSON object ({\"Values\": {...}})");
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
