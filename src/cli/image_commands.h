// `berth image ...`: pull, import, list and remove images in the local store.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace berth {

// Adds the `image` subcommand tree to `app`. When one of its commands is parsed, `chosen` is set
// to a function that runs it and returns the process exit code.
void AddImageCommands(CLI::App& app, std::function<int()>& chosen);

}  // namespace berth
