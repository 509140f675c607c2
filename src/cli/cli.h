// The berth command line: `berth serve` runs a node; `submit`, `status` and `logs` talk to one
// over HTTP; `shim` is the per-job monitor the daemon launches (not for people).
#pragma once

namespace berth {

// Parses argv and runs the chosen subcommand; returns the process exit code.
int RunCli(int argc, char** argv);

}  // namespace berth
