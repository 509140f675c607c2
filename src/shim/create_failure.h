// How the monitor tells a runtime's refusal to create a container apart from a passing failure.
#pragma once

#include <string_view>

namespace berth {

// True when the OCI runtime's last error line (`runtime create` failed) names a cause that may
// pass by itself: a resource ran short (EAGAIN, ENOMEM, ENOSPC, EMFILE, ENFILE, EBUSY, EINTR) or
// something timed out. Every other create failure comes from the container's config or image (a
// command not found, a rootfs the runtime may not prepare, a bad mount) and repeats on every
// attempt: the job then fails at once instead of being retried.
bool CreateFailureIsTransient(std::string_view runtime_error);

}  // namespace berth
