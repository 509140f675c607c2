// The standard process metrics (process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds, process_start_time_seconds)
// read from /proc/self at each scrape, and berth_build_info{version,commit}.
#pragma once

#include "common/metrics.h"

namespace berth {

void AddProcessMetrics(Metrics& metrics);

}  // namespace berth
