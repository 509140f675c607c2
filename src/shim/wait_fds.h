// The fds a monitor hands to berth-shim-wait and gets back when it resumes (shim.cc,
// wait_main.cc): its signalfd and the read end of the job's output pipe.
#pragma once

namespace berth {

inline constexpr int kSignalFd = 5;
inline constexpr int kOutputFd = 6;

}  // namespace berth
