// JobSpec: what a client asks to run. Parsed from the API's JSON (the same JSON is how the
// store keeps it). Plain value type.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace berth {

enum class RestartPolicy { kNever, kOnFailure };
// kNone: a network namespace of its own with only loopback. kHost: the host's network (only
// when the operator allows it; the API checks).
enum class NetworkMode { kNone, kHost };
// How a job array's parent ends: kAll, Succeeded only when every child succeeded; kAny,
// Succeeded when at least one did. Either way it ends once every child has ended.
enum class CompletionPolicy { kAll, kAny };

std::string_view ToString(RestartPolicy p);
std::string_view ToString(NetworkMode m);
std::string_view ToString(CompletionPolicy p);

inline constexpr int kMaxArrayCount = 10'000;

struct JobSpec {
  std::string image;                              // image reference, e.g. "busybox" (required)
  std::vector<std::string> command;               // empty: the image's Entrypoint/Cmd
  std::map<std::string, std::string> env;         // environmentVariables
  std::map<std::string, std::string> secure_env;  // secureEnvironmentVariables: never echoed
  double cpu = 0;                                 // cores, fractional; 0 = no limit
  double memory_gb = 0;                           // memoryInGB; 0 = no limit
  RestartPolicy restart_policy = RestartPolicy::kNever;
  int64_t timeout_seconds = 0;               // 0 = none
  bool read_only_root_filesystem = false;    // readOnlyRootFilesystem: / is mounted read-only
  NetworkMode network = NetworkMode::kNone;  // network: "none" (default) or "host"
  // maxRetries (0..10): OnFailure re-runs after the first attempt; unset = the MaxRetries
  // setting.
  std::optional<int> max_retries;
  // callbackUrl: where berth POSTs the job's final status when it ends (job/callback_url.h);
  // empty = none.
  std::string callback_url;
  // count (1..10000): a job array, one parent and this many children, each with
  // BERTH_JOB_INDEX (0..count-1) and BERTH_JOB_COUNT in its environment. 0 = one plain job.
  int count = 0;
  int parallelism = 0;  // parallelism (1..10000): children running at once; 0 = all
  CompletionPolicy completion_policy = CompletionPolicy::kAll;  // completionPolicy
  // annotations: string labels a front end keeps with the job (the ACI API keeps a container
  // group's name, location and tags here); never used to run it. At most 32, names 1..128
  // characters, values up to 8 KiB.
  std::map<std::string, std::string> annotations;
};

// Checks an image reference against the distribution grammar
// ([registry[:port]/]path[:tag][@algo:hex]): lower-case path components, no empty or ".."
// components, no whitespace or control characters, at most 255 characters in the name, a tag of
// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, a digest of algo:hex. InvalidArgument says what is wrong.
Status ValidateImageReference(std::string_view ref);

// Parses a job spec from the API's JSON object. An unknown field, a wrong type, a value out of
// range, a NUL byte in a command argument or an environment variable, or a key given twice in
// one object is InvalidArgument with a message that names the field. A string `command` becomes
// {"/bin/sh", "-c", command}.
Result<JobSpec> ParseJobSpec(std::string_view json);

// The spec as JSON, in the shape ParseJobSpec reads. With `include_secrets` false
// secureEnvironmentVariables is left out entirely.
std::string JobSpecToJson(const JobSpec& spec, bool include_secrets);

}  // namespace berth
