// Generates an OCI runtime config.json for a job: namespaces, mounts, capabilities, limits,
// and the process (command, env, cwd) from the job spec over the image's config.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "images/image_store.h"
#include "job/job_spec.h"
#include "runtime/seccomp.h"

namespace berth {

// A user namespace mapping: container ids 0..count-1 are host ids start..start+count-1.
struct IdRange {
  uint32_t start = 0;
  uint32_t count = 0;  // 0 = no user namespace
};

// Parses "start:count" (UserNamespaceRange). "" or "0:0" = no user namespace. The range must not
// include host id 0 and must fit in 32 bits.
Result<IdRange> ParseIdRange(std::string_view text);

struct OciConfigOptions {
  int64_t pids_limit = 1024;     // per-job pids cgroup limit; 0 = none
  double default_cpu = 0;        // cores for jobs that give none; 0 = no limit
  double default_memory_gb = 0;  // memory for jobs that give none; 0 = no limit
  // Size of the job's /tmp (a tmpfs, charged to the job's memory); 0 = the kernel's default
  // (half the host's memory).
  int64_t tmp_size_bytes = int64_t{256} << 20;
  IdRange user_namespace;  // container root maps here; count 0 = no user namespace
  // The seccomp profile (containers/common JSON, e.g. the text of /usr/share/containers/
  // seccomp.json); empty = no seccomp filter.
  std::string seccomp_profile;
  // The runtime loads the precompiled program alone (LoadsPrecompiledSeccomp: crun): the config
  // then carries the program without the rules, a third less for the daemon to write, the
  // runtime to parse and copy into its state, and the page cache to hold while the job runs.
  // false = the config carries both (runc, youki and runsc compile the rules).
  bool seccomp_program_only = false;
};

// The argv the job runs: the spec's command when given (it replaces Entrypoint and Cmd, as in
// the pattern's container groups), else the image's Entrypoint + Cmd. InvalidArgument if empty.
Result<std::vector<std::string>> ResolveCommand(const JobSpec& spec, const ImageConfig& image);

// Compiles the seccomp filter of the capability set every job gets, so that the first job's
// start does not wait for it (a compile of the shipped profile takes 20-30 ms). Returns the
// filter BuildOciConfig then reuses; null when `opts` has no profile.
Result<std::shared_ptr<const SeccompFilter>> WarmSeccompFilter(const OciConfigOptions& opts);

// config.json text for container `id` (also its hostname), rootfs at "rootfs" in the bundle.
Result<std::string> BuildOciConfig(const std::string& id, const JobSpec& spec,
                                   const ImageConfig& image, const OciConfigOptions& opts);

}  // namespace berth
