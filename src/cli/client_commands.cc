#include "cli/client_commands.h"

#include <cctype>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/http_client.h"
#include "common/files.h"
#include "common/url_encoding.h"

namespace berth {
namespace {

using json = nlohmann::json;

std::string ResolveKey(const ClientOptions& c) {
  return c.key.empty() ? ReadKeyFile(c.data_dir, "function-key") : c.key;
}

// Prints the server's error message (or the transport error); returns the exit code 1.
int ReportError(const Result<ClientResponse>& r) {
  if (!r.ok()) {
    fprintf(stderr, "berth: %s\n", r.status().message().c_str());
    return 1;
  }
  json body = json::parse(r->body, nullptr, false);
  std::string msg = r->body;
  if (!body.is_discarded() && body.contains("error")) {
    msg = body["error"].value("message", r->body);
  }
  fprintf(stderr, "berth: server answered %ld: %s\n", r->status, msg.c_str());
  return 1;
}

Result<std::string> ReadSpecFile(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  return ReadFile(path);
}

Result<std::string> BuildSpec(const SubmitCommandOptions& opts) {
  bool overrides = !opts.image.empty() || !opts.command.empty() || !opts.env.empty();
  json spec = json::object();
  if (!opts.spec_file.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadSpecFile(opts.spec_file));
    if (!overrides) return text;  // sent as it is: the server's own errors name its fields
    spec = json::parse(text, nullptr, false);
    if (spec.is_discarded() || !spec.is_object()) {
      return Status::InvalidArgument(opts.spec_file + ": not a JSON object (a job spec)");
    }
  } else if (!overrides) {
    return std::string();
  }
  if (!opts.image.empty()) {
    spec["image"] = opts.image;
  } else if (!spec.contains("image")) {
    spec["image"] = "busybox";
  }
  if (!opts.command.empty()) spec["command"] = opts.command;
  for (const auto& e : opts.env) {
    size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument("--env takes NAME=VALUE, got '" + e + "'");
    }
    json& env = spec["environmentVariables"];
    if (!env.is_null() && !env.is_object()) {
      return Status::InvalidArgument(opts.spec_file + ": environmentVariables must be an object");
    }
    env[e.substr(0, eq)] = e.substr(eq + 1);
  }
  return spec.dump();
}

}  // namespace

int SubmitCommand(const ClientOptions& client, const SubmitCommandOptions& opts) {
  auto body = BuildSpec(opts);
  if (!body.ok()) {
    fprintf(stderr, "berth: %s\n", body.status().message().c_str());
    return 2;
  }
  std::string key = ResolveKey(client);
  if (key.empty()) {
    fprintf(
        stderr,
        "berth: no function key: pass --key, set BERTH_KEY, or run where %s/function-key exists\n",
        client.data_dir.c_str());
    return 2;
  }
  std::vector<std::string> headers = {"x-functions-key: " + key, "Content-Type: application/json"};
  if (!opts.idempotency_key.empty()) headers.push_back("Idempotency-Key: " + opts.idempotency_key);
  auto r = HttpCall("POST", TrimmedServer(client.server) + "/api/jobs", headers, *body,
                    ClientTls{client.cacert});
  if (!r.ok() || r->status != 202) return ReportError(r);
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) return ReportError(r);
  std::string id = j.value("id", "");
  if (!opts.wait) {
    printf("%s\n%s\n", id.c_str(), j.value("statusUrl", "").c_str());
    return 0;
  }
  fprintf(stderr, "berth: job %s queued; following its log\n", id.c_str());
  if (int rc = LogsCommand(client, id, /*follow=*/true); rc != 0) return rc;
  auto st = HttpCall("GET", TrimmedServer(client.server) + "/api/jobs/" + id,
                     {"x-functions-key: " + key}, "", ClientTls{client.cacert});
  if (!st.ok()) return ReportError(st);
  json status = json::parse(st->body, nullptr, false);
  if (status.is_discarded()) return ReportError(st);
  std::string state = status.value("state", "");
  fprintf(stderr, "berth: job %s %s: %s\n", id.c_str(), state.c_str(),
          status.value("reason", "").c_str());
  if (state == "Succeeded") return 0;
  if (status["exitCode"].is_number_integer()) {
    int code = status["exitCode"].get<int>();
    return code == 0 ? 1 : code;
  }
  return 1;
}

