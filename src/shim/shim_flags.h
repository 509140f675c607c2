// The monitor's command line, shared by `berth shim` and the small `berth-shim` binary.
#pragma once

#include <CLI/CLI.hpp>

#include "shim/shim.h"

namespace berth {

// Adds the monitor's flags to `cmd`, filling `opts`.
void AddShimFlags(CLI::App* cmd, ShimOptions& opts);

}  // namespace berth
