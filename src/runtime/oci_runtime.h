// OciRuntime: runs jobs with an OCI runtime CLI (crun by default, runc selectable).
//
// Per job it writes a bundle under <jobs_root>/<id>/ (config.json from the spec and the image,
// the overlay's lower layers, an upper and a work dir), then launches a monitor process
// (`berth shim`, see shim/shim.h) that mounts the rootfs in its private mount namespace and
// drives `create` and `start`. Monitors outlive the daemon; Watch re-attaches to them through
// their pid and start time (monitor.json), which guards against pid reuse. Thread-safe.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "common/spare_directories.h"
#include "common/unique_fd.h"
#include "images/image_store.h"
#include "runtime/cgroup_layout.h"
#include "runtime/migration_warmer.h"
#include "runtime/monitor_watcher.h"
#include "runtime/oci_config.h"
#include "runtime/runtime.h"

namespace berth {

struct OciRuntimeOptions {
  std::filesystem::path jobs_root;   // <data>/jobs
  std::filesystem::path state_root;  // the runtime's --root, e.g. <data>/runtime/crun
  std::string runtime_binary = "/usr/bin/crun";
  std::string monitor_binary = "/proc/self/exe";  // the berth binary, run as `berth shim`
  OciConfigOptions config;
  milliseconds start_timeout{60'000};  // how long a start may take before it is abandoned
  int64_t log_max_bytes = 0;    // the monitor keeps the log's newest part past this; 0 = unbounded
  int64_t upper_max_bytes = 0;  // cap on what a job writes to its root (tmpfs upper); 0 = none
  // The runtime deletes many containers in one call (crun's `delete --regex`): monitors then
  // leave their ended container to the daemon, which deletes those of the jobs that ended
  // together at once (a runtime exec costs more than the delete itself). false = each monitor
  // deletes its own container.
  bool batch_deletes = false;
  // The runtime skips copying itself into a sealed memfd on each call when it runs from one
  // (crun): the runtime makes that copy once (sealed_binary.h), and each monitor runs `run` from
  // it. false, or a copy that cannot be made (logged): the monitor runs runtime_binary.
  bool run_from_sealed_copy = false;
  // Where image pulls for jobs are counted (pulls, bytes, durations); null: nowhere.
  Metrics* metrics = nullptr;
};

// What `opts` turn off of a job's isolation (no user namespace), one sentence each; the runtime
// prints them as warnings when it is made. (A missing seccomp profile is refused or warned about
// by the daemon, which knows the profile's path.)
std::vector<std::string> IsolationWarnings(const OciRuntimeOptions& opts);

class OciRuntime : public Runtime {
 public:
  OciRuntime(OciRuntimeOptions opts, ImageStore& images);

  Result<StartedContainer> Start(const std::string& id, const JobSpec& spec,
                                 const StartProgress& progress) override;
  void StartsComing() override;
  bool HasImage(const std::string& image) override;
  Status PullImage(const std::string& image, const StartProgress& progress) override;
  Status Watch(const std::string& id, ExitCallback on_exit) override;
  void StopWatching() override;
  Status Stop(const std::string& id, bool force) override;
  Status PrepareRetry(const std::string& id, int finished_attempt,
                      const std::string& marker) override;
  Status Remove(const std::string& id) override;
  std::vector<std::string> ListLocalJobs() override;

  const CgroupLayout& cgroup_layout() const { return layout_; }

 private:
  // Start, before its errors are redacted.
  Result<StartedContainer> StartClaimed(const std::string& id, const JobSpec& spec,
                                        const StartProgress& progress);
  Status PrepareBundle(const std::string& id, const JobSpec& spec, const StartProgress& progress);
  // Starts the monitor, handing it `claim_fd` (the job's locked claim) to hold.
  // `keep_environment`: the job has no variables of its own, the monitor need not scrub them.
  Result<StartedContainer> LaunchMonitor(const std::string& id, int claim_fd,
                                         bool keep_environment);
  std::vector<std::string> MonitorArgs(const std::string& id) const;
  // The live monitor of `id` as a pidfd, or none.
  UniqueFd OpenMonitor(const std::string& id);
  Outcome ReadOutcome(const std::string& id);
  // Deletes (killing it if it still runs) a container whose monitor died, and its cgroup.
  void DeleteLeftoverContainer(const std::string& id);
  // Runs the monitor binary's --delete-only for `id`, or for every container matching
  // `pattern` when one is given; waits for it.
  void RunDeleter(const std::string& id, const std::string& pattern);
  // On the watcher thread, after the monitors that ended together were noted in ended_: deletes
  // their containers in one runtime call (batch_deletes), then reports each job's outcome.
  void SettleEnded();

  OciRuntimeOptions opts_;
  ImageStore& images_;
  CgroupLayout layout_;
  struct Ended {
    std::string id;
    ExitCallback on_exit;
  };
  std::vector<Ended> ended_;  // only touched on the watcher thread
  MonitorWatcher watcher_;
  // Compiles the jobs' seccomp filter while the daemon starts (joined first on destruction).
  std::jthread seccomp_warmer_;
  UniqueFd runtime_copy_;  // run_from_sealed_copy: the sealed copy; invalid: none
  // Job directories made ahead, off the start path (common/spare_directories.h).
  SpareDirectories job_dirs_;
  // Begins the wait of the runtime's cgroup move as a start begins (migration_warmer.h); none
  // on a node without a runtime.
  std::unique_ptr<MigrationWarmer> warmer_;
};

}  // namespace berth
