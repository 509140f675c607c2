// Compiles an OCI runtime config's linux.seccomp object to the classic BPF program the kernel
// loads, with libseccomp and the rules crun applies when it compiles the same object itself.
//
// crun compiles the filter on every start: with Debian's crun 1.8 and the default profile that
// is more than half of a `crun run`. The daemon compiles each profile once and hands the program
// to crun precompiled (the `run.oci.seccomp_bpf_data` annotation, base64); the config keeps the
// linux.seccomp object for runtimes that do not know the annotation (runc, youki, runsc).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace berth {

// crun's annotation for a precompiled filter (base64 of the program).
inline constexpr char kSeccompBpfAnnotation[] = "run.oci.seccomp_bpf_data";

// The BPF program (an array of struct sock_filter) for `seccomp`. InvalidArgument for an unknown
// action, operator or architecture; syscall names libseccomp does not know are skipped, as crun
// skips them. Thread-safe.
Result<std::string> CompileSeccompBpf(const nlohmann::json& seccomp);

}  // namespace berth
