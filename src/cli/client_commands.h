// The client subcommands: they reach a berth server over HTTP with a function key.
#pragma once

#include <string>
#include <vector>

namespace berth {

struct ClientOptions {
  std::string server;    // base URL, e.g. http://127.0.0.1:7071
  std::string key;       // function key
  std::string data_dir;  // where to look for the key when none is given
  std::string cacert;    // PEM CA certificates to trust for an https server ("" = the system's)
};

struct SubmitCommandOptions {
  std::string image;                 // empty with no command and no env: the default job
  std::vector<std::string> env;      // NAME=VALUE
  std::vector<std::string> command;  // after --
  // A JSON job spec ("-" = stdin); --image, the command and -e override its fields (-e adds to
  // or replaces its environmentVariables).
  std::string spec_file;
  bool wait = false;            // stream the log, exit with the job's exit code
  std::string idempotency_key;  // sent as Idempotency-Key
};

int SubmitCommand(const ClientOptions& client, const SubmitCommandOptions& opts);
int StatusCommand(const ClientOptions& client, const std::string& id);
// Prints the log; with `follow`, streams it until the job ends.
int LogsCommand(const ClientOptions& client, const std::string& id, bool follow);
int CancelCommand(const ClientOptions& client, const std::string& id);
struct ListCommandOptions {
  std::string state;   // only jobs in this state; "" = all
  int limit = 50;      // a page's size
  std::string cursor;  // start after this page (the cursor an earlier page named)
  bool all = false;    // every page
  bool json = false;   // {"jobs": [...], "nextCursor": ...} instead of a table
};

// Prints a table of jobs, newest first, and says how to see more when more exist.
int ListCommand(const ClientOptions& client, const ListCommandOptions& opts);

}  // namespace berth
