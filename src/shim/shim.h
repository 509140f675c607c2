// The monitor (the conmon role): one small process per job that outlives the daemon.
//
// It starts the container from a private mount namespace (the job's overlay rootfs is mounted
// only there and in the container's own, and cgroup mounts the OCI runtime cannot handle are
// hidden), and returns to its original namespace once the container runs: runtime verbs after
// that get a fresh private namespace each. It is the child subreaper that
// receives the container's exit status, holds the container's stdout and stderr and appends them
// to the job's log, and writes exit.json atomically only after the log is drained and synced.
// It reports "OK <pid>", "ERR <message>" (a failure a later attempt may not see) or
// "REFUSED <message>" (the runtime refused the container's config: every attempt would fail) on the
// sync fd once the container runs or failed.
// Signals: SIGTERM, SIGINT, SIGHUP and SIGQUIT are forwarded to the container's process;
// SIGUSR1 makes the monitor SIGKILL it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace berth {

struct ShimOptions {
  std::string id;                         // the container's name: the job id
  std::filesystem::path job_dir;          // <data>/jobs/<id>
  std::string runtime = "/usr/bin/crun";  // OCI runtime binary
  std::filesystem::path runtime_root;     // the runtime's --root state directory
  std::vector<std::string> hide_mounts;   // mounts to detach in the private namespace
  int sync_fd = 3;                        // where the start is reported; closed after
  // The job's claim on this node: an fd holding an exclusive flock on <job-dir>/claim, taken by
  // the daemon before it touched the bundle. The monitor keeps it open (close-on-exec, so no
  // child inherits it) for its whole life: while it lives, no other start of the job can begin.
  // -1 = none.
  int claim_fd = -1;
  // A sealed in-memory copy of the runtime (runtime/sealed_binary.h), inherited: `run` executes
  // it (argv[0] stays `runtime`), so the runtime need not copy itself first. The monitor closes
  // it once the container runs; later verbs run `runtime`. -1 = none.
  int runtime_fd = -1;
  bool delete_only = false;  // only `runtime delete --force` a leftover container, then exit
  // With delete_only: delete every container whose name matches this POSIX extended regular
  // expression (`delete --force --regex`, crun), not only `id`. "" = `id` alone.
  std::string delete_pattern;
  // The monitor leaves its ended container to the daemon, which deletes the containers of jobs
  // that end together in one runtime call, instead of one `delete` per job.
  bool leave_container = false;
  // "START:COUNT": the job runs in a user namespace mapping its root to host id START. The
  // image layers are then mounted idmapped (0 -> START) under the overlay, and the upper dir is
  // owned by START, so files the job creates are owned by the range on the host. "" = none.
  std::string user_namespace;
  // The job cgroup's OOM counter file (memory.oom_control on v1, memory.events on v2), read
  // after the container's exit and before `runtime delete`; "" = OOM kills are not detected.
  std::string oom_events_file;
  // The log keeps its newest part: past this size it is rewritten to its newest half, behind a
  // "--- berth: N bytes of older output dropped ---" line, and <job>/log.dropped holds N.
  // 0 = unbounded.
  int64_t log_max_bytes = 0;
  // Caps what the job can write to its root: the upper and work dirs then live on a tmpfs of
  // this size (under <job>/upper/capped, in the monitor's namespace; writes past it get ENOSPC,
  // and its pages are charged to the job's memory cgroup). 0 = uncapped, on the data disk.
  int64_t upper_max_bytes = 0;
  // The config's environment is the image's and berth's only (the job set none of its own):
  // nothing in it to scrub from the disk once the container runs.
  bool keep_environment = false;
  // The monitor's own command line (argv), to exec it again after berth-shim-wait; empty: the
  // monitor never hands its wait over (it waits itself for the job's whole run).
  std::vector<std::string> argv;
  // Set when berth-shim-wait execs the monitor again: the container's pid, and the log
  // escaper's state (-1: inside a line; N >= 0: at a line start, N bytes of the marker held).
  // The signalfd and the output pipe are at the fds of shim/wait_fds.h. 0 = a fresh start.
  int resume_pid = 0;
  int resume_escape = -1;
};

// Runs the monitor to the job's end. Returns the process exit code (0 when an exit was recorded).
int RunShim(const ShimOptions& opts);

}  // namespace berth
