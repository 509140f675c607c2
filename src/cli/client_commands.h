// The client subcommands: they reach a berth server over HTTP with a function key.
#pragma once

#include <string>
#include <vector>

namespace berth {

struct ClientOptions {
  std::string server;    // base URL, e.g. http://127.0.0.1:7071
  std::string key;       // function key
  std::string data_dir;  // where to look for the key when none is given
};

struct SubmitCommandOptions {
  std::string image;                 // empty with no command and no env: the default job
  std::vector<std::string> env;      // NAME=VALUE
  std::vector<std::string> command;  // after --
  std::string spec_file;             // a JSON job spec ("-" = stdin); overrides the rest
  bool wait = false;                 // stream the log, exit with the job's exit code
  std::string idempotency_key;       // sent as Idempotency-Key
};

int SubmitCommand(const ClientOptions& client, const SubmitCommandOptions& opts);
int StatusCommand(const ClientOptions& client, const std::string& id);
// Prints the log; with `follow`, streams it until the job ends.
int LogsCommand(const ClientOptions& client, const std::string& id, bool follow);
int CancelCommand(const ClientOptions& client, const std::string& id);
int ListCommand(const ClientOptions& client, const std::string& state, int limit);

}  // namespace berth
