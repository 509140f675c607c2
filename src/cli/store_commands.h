// `berth store copy --from <data dir | connection> --to <connection>`: moves a node's history
// (jobs, queue messages, schedules, keys, logs) into a PostgreSQL store (daemon/store_copy.h).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace berth {

// Adds the `store` subcommand tree to `app`. When one of its commands is parsed, `chosen` is set
// to a function that runs it and returns the process exit code.
void AddStoreCommands(CLI::App& app, std::function<int()>& chosen);

}  // namespace berth
