// Shell completion generated from the command table itself (the CLI11 app that --help shows),
// so a new command or option completes without anyone editing a script.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace berth {

// A bash completion script for `app` (complete -F _berth berth): subcommands at each level,
// then that command's options. Hidden commands (no group) are left out.
std::string BashCompletion(const CLI::App& app);

}  // namespace berth
