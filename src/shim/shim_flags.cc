#include "shim/shim_flags.h"

namespace berth {

void AddShimFlags(CLI::App* cmd, ShimOptions& opts) {
  cmd->add_option("--id", opts.id)->required();
  cmd->add_option("--job-dir", opts.job_dir)->required();
  cmd->add_option("--runtime", opts.runtime)->required();
  cmd->add_option("--runtime-root", opts.runtime_root)->required();
  cmd->add_option("--hide-mount", opts.hide_mounts);
  cmd->add_option("--sync-fd", opts.sync_fd);
  cmd->add_option("--claim-fd", opts.claim_fd);
  cmd->add_option("--runtime-fd", opts.runtime_fd);
  cmd->add_flag("--delete-only", opts.delete_only);
  cmd->add_option("--delete-pattern", opts.delete_pattern);
  cmd->add_flag("--leave-container", opts.leave_container);
  cmd->add_option("--userns", opts.user_namespace);
  cmd->add_option("--oom-events-file", opts.oom_events_file);
  cmd->add_option("--log-max-bytes", opts.log_max_bytes);
  cmd->add_option("--upper-max-bytes", opts.upper_max_bytes);
  cmd->add_flag("--keep-environment", opts.keep_environment);
  cmd->add_option("--resume-pid", opts.resume_pid);
  cmd->add_option("--resume-escape", opts.resume_escape);
}

}  // namespace berth
