// `berth keys ...`: list, create, renew and delete function, host and master keys. The commands
// talk to a running server's admin API (/admin/...) with the master key (--key, env
// BERTH_MASTER_KEY, else <data-dir>/master-key), so the server stays the only writer of its key
// files and a change takes effect at once.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace berth {

// Adds the `keys` subcommand tree to `app`. When one of its commands is parsed, `chosen` is set
// to a function that runs it and returns the process exit code.
void AddKeyCommands(CLI::App& app, std::function<int()>& chosen);

}  // namespace berth
