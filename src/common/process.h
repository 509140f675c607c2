// Small process facts from /proc. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace berth {

// The start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat), which with the
// pid names a process uniquely across pid reuse. nullopt when there is no such process.
std::optional<uint64_t> ProcessStartTime(pid_t pid);

// Opens a pidfd for `pid` only if that pid still is the process that started at `start_time`.
// -1 when the process is gone or the pid now belongs to another process.
int OpenPidfdIfSame(pid_t pid, uint64_t start_time);

}  // namespace berth
