// Runtime: starts a job's container under its own monitor and reports how it ended.
// OciRuntime speaks the OCI runtime CLI (crun, runc); FakeRuntime serves unit tests.
// Implementations are thread-safe.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "common/status.h"
#include "job/job_spec.h"
#include "job/outcome.h"

namespace berth {

struct StartedContainer {
  pid_t monitor_pid = -1;
  pid_t container_pid = -1;
};

// Called once, on a runtime thread, when a watched job's monitor has ended.
using ExitCallback = std::function<void(const std::string& id, Outcome outcome)>;

class Runtime {
 public:
  virtual ~Runtime() = default;

  // Starts container `id` for `spec` and returns once its process runs. NotFound when the image
  // is not available; AlreadyExists when a monitor for `id` was started before (adopt instead).
  virtual Result<StartedContainer> Start(const std::string& id, const JobSpec& spec) = 0;

  // Calls `on_exit` when the monitor of job `id` ends (at once, if it already has). Works for
  // monitors started by an earlier daemon. NotFound when no monitor was ever started for `id`.
  virtual Status Watch(const std::string& id, ExitCallback on_exit) = 0;
};

}  // namespace berth
