// Test harness for end-to-end tests: runs the real `berth serve` binary on port 0 with its own
// temporary data dir, talks to it over HTTP (libcurl), and on teardown stops it and removes
// every container, monitor, mount and file it left. Needs root (real crun, overlay mounts).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace berth::e2e {

struct Reply {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  nlohmann::json Json() const;
};

// One HTTP request; status 0 when the server could not be reached.
Reply Http(const std::string& method, const std::string& url, const std::string& body = "",
           const std::vector<std::string>& headers = {});

// How `berth serve` is launched, beyond its settings.
struct LaunchOptions {
  std::vector<std::string> args;    // more `berth serve` arguments (e.g. --role worker)
  std::vector<std::string> prefix;  // a command that runs it (e.g. nsenter --net=...)
  std::string listen = "127.0.0.1:0";
};

class BerthProcess {
 public:
  // Starts `berth serve` with `values` as its settings file's "Values". Fails the test (and
  // leaves url() empty) when it does not come up.
  explicit BerthProcess(const nlohmann::json& values = nlohmann::json::object());
  // The same, running the test build of the daemon (`berth-faulty`) that SIGKILLs itself the
  // `nth` time the job path reaches `crash_at` (a point of common/crash_points.h).
  BerthProcess(const nlohmann::json& values, const std::string& crash_at, int nth = 1);
  // The production binary launched as `launch` says. With a FunctionKey in `values` the daemon
  // counts as up once it says "serving on" (a worker names no key file).
  BerthProcess(const nlohmann::json& values, LaunchOptions launch);
  ~BerthProcess();

  const std::string& url() const { return url_; }
  // The function key: the FunctionKey setting when given, else <data>/function-key (the daemon
  // never prints a key).
  const std::string& key() const { return key_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  pid_t pid() const { return pid_; }

  // POST /api/jobs with the key; `spec` empty = the default job.
  Reply Submit(const std::string& spec = "");
  // Submits and returns the id (asserting 202).
  std::string SubmitOk(const std::string& spec);
  Reply Status(const std::string& id);
  // Polls the status until the job is terminal or `timeout` passes; returns the last reply.
  Reply WaitTerminal(const std::string& id, std::chrono::seconds timeout);

  // Runs the berth binary with `args` (client subcommands), returning its exit code and output.
  int RunCli(const std::vector<std::string>& args, std::string* out);

  // SIGTERM and wait (or SIGKILL when `hard`).
  void Stop(bool hard = false);

  // Kills the server (SIGKILL) if it runs and starts it again on the same data dir with
  // `values` as its settings. False (and a test failure) when it does not come up.
  // The restarted daemon is the production binary unless `crash_at` names a point again.
  bool Restart(const nlohmann::json& values = nlohmann::json::object(),
               const std::string& crash_at = "", int nth = 1);

  // True once the server process has exited (reaping it); `status` gets its wait status.
  bool Exited(int* status = nullptr);

  // Combined stdout/stderr of the server so far.
  std::string ServerOutput() const;

 private:
  void Cleanup();
  bool Launch(const nlohmann::json& values);

  std::filesystem::path data_dir_;
  std::filesystem::path out_file_;
  std::string url_;
  std::string key_;
  pid_t pid_ = -1;
  std::string crash_at_;  // empty: the production binary
  LaunchOptions launch_;
  int crash_nth_ = 1;
};

// The whole content of a file ("" when it cannot be read).
std::string ReadAll(const std::filesystem::path& p);

// The pid of job `job`'s container as its monitor recorded it, waiting up to 2 s for a running
// job's monitor to add it (0 when it is not there).
pid_t ContainerPid(const BerthProcess& berth, const std::string& job);

// Mount points (from /proc/self/mountinfo) under `dir`.
std::vector<std::string> MountsUnder(const std::filesystem::path& dir);

// Pids of processes whose command line mentions `needle`.
std::vector<pid_t> ProcessesMentioning(const std::string& needle);

// Milliseconds since the epoch of an RFC 3339 UTC time with milliseconds, as the API writes
// them ("2026-11-30T08:00:00.123Z").
int64_t Rfc3339Millis(const std::string& t);

}  // namespace berth::e2e
