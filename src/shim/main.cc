// berth-shim: the per-job monitor as a small program of its own. The daemon starts one per job;
// linking only the monitor's code keeps each one's start cost and memory low (`berth shim` does
// the same work from the full binary).
#include "shim/shim_flags.h"

int main(int argc, char** argv) {
  CLI::App app{"berth-shim: the per-job monitor, started by `berth serve`"};
  berth::ShimOptions opts;
  auto* cmd = app.add_subcommand("shim", "Monitor one job");
  berth::AddShimFlags(cmd, opts);
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return berth::RunShim(opts);
}
