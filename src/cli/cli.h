// The berth command line: `berth serve` runs a node; `submit`, `status` and `logs` talk to one
// over HTTP; `shim` is the per-job monitor the daemon launches (not for people).
#pragma once

#include "common/crash_points.h"

namespace berth {

// Parses argv and runs the chosen subcommand; returns the process exit code. `crash_points`
// (test builds only; null in the berth binary) is handed to `serve`'s job path.
int RunCli(int argc, char** argv, CrashPoints* crash_points = nullptr);

}  // namespace berth
