// `berth schedule ...`: create, list, show, remove, enable and disable schedules through a
// running server's /api/schedules routes, with a function key (--key, env BERTH_KEY, else
// <data-dir>/function-key).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace berth {

// Adds the `schedule` subcommand tree to `app`. When one of its commands is parsed, `chosen`
// is set to a function that runs it and returns the process exit code.
void AddScheduleCommands(CLI::App& app, std::function<int()>& chosen);

}  // namespace berth
