// berth-shim: the per-job monitor as a small program of its own. The daemon starts one per job;
// linking only the monitor's code keeps each one's start cost and memory low (`berth shim` does
// the same work from the full binary).
#include "shim/shim_flags.h"

namespace {

// Parses the command line into `opts`; the parser (a heap of strings and callbacks) is gone
// when this returns, before the monitor's long wait. Returns -1 to run, else an exit code.
int ParseFlags(int argc, char** argv, berth::ShimOptions& opts) {
  CLI::App app{"berth-shim: the per-job monitor, started by `berth serve`"};
  auto* cmd = app.add_subcommand("shim", "Monitor one job");
  berth::AddShimFlags(cmd, opts);
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  berth::ShimOptions opts;
  if (int rc = ParseFlags(argc, argv, opts); rc >= 0) return rc;
  opts.argv.assign(argv, argv + argc);
  return berth::RunShim(opts);
}
