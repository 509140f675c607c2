// A sealed in-memory copy of the OCI runtime's binary, made once when the daemon starts and
// executed for every container start.
//
// crun guards against CVE-2019-5736 (a container overwriting the runtime's binary through
// /proc/<pid>/exe) by copying its own binary into a memfd, sealing it, and executing that copy
// again, on every call: about 3 ms of each start on our machines. It skips the copy when it
// already runs from a memfd sealed against every change, which cannot be written whoever holds
// it (crun's cloned_binary.c says as much: such a memfd may be shared). The daemon makes that
// memfd once; each monitor runs `run` from it.
#pragma once

#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace berth {

// The seals crun checks for (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), all of
// them and no other.
int RuntimeCopySeals();

// Copies the ELF executable at `path` into a memfd (close-on-exec) sealed with
// RuntimeCopySeals(). FailedPrecondition for a file that is not an ELF executable (a script run
// from a close-on-exec fd cannot be opened by its interpreter); IoError when the kernel refuses an
// executable memfd (vm.memfd_noexec) or the copy fails.
Result<UniqueFd> SealedCopy(const std::string& path);

// The path that executes the file open at `fd` in the calling process: /proc/self/fd/N (what
// fexecve does; the exec opens the file before close-on-exec fds close).
std::string FdExecPath(int fd);

}  // namespace berth
