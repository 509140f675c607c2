// Reading a cgroup's OOM-kill counter, as the monitor does after the container's exit.
#pragma once

#include <cstdint>
#include <string_view>

namespace berth {

// The "oom_kill N" counter of memory.oom_control (v1) or memory.events (v2) text; 0 if absent.
int64_t ParseOomKillCount(std::string_view text);

}  // namespace berth
