#include "cli/help_commands.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "cli/completion.h"
#include "common/version.h"
#include "daemon/settings.h"

namespace berth {
namespace {

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Subcommands a person may type (the hidden `shim` excluded).
std::vector<const CLI::App*> VisibleCommands(const CLI::App& app) {
  std::vector<const CLI::App*> out;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (!sub->get_group().empty()) out.push_back(sub);
  }
  return out;
}

// `berth help settings`: every setting with its default, from the settings table itself.
std::string SettingsTopic() {
  std::string s =
      "Settings of 'berth serve': a JSON file given with --settings, shaped like a function "
      "app's\nlocal.settings.json ({\"IsEncrypted\": false, \"Values\": {\"NAME\": VALUE, "
      "...}}); an environment\nvariable of the same name overrides the file. Values may be "
      "given as JSON or as strings.\n\n";
  auto defaults = SettingDefaults();
  size_t width = 0;
  for (const auto& [name, value] : defaults) width = std::max(width, name.size());
  char line[512];
  snprintf(line, sizeof line, "%-*s  %s\n", static_cast<int>(width), "SETTING", "DEFAULT");
  s += line;
  for (const auto& [name, value] : defaults) {
    std::string shown = value == "\"\"" ? "(empty)" : value;
    snprintf(line, sizeof line, "%-*s  %s\n", static_cast<int>(width), name.c_str(), shown.c_str());
    s += line;
  }
  s += "\nWhat each one does: the README's Settings table.\n";
  return s;
}

}  // namespace

// The help text of `app` itself (App::help() shows the chosen subcommand's instead).
std::string HelpOf(const CLI::App& app) {
  return app.get_formatter()->make_help(&app, app.get_name(), CLI::AppFormatMode::Normal);
}

std::string VersionLine() { return "berth " + BerthVersion() + " (commit " + BerthCommit() + ")"; }

void AddHelpCommands(CLI::App& app, std::function<int()>& run) {
  auto* version =
      app.add_subcommand("version", "Print the version and the commit it was built from");
  version->callback([&run] {
    run = [] {
      printf("%s\n", VersionLine().c_str());
      return 0;
    };
  });
  auto* completion = app.add_subcommand(
      "completion", "Print a shell completion script (bash), generated from the commands");
  auto shell = std::make_shared<std::string>();
  completion->add_option("shell", *shell, "The shell (bash)")
      ->required()
      ->check(CLI::IsMember({"bash"}));
  completion->footer(
      "Load it now with: source <(berth completion bash); the package installs it for bash.");
  completion->callback([&app, &run] {
    run = [&app] {
      printf("%s", BashCompletion(app).c_str());
      return 0;
    };
  });
  auto* help = app.add_subcommand("help", "Show help for berth, for one command, or a topic");
  auto topic = std::make_shared<std::string>();
  help->add_option("command", *topic, "The command to explain, or 'settings'");
  help->callback([&app, &run, topic] {
    run = [&app, topic] {
      if (topic->empty()) {
        printf("%s", HelpOf(app).c_str());
        return 0;
      }
      if (*topic == "settings") {
        printf("%s", SettingsTopic().c_str());
        return 0;
      }
      for (const CLI::App* sub : VisibleCommands(app)) {
        if (sub->get_name() == *topic) {
          printf("%s", HelpOf(*sub).c_str());
          return 0;
        }
      }
      std::string near = NearestCommand(app, *topic);
      fprintf(stderr, "berth: no command '%s'.%s Run 'berth help' for the list.\n", topic->c_str(),
              near.empty() ? "" : (" Did you mean '" + near + "'?").c_str());
      return 2;
    };
  });
}

std::string NearestCommand(const CLI::App& app, const std::string& name) {
  if (name.empty()) return "";
  std::string best;
  size_t best_distance = std::max<size_t>(2, name.size() / 3) + 1;  // farther is no hint
  for (const CLI::App* sub : VisibleCommands(app)) {
    if (sub->get_name().rfind(name, 0) == 0) return sub->get_name();  // a prefix ("sub")
    size_t d = EditDistance(name, sub->get_name());
    if (d < best_distance) {
      best_distance = d;
      best = sub->get_name();
    }
  }
  return best;
}

std::optional<int> CheckCommandName(const CLI::App& app, int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "%s\nberth: a command is required (try 'berth help').\n", HelpOf(app).c_str());
    return 2;
  }
  std::string first = argv[1];
  if (first.empty() || first[0] == '-') return std::nullopt;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->check_name(first)) return std::nullopt;
  }
  std::string near = NearestCommand(app, first);
  fprintf(stderr, "berth: '%s' is not a berth command.%s\nRun 'berth help' for the list.\n",
          first.c_str(), near.empty() ? "" : (" Did you mean '" + near + "'?").c_str());
  return 2;
}

}  // namespace berth
