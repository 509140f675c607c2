// Translates a seccomp profile in the containers/common (Docker, Podman) format, such as
// /usr/share/containers/seccomp.json, into the OCI runtime config's linux.seccomp object for
// one architecture and one capability set. Pure functions; thread-safe.
//
// The source format lists "syscalls" entries with "names", "action", optional "errnoRet" and
// "args", and "includes"/"excludes" conditions on "caps" (all included caps must be held; any
// excluded cap held drops the entry), "arches" (Go names: amd64, x86, x32, arm64, ...) and
// "minKernel" (ignored: the kernels berth supports are newer than any profile's minimum).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace berth {

inline constexpr char kDefaultSeccompProfilePath[] = "/usr/share/containers/seccomp.json";

struct SeccompTarget {
  std::string arch = "amd64";                  // Go name of the architecture, as in "arches"
  std::string scmp_arch = "SCMP_ARCH_X86_64";  // its libseccomp name, as in "archMap"
  std::vector<std::string> caps;               // capabilities the job holds, e.g. "CAP_CHOWN"
};

// The OCI linux.seccomp JSON text for `target`. InvalidArgument for a malformed profile.
Result<std::string> TranslateSeccompProfile(std::string_view profile, const SeccompTarget& target);

// A job's seccomp filter: the OCI linux.seccomp object, and the same rules compiled to the BPF
// program the kernel loads (empty when they could not be compiled here: the runtime then
// compiles the object itself).
struct SeccompFilter {
  nlohmann::json section;
  std::string bpf;
  std::string bpf_base64;  // as the runtime's annotation carries it
};

// The filter for `target`, remembered per (profile, target): every job with the same capability
// set shares one translation and one compilation instead of parsing the ~36 KB profile (2.5 ms)
// and compiling it (more than half of a `crun run`) on each start. The cache keeps at most 32
// filters. Thread-safe.
Result<std::shared_ptr<const SeccompFilter>> CachedSeccompFilter(std::string_view profile,
                                                                 const SeccompTarget& target);

}  // namespace berth
