#include "cli/cli.h"

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "cli/client_commands.h"
#include "cli/help_commands.h"
#include "cli/http_client.h"
#include "cli/image_commands.h"
#include "cli/key_commands.h"
#include "cli/schedule_commands.h"
#include "cli/store_commands.h"
#include "daemon/server.h"
#include "daemon/settings.h"
#include "shim/shim_flags.h"

namespace berth {
namespace {

std::string SettingsHelp() {
  std::string s =
      "Settings (JSON file with a \"Values\" object; environment variables of the "
      "same names override it):\n ";
  for (const auto& n : SettingNames()) s += " " + n;
  return s + "\n'berth help settings' lists each with its default.";
}

void AddClientOptions(CLI::App* cmd, ClientOptions& c) {
  cmd->add_option("--server", c.server, "Server URL (env BERTH_SERVER)")->capture_default_str();
  cmd->add_option("--key", c.key, "Function key (env BERTH_KEY; else read from --data-dir)");
  cmd->add_option("--data-dir", c.data_dir, "Data dir whose function-key file to use")
      ->capture_default_str();
  cmd->add_option("--cacert", c.cacert,
                  "CA certificate (PEM) to trust for an https server (env BERTH_CACERT)");
}

}  // namespace

int RunCli(int argc, char** argv, CrashPoints* crash_points) {
  CLI::App app{"berth: run containerized batch jobs in response to events"};
  app.name("berth");
  app.require_subcommand(1);
  app.set_version_flag("--version", VersionLine());

  ServeOptions serve;
  auto* serve_cmd = app.add_subcommand("serve", "Run a node: HTTP API, dispatcher, runtime");
  serve_cmd
      ->add_option("--listen", serve.listen,
                   "HOST:PORT, :PORT or PORT to listen on (port 0: any free)")
      ->capture_default_str();
  serve_cmd->add_option("--data-dir", serve.data_dir, "Where the database, jobs and images live")
      ->capture_default_str();
  serve_cmd
      ->add_option("--log-format", serve.log_format,
                   "Log lines as text (default) or json (overrides the LogFormat setting)")
      ->check(CLI::IsMember({"text", "json"}));
  serve_cmd
      ->add_option("--role", serve.role,
                   "all (default: API, dispatcher and containers in one process), api (HTTP API "
                   "only; needs no OCI runtime) or worker (runs jobs; serves only /healthz and "
                   "/metrics). api and worker need StoreConnection (PostgreSQL). Overrides the "
                   "Role setting")
      ->check(CLI::IsMember({"all", "api", "worker"}));
  std::string settings_file;
  serve_cmd->add_option("--settings", settings_file, "Settings file (local.settings.json shape)")
      ->check(CLI::ExistingFile);
  serve_cmd->footer(SettingsHelp());

  ClientOptions client{EnvOr("BERTH_SERVER", "http://127.0.0.1:7071"), EnvOr("BERTH_KEY", ""),
                       ".berth", EnvOr("BERTH_CACERT", "")};
  SubmitCommandOptions submit;
  auto* submit_cmd = app.add_subcommand("submit", "Queue a job; prints its id and status URL");
  AddClientOptions(submit_cmd, client);
  submit_cmd->add_option("--image", submit.image, "Image to run (default: busybox)");
  submit_cmd->add_option("-e,--env", submit.env, "Environment variable NAME=VALUE (repeatable)");
  submit_cmd->add_option("-f,--file", submit.spec_file, "JSON job spec file ('-' = stdin)");
  submit_cmd->add_option("command", submit.command, "Command to run (after --)");
  submit_cmd->add_flag("-w,--wait", submit.wait,
                       "Stream the log until the job ends; exit with its exit code");
  submit_cmd->add_option("--idempotency-key", submit.idempotency_key,
                         "Same key, same job: a repeated submit creates nothing");
  submit_cmd->footer("With no image, command or spec, the server's default job runs.");

  std::string id;
  auto* status_cmd = app.add_subcommand("status", "Show a job's state, exit code and logs");
  AddClientOptions(status_cmd, client);
  status_cmd->add_option("id", id, "Job id")->required();

  bool follow = false;
  auto* logs_cmd = app.add_subcommand("logs", "Print a job's log");
  AddClientOptions(logs_cmd, client);
  logs_cmd->add_option("id", id, "Job id")->required();
  logs_cmd->add_flag("-f,--follow", follow, "Stream the log as it grows until the job ends");

  auto* cancel_cmd = app.add_subcommand("cancel", "Cancel a job (SIGTERM, then SIGKILL)");
  AddClientOptions(cancel_cmd, client);
  cancel_cmd->add_option("id", id, "Job id")->required();

  ListCommandOptions list;
  auto* ls_cmd = app.add_subcommand("ls", "List jobs, newest first");
  AddClientOptions(ls_cmd, client);
  ls_cmd->add_option("--state", list.state, "Only jobs in this state (e.g. Running)");
  ls_cmd->add_option("-n,--limit", list.limit, "At most this many (a page)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  ls_cmd->add_option("--cursor", list.cursor, "Start after this page (ls says the next cursor)");
  ls_cmd->add_flag("--all", list.all, "Every job, page after page");
  ls_cmd->add_flag("--json", list.json, "Print JSON ({\"jobs\": [...], \"nextCursor\": ...})");

  ShimOptions shim;
  auto* shim_cmd = app.add_subcommand("shim", "Per-job monitor (started by the daemon)");
  shim_cmd->group("");  // hidden from --help
  AddShimFlags(shim_cmd, shim);

  std::function<int()> image_command;
  AddImageCommands(app, image_command);
  std::function<int()> key_command;
  AddKeyCommands(app, key_command);
  std::function<int()> schedule_command;
  AddScheduleCommands(app, schedule_command);
  std::function<int()> store_command;
  AddStoreCommands(app, store_command);
  std::function<int()> help_command;
  AddHelpCommands(app, help_command);

  if (auto code = CheckCommandName(app, argc, argv)) return *code;
  CLI11_PARSE(app, argc, argv);

  if (*serve_cmd) {
    if (!settings_file.empty()) serve.settings_file = settings_file;
    serve.crash_points = crash_points;
    return Serve(serve);
  }
  if (*submit_cmd) return SubmitCommand(client, submit);
  if (*status_cmd) return StatusCommand(client, id);
  if (*logs_cmd) return LogsCommand(client, id, follow);
  if (*cancel_cmd) return CancelCommand(client, id);
  if (*ls_cmd) return ListCommand(client, list);
  if (*shim_cmd) return RunShim(shim);
  if (image_command) return image_command();
  if (key_command) return key_command();
  if (schedule_command) return schedule_command();
  if (store_command) return store_command();
  if (help_command) return help_command();
  return 2;
}

}  // namespace berth
