#include "cli/schedule_commands.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/http_client.h"
#include "common/files.h"

namespace berth {
namespace {

using json = nlohmann::json;

struct ScheduleCommandOptions {
  std::string server;
  std::string key;
  std::string data_dir = ".berth";
  std::string cacert;  // PEM CA certificates to trust for an https server ("" = the system's)
  std::string name;
  // create
  std::string cron;
  std::string time_zone;
  std::string policy;
  bool catch_up = false;
  bool disabled = false;
  std::string image = "busybox";
  std::vector<std::string> env;
  std::string spec_file;  // a JSON job spec for the schedule's job
  std::vector<std::string> command;
};

std::string Key(const ScheduleCommandOptions& o) {
  return o.key.empty() ? ReadKeyFile(o.data_dir, "function-key") : o.key;
}

std::string Url(const ScheduleCommandOptions& o, const std::string& name) {
  return TrimmedServer(o.server) + "/api/schedules" + (name.empty() ? "" : "/" + name);
}

// Sends a request; prints the server's error and returns nullopt unless `want` answered.
std::optional<json> Call(const ScheduleCommandOptions& o, const std::string& method,
                         const std::string& url, const std::string& body,
                         std::initializer_list<long> want) {
  std::string key = Key(o);
  if (key.empty()) {
    fprintf(stderr,
            "berth: no function key: pass --key, set BERTH_KEY, or run where %s/function-key "
            "exists\n",
            o.data_dir.c_str());
    return std::nullopt;
  }
  auto r = HttpCall(method, url, {"x-functions-key: " + key, "Content-Type: application/json"},
                    body, ClientTls{o.cacert});
  if (!r.ok()) {
    fprintf(stderr, "berth: %s\n", r.status().message().c_str());
    return std::nullopt;
  }
  json j = json::parse(r->body, nullptr, false);
  if (std::find(want.begin(), want.end(), r->status) == want.end()) {
    std::string msg = r->body;
    if (!j.is_discarded() && j.contains("error")) msg = j["error"].value("message", r->body);
    fprintf(stderr, "berth: server answered %ld: %s\n", r->status, msg.c_str());
    return std::nullopt;
  }
  return j.is_discarded() ? json::object() : j;
}

std::string Text(const json& j, const char* field) {
  return j.contains(field) && j[field].is_string() ? j[field].get<std::string>() : "-";
}

int Create(const ScheduleCommandOptions& o) {
  json job;
  if (!o.spec_file.empty()) {
    auto text = ReadFile(o.spec_file);
    if (!text.ok()) {
      fprintf(stderr, "berth: %s\n", text.status().message().c_str());
      return 1;
    }
    job = json::parse(*text, nullptr, false);
    if (job.is_discarded()) {
      fprintf(stderr, "berth: %s is not JSON\n", o.spec_file.c_str());
      return 1;
    }
  } else {
    job["image"] = o.image;
    if (!o.command.empty()) job["command"] = o.command;
    for (const auto& e : o.env) {
      size_t eq = e.find('=');
      if (eq == std::string::npos || eq == 0) {
        fprintf(stderr, "berth: --env takes NAME=VALUE, got '%s'\n", e.c_str());
        return 1;
      }
      job["environmentVariables"][e.substr(0, eq)] = e.substr(eq + 1);
    }
  }
  json body = {{"name", o.name}, {"schedule", o.cron}, {"job", job}};
  if (!o.time_zone.empty()) body["timeZone"] = o.time_zone;
  if (!o.policy.empty()) body["concurrencyPolicy"] = o.policy;
  if (o.catch_up) body["catchUp"] = true;
  if (o.disabled) body["enabled"] = false;
  auto j = Call(o, "POST", Url(o, ""), body.dump(), {201});
  if (!j) return 1;
  printf("%s\tnext %s\n", o.name.c_str(), Text(*j, "nextFireTime").c_str());
  return 0;
}

int List(const ScheduleCommandOptions& o) {
  auto j = Call(o, "GET", Url(o, ""), "", {200});
  if (!j) return 1;
  printf("NAME\tSCHEDULE\tTIMEZONE\tENABLED\tNEXT\tLAST JOB\n");
  for (const auto& s : (*j)["schedules"]) {
    printf("%s\t%s\t%s\t%s\t%s\t%s\n", Text(s, "name").c_str(), Text(s, "schedule").c_str(),
           Text(s, "timeZone").c_str(), s.value("enabled", false) ? "yes" : "no",
           Text(s, "nextFireTime").c_str(), Text(s, "lastJobId").c_str());
  }
  return 0;
}

int Show(const ScheduleCommandOptions& o) {
  auto j = Call(o, "GET", Url(o, o.name), "", {200});
  if (!j) return 1;
  printf("%s\n", j->dump(2).c_str());
  return 0;
}

int Remove(const ScheduleCommandOptions& o) {
  return Call(o, "DELETE", Url(o, o.name), "", {204}) ? 0 : 1;
}

int SetEnabled(const ScheduleCommandOptions& o, bool enabled) {
  json body = {{"enabled", enabled}};
  return Call(o, "PATCH", Url(o, o.name), body.dump(), {200}) ? 0 : 1;
}

}  // namespace

void AddScheduleCommands(CLI::App& app, std::function<int()>& chosen) {
  auto opts = std::make_shared<ScheduleCommandOptions>();
  opts->server = EnvOr("BERTH_SERVER", "http://127.0.0.1:7071");
  opts->key = EnvOr("BERTH_KEY", "");
  opts->cacert = EnvOr("BERTH_CACERT", "");
  auto* sched = app.add_subcommand("schedule", "Run jobs on a cron schedule (timer trigger)");
  sched->require_subcommand(1);
  sched->footer(
      "SCHEDULE is NCRONTAB with seconds ('0 */5 * * * *') or standard 5-field cron "
      "('*/5 * * * *'), in --tz (an IANA zone, default UTC).");
  auto common = [&](CLI::App* cmd, bool named) {
    cmd->add_option("--server", opts->server, "Server URL (env BERTH_SERVER)")
        ->capture_default_str();
    cmd->add_option("--key", opts->key, "Function key (env BERTH_KEY; else read from --data-dir)");
    cmd->add_option("--data-dir", opts->data_dir, "Data dir whose function-key file to use")
        ->capture_default_str();
    cmd->add_option("--cacert", opts->cacert,
                    "CA certificate (PEM) to trust for an https server (env BERTH_CACERT)");
    if (named) cmd->add_option("name", opts->name, "Schedule name")->required();
  };
  auto* create = sched->add_subcommand("create", "Create a schedule");
  common(create, true);
  create->add_option("--cron", opts->cron, "When it fires (cron expression)")->required();
  create->add_option("--tz", opts->time_zone, "IANA time zone (default UTC)");
  create->add_option("--policy", opts->policy, "Allow (default), Forbid or Replace")
      ->check(CLI::IsMember({"Allow", "Forbid", "Replace"}));
  create->add_flag("--catch-up", opts->catch_up, "Run once at start for firings missed while down");
  create->add_flag("--disabled", opts->disabled, "Create it disabled");
  create->add_option("--image", opts->image, "Image of the job")->capture_default_str();
  create->add_option("-e,--env", opts->env, "NAME=VALUE for the job (repeatable)");
  create->add_option("--spec", opts->spec_file, "A JSON job spec file for the job instead");
  create->add_option("command", opts->command, "The job's command (after --)");
  auto* ls = sched->add_subcommand("ls", "List schedules");
  common(ls, false);
  auto* show = sched->add_subcommand("show", "Print one schedule as JSON");
  common(show, true);
  auto* rm = sched->add_subcommand("rm", "Delete a schedule (it fires no more)");
  common(rm, true);
  auto* enable = sched->add_subcommand("enable", "Enable a schedule (fires from now on)");
  common(enable, true);
  auto* disable = sched->add_subcommand("disable", "Disable a schedule");
  common(disable, true);

  create->callback([opts, &chosen] { chosen = [opts] { return Create(*opts); }; });
  ls->callback([opts, &chosen] { chosen = [opts] { return List(*opts); }; });
  show->callback([opts, &chosen] { chosen = [opts] { return Show(*opts); }; });
  rm->callback([opts, &chosen] { chosen = [opts] { return Remove(*opts); }; });
  enable->callback([opts, &chosen] { chosen = [opts] { return SetEnabled(*opts, true); }; });
  disable->callback([opts, &chosen] { chosen = [opts] { return SetEnabled(*opts, false); }; });
}

}  // namespace berth