int StatusCommand(const ClientOptions& client, const std::string& id) {
  std::vector<std::string> headers;
  std::string key = ResolveKey(client);
  if (!key.empty()) headers.push_back("x-functions-key: " + key);
  auto r = HttpCall("GET", TrimmedServer(client.server) + "/api/jobs/" + id, headers, "",
                    ClientTls{client.cacert});
  if (!r.ok() || (r->status != 200 && r->status != 202 && r->status != 500)) {
    return ReportError(r);
  }
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) return ReportError(r);
  printf("%s\n", j.dump(2).c_str());
  return 0;
}

int LogsCommand(const ClientOptions& client, const std::string& id, bool follow) {
  std::vector<std::string> headers;
  std::string key = ResolveKey(client);
  if (!key.empty()) headers.push_back("x-functions-key: " + key);
  std::string url = TrimmedServer(client.server) + "/api/jobs/" + id + "/logs";
  if (!follow) {
    auto r = HttpCall("GET", url, headers, "", ClientTls{client.cacert});
    if (!r.ok() || r->status != 200) return ReportError(r);
    fwrite(r->body.data(), 1, r->body.size(), stdout);
    return 0;
  }
  auto r = HttpStream(
      "GET", url + "?follow=true", headers,
      [&](std::string_view data) {
        fwrite(data.data(), 1, data.size(), stdout);
        fflush(stdout);
      },
      ClientTls{client.cacert});
  if (!r.ok() || r->status != 200) return ReportError(r);
  return 0;
}

int CancelCommand(const ClientOptions& client, const std::string& id) {
  std::string key = ResolveKey(client);
  auto r = HttpCall("DELETE", TrimmedServer(client.server) + "/api/jobs/" + id,
                    {"x-functions-key: " + key}, "", ClientTls{client.cacert});
  if (!r.ok()) return ReportError(r);
  json j = json::parse(r->body, nullptr, false);
  if (r->status == 200 || r->status == 202) {
    printf("%s: %s\n", id.c_str(), r->status == 200 ? "canceled" : "stopping");
    return 0;
  }
  if (r->status == 410) {
    std::string state = j.is_discarded() ? "" : j.value("state", "");
    fprintf(stderr, "berth: job %s already ended (%s)\n", id.c_str(), state.c_str());
    return 1;
  }
  return ReportError(r);
}

int ListCommand(const ClientOptions& client, const ListCommandOptions& opts) {
  std::string key = ResolveKey(client);
  json all = json::array();
  std::string cursor = opts.cursor;
  std::string next;
  bool table = !opts.json;
  if (table) printf("%-36s  %-9s  %-4s  %-24s  %s\n", "ID", "STATE", "EXIT", "CREATED", "IMAGE");
  do {
    std::string url =
        TrimmedServer(client.server) + "/api/jobs?limit=" + std::to_string(opts.limit);
    if (!opts.state.empty()) url += "&state=" + PercentEncode(opts.state);
    if (!cursor.empty()) url += "&cursor=" + PercentEncode(cursor);
    auto r = HttpCall("GET", url, {"x-functions-key: " + key}, "", ClientTls{client.cacert});
    if (!r.ok() || r->status != 200) return ReportError(r);
    json j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j["jobs"].is_array()) return ReportError(r);
    for (const auto& job : j["jobs"]) {
      if (!table) {
        all.push_back(job);
        continue;
      }
      std::string exit =
          job["exitCode"].is_number_integer() ? std::to_string(job["exitCode"].get<int>()) : "-";
      printf("%-36s  %-9s  %-4s  %-24s  %s\n", job.value("id", "").c_str(),
             job.value("state", "").c_str(), exit.c_str(), job.value("createdAt", "").c_str(),
             job.value("image", "").c_str());
    }
    next = j["nextCursor"].is_string() ? j["nextCursor"].get<std::string>() : "";
    cursor = next;
  } while (opts.all && !next.empty());
  if (!table) {
    json out = {{"jobs", all}, {"nextCursor", next.empty() ? json(nullptr) : json(next)}};
    printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (!next.empty()) {
    // On stderr, so that a script reading the table still gets only rows.
    fprintf(stderr,
            "berth: more jobs exist: 'berth ls --cursor %s' shows the next %d, --all every one\n",
            next.c_str(), opts.limit);
  }
  return 0;
}

}  // namespace berth
