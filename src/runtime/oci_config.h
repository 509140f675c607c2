// Generates an OCI runtime config.json for a job: namespaces, mounts, capabilities, limits,
// and the process (command, env, cwd) from the job spec over the image's config.
#pragma once

#include <string>

#include "common/status.h"
#include "images/image_store.h"
#include "job/job_spec.h"

namespace berth {

struct OciConfigOptions {
  int64_t pids_limit = 1024;  // per-job pids cgroup limit; 0 = none
};

// The argv the job runs: the spec's command when given (it replaces Entrypoint and Cmd, as in
// the pattern's container groups), else the image's Entrypoint + Cmd. InvalidArgument if empty.
Result<std::vector<std::string>> ResolveCommand(const JobSpec& spec, const ImageConfig& image);

// config.json text for container `id` (also its hostname), rootfs at "rootfs" in the bundle.
Result<std::string> BuildOciConfig(const std::string& id, const JobSpec& spec,
                                   const ImageConfig& image, const OciConfigOptions& opts);

}  // namespace berth
