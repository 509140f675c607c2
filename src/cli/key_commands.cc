#include "cli/key_commands.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/http_client.h"
#include "common/url_encoding.h"

namespace berth {
namespace {

using json = nlohmann::json;

struct KeyCommandOptions {
  std::string server;
  std::string master_key;
  std::string data_dir = ".berth";
  std::string function = "jobs";
  bool host = false;
  std::string name;
  std::string value;
  bool force = false;  // create: replace a key that exists
  std::string cacert;  // PEM CA certificates to trust for an https server
};

std::string MasterKey(const KeyCommandOptions& o) {
  return o.master_key.empty() ? ReadKeyFile(o.data_dir, "master-key") : o.master_key;
}

// /admin/host/keys or /admin/functions/<f>/keys, plus "/<name>" when `name` is given.
std::string KeysUrl(const KeyCommandOptions& o, const std::string& name) {
  std::string url =
      TrimmedServer(o.server) +
      (o.host ? "/admin/host/keys" : "/admin/functions/" + PercentEncode(o.function) + "/keys");
  return name.empty() ? url : url + "/" + PercentEncode(name);
}

// Sends an admin request; prints the server's error and returns nullopt unless `want` answered.
std::optional<json> Admin(const KeyCommandOptions& o, const std::string& method,
                          const std::string& url, const std::string& body,
                          std::initializer_list<long> want) {
  std::string key = MasterKey(o);
  if (key.empty()) {
    fprintf(stderr,
            "berth: no master key: pass --key, set BERTH_MASTER_KEY, or run where "
            "%s/master-key exists\n",
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

int List(const KeyCommandOptions& o) {
  auto j = Admin(o, "GET", KeysUrl(o, ""), "", {200});
  if (!j) return 1;
  for (const auto& k : (*j)["keys"]) {
    printf("%s\t%s\n", k.value("name", "").c_str(), k.value("value", "").c_str());
  }
  return 0;
}

// Whether the key `o.name` exists (GET answers 200 or 404); nullopt after printing an error.
std::optional<bool> Exists(const KeyCommandOptions& o) {
  auto j = Admin(o, "GET", KeysUrl(o, o.name), "", {200, 404});
  if (!j) return std::nullopt;
  return j->contains("value");
}

std::string Owner(const KeyCommandOptions& o) {
  return o.host ? "host key" : "key of function '" + o.function + "'";
}

// PUT with the given value, or POST to generate one (create and renew: 201 new, 200 replaced).
int Set(const KeyCommandOptions& o) {
  json body = json::object();
  if (!o.value.empty()) body["value"] = o.value;
  std::string method = o.value.empty() ? "POST" : "PUT";
  auto j = Admin(o, method, KeysUrl(o, o.name), body.dump(), {200, 201});
  if (!j) return 1;
  printf("%s\n", j->value("value", "").c_str());
  return 0;
}

int Delete(const KeyCommandOptions& o) {
  return Admin(o, "DELETE", KeysUrl(o, o.name), "", {204}) ? 0 : 1;
}

}  // namespace

void AddKeyCommands(CLI::App& app, std::function<int()>& chosen) {
  auto opts = std::make_shared<KeyCommandOptions>();
  opts->server = EnvOr("BERTH_SERVER", "http://127.0.0.1:7071");
  opts->master_key = EnvOr("BERTH_MASTER_KEY", "");
  opts->cacert = EnvOr("BERTH_CACERT", "");
  auto* keys = app.add_subcommand(
      "keys", "Manage function, host and master keys (through the server, with the master key)");
  keys->require_subcommand(1);
  keys->footer(
      "Function keys work for one function (jobs); host keys (--host, e.g. 'default') for every "
      "function; the master key (--host _master) everywhere and is the only key for /admin.");

  auto common = [&](CLI::App* cmd) {
    cmd->add_option("--server", opts->server, "Server URL (env BERTH_SERVER)")
        ->capture_default_str();
    cmd->add_option("--key", opts->master_key,
                    "Master key (env BERTH_MASTER_KEY; else read from "
                    "--data-dir)");
    cmd->add_option("--data-dir", opts->data_dir, "Data dir whose master-key file to use")
        ->capture_default_str();
    cmd->add_option("--function", opts->function, "The function whose keys these are")
        ->capture_default_str();
    cmd->add_flag("--host", opts->host, "Host keys instead (they work for every function)");
    cmd->add_option("--cacert", opts->cacert,
                    "CA certificate (PEM) to trust for an https server (env BERTH_CACERT)");
  };
  auto* list = keys->add_subcommand("list", "Print NAME<TAB>VALUE for each key");
  common(list);
  auto* create = keys->add_subcommand("create", "Create a key; prints its value");
  common(create);
  create->add_option("name", opts->name, "Key name")->required();
  create->add_option("--value", opts->value, "The value (16+ URL-safe characters); else random");
  create->add_flag("--force", opts->force, "Replace the key if it exists");
  auto* renew = keys->add_subcommand("renew", "Give a key a new random value; prints it");
  common(renew);
  renew->add_option("name", opts->name, "Key name ('_master' with --host: the master key)")
      ->required();
  auto* del = keys->add_subcommand("delete", "Delete a key");
  common(del);
  del->add_option("name", opts->name, "Key name")->required();

  list->callback([opts, &chosen] { chosen = [opts] { return List(*opts); }; });
  create->callback([opts, &chosen] {
    chosen = [opts] {
      if (!opts->force) {
        std::optional<bool> exists = Exists(*opts);
        if (!exists) return 1;
        if (*exists) {
          fprintf(stderr,
                  "berth: the %s '%s' exists already: 'berth keys renew %s' gives it a new "
                  "value, --force replaces it\n",
                  Owner(*opts).c_str(), opts->name.c_str(), opts->name.c_str());
          return 1;
        }
      }
      return Set(*opts);
    };
  });
  renew->callback([opts, &chosen] {
    opts->value.clear();
    chosen = [opts] {
      std::optional<bool> exists = Exists(*opts);
      if (!exists) return 1;
      if (!*exists) {
        fprintf(stderr, "berth: no %s named '%s' ('berth keys create %s' makes one)\n",
                Owner(*opts).c_str(), opts->name.c_str(), opts->name.c_str());
        return 1;
      }
      return Set(*opts);
    };
  });
  del->callback([opts, &chosen] { chosen = [opts] { return Delete(*opts); }; });
}

}  // namespace berth
