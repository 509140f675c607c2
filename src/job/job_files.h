// Where a job's files live on this node: <data>/jobs/<id>/. Shared by the runtime (which
// prepares the bundle), the monitor (which writes the log and exit.json) and the service (which
// reads them).
#pragma once

#include <filesystem>
#include <string_view>

namespace berth {

class JobFiles {
 public:
  JobFiles(const std::filesystem::path& jobs_root, std::string_view id)
      : dir_(jobs_root / std::string(id)) {}

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path bundle() const { return dir_ / "bundle"; }
  std::filesystem::path config() const { return dir_ / "bundle" / "config.json"; }
  std::filesystem::path rootfs() const { return dir_ / "bundle" / "rootfs"; }
  std::filesystem::path upper() const { return dir_ / "upper"; }
  std::filesystem::path work() const { return dir_ / "work"; }
  // The lowerdir= value for the overlay (image layers, top first).
  std::filesystem::path lower() const { return dir_ / "lower"; }
  // Combined stdout and stderr of the container.
  std::filesystem::path log() const { return dir_ / "log"; }
  // Written atomically by the monitor once the log is complete.
  std::filesystem::path exit() const { return dir_ / "exit.json"; }
  // {"pid","startTime"} of the monitor, written before the runtime starts the container and
  // synced before the start is reported; "containerPid" joins them once the container runs.
  std::filesystem::path monitor() const { return dir_ / "monitor.json"; }
  // Locked (flock, exclusive) by whoever starts or monitors the job on this node: the node's
  // claim on the job. Held from before the bundle is touched until the monitor ends.
  std::filesystem::path claim() const { return dir_ / "claim"; }
  // The monitor's own diagnostics.
  std::filesystem::path monitor_log() const { return dir_ / "monitor.log"; }
  std::filesystem::path runtime_log() const { return dir_ / "runtime.log"; }
  std::filesystem::path pid_file() const { return dir_ / "container.pid"; }

 private:
  std::filesystem::path dir_;
};

}  // namespace berth
