// What the daemon learns about its OCI runtime binary at start-up, from `<runtime> --version`:
// which runtime it is (crun, runc, youki, runsc, ...) and its version, so that job configs can
// use what that runtime understands. Pure parsing plus one probe; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace berth {

struct RuntimeVersion {
  std::string name;  // the first word of the first line: "crun", "runc", "youki", "runsc"
  int major = 0;
  int minor = 0;
  int patch = 0;
};

// Parses the first line of `--version` output ("crun version 1.8.1", "runc version 1.1.5",
// "youki version 0.3.0"). A version it cannot read stays 0.0.0. InvalidArgument when the first
// line is not "<name> version ...".
Result<RuntimeVersion> ParseRuntimeVersion(std::string_view text);

// Runs `binary --version` (stdin and stderr to /dev/null, at most 5 s) and parses its output.
Result<RuntimeVersion> ProbeRuntimeVersion(const std::string& binary);

// Whether the runtime loads a job's seccomp filter from the precompiled program in the config's
// `run.oci.seccomp_bpf_data` annotation with no `linux.seccomp` rules beside it: crun since 0.18.
bool LoadsPrecompiledSeccomp(const RuntimeVersion& runtime);

// Whether the runtime deletes every container matching a regular expression in one call
// (`delete --force --regex PATTERN`): crun.
bool DeletesByPattern(const RuntimeVersion& runtime);

// Whether the runtime, started from a memfd sealed against every change, runs as it is instead
// of copying its binary into a new sealed memfd and executing that (sealed_binary.h): crun.
bool RunsFromSealedCopy(const RuntimeVersion& runtime);

}  // namespace berth
