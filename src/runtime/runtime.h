// Runtime: starts a job's container under its own monitor and reports how it ended.
// OciRuntime speaks the OCI runtime CLI (crun, runc); FakeRuntime serves unit tests.
// Implementations are thread-safe.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "job/job_spec.h"
#include "job/outcome.h"

namespace berth {

struct StartedContainer {
  pid_t monitor_pid = -1;
  pid_t container_pid = -1;
};

// Reports what a start is busy with ("pulling image busybox"), for the job's status.
using StartProgress = std::function<void(const std::string& detail)>;

// Called once, on a runtime thread, when a watched job's monitor has ended.
using ExitCallback = std::function<void(const std::string& id, Outcome outcome)>;

class Runtime {
 public:
  virtual ~Runtime() = default;

  // Starts container `id` for `spec` and returns once its process runs. FailedPrecondition when
  // no retry can succeed (the job gives no command and the image has none, the runtime refused
  // the container's config, the image cannot be pulled as named); Unavailable (or another code)
  // when a later attempt may; AlreadyExists when a monitor for `id` was started before (adopt
  // instead); Unavailable when another start of `id` is in progress on this node. Messages name
  // no host path of the data dir (they reach the job's anonymous status). At most one start of a
  // job proceeds at a time, whatever the callers (threads or processes): the node's claim on the
  // job is taken atomically before anything is touched and held by the monitor while it lives.
  // `progress` (may be empty) hears about slow phases such as an image pull.
  virtual Result<StartedContainer> Start(const std::string& id, const JobSpec& spec,
                                         const StartProgress& progress) = 0;

  // A hint, never blocking: Starts follow shortly (jobs were just claimed). A runtime may begin
  // work those starts will wait for (OciRuntime: the kernel wait of its cgroup moves).
  virtual void StartsComing() {}

  // Whether a Start on `image` would find it on this node (no pull needed). Cheap.
  virtual bool HasImage(const std::string& image) = 0;

  // Brings `image` onto this node (from its registry) so that a Start finds it; OK at once when
  // it is here. May take as long as the pull deadline. Errors as Start's (FailedPrecondition
  // when no retry can help). Concurrent pulls of one image share one download.
  virtual Status PullImage(const std::string& image, const StartProgress& progress) = 0;

  // Calls `on_exit` when the monitor of job `id` ends (at once, if it already has). Works for
  // monitors started by an earlier daemon. NotFound when no monitor was ever started for `id`.
  virtual Status Watch(const std::string& id, ExitCallback on_exit) = 0;

  // Cancels every watch: once it returns, no ExitCallback runs or will run (one in progress is
  // waited for). Call before the owner of the callbacks goes away. Monitors keep running; a
  // later Watch fails with Unavailable.
  virtual void StopWatching() = 0;

  // Asks the job's monitor to stop its container: SIGTERM, or SIGKILL when `force`.
  // NotFound when no live monitor runs for `id`.
  virtual Status Stop(const std::string& id, bool force) = 0;

  // Sets a finished run's records aside so that job `id` can run again (its container name is
  // free once the monitor ended) and appends `marker` as a line to the job's log. Idempotent:
  // OK without doing anything when there is no run to set aside (done already).
  virtual Status PrepareRetry(const std::string& id, int finished_attempt,
                              const std::string& marker) = 0;

  // Removes every trace of job `id` on this node (files, a leftover container).
  // FailedPrecondition while its monitor runs.
  virtual Status Remove(const std::string& id) = 0;

  // Ids of the jobs that have files on this node.
  virtual std::vector<std::string> ListLocalJobs() = 0;
};

}  // namespace berth
