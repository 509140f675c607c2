// The daemon's job lines: a subscriber of the job event bus that logs each job state change
// the store accepted (submitted, starting, started, ended, queued again), with the job's id.
#pragma once

#include <functional>

#include "common/log.h"
#include "job/job_events.h"

namespace berth {

// What to Subscribe to a JobEventSource. `log` must outlive the subscription.
std::function<void(const JobEvent&)> JobEventLogger(Logger& log);

}  // namespace berth
