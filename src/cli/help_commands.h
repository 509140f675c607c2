// The commands that tell about berth itself: `berth version` (also `--version`), `berth help
// [COMMAND]`, and the message for a command that does not exist (with the nearest real one).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

namespace berth {

// "berth 0.1.0 (commit abc123def456)".
std::string VersionLine();

// Adds `version` and `help` to `app`; after parsing, `run` is set when one of them was chosen.
void AddHelpCommands(CLI::App& app, std::function<int()>& run);

// When argv names a subcommand `app` does not have, prints what to do instead to stderr and
// returns the exit code (2); nullopt when argv is fine to parse.
std::optional<int> CheckCommandName(const CLI::App& app, int argc, char** argv);

// The subcommand of `app` nearest to `name` by edit distance, or "" when none is close.
std::string NearestCommand(const CLI::App& app, const std::string& name);

}  // namespace berth
