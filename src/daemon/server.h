// `berth serve`: wires every part of one node (store, images, runtime, dispatcher, HTTP API, as
// its role asks: all, api or worker) and runs until SIGINT or SIGTERM. A stop leaves running jobs
// running: their monitors outlive the daemon and the next start adopts them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "common/crash_points.h"

namespace berth {

struct ServeOptions {
  std::string listen = "127.0.0.1:7071";  // HOST:PORT; port 0 picks a free one
  std::filesystem::path data_dir = ".berth";
  std::optional<std::filesystem::path> settings_file;
  std::string log_format;  // --log-format: "text" or "json"; "" = the LogFormat setting
  std::string role;        // --role: "all", "api" or "worker"; "" = the Role setting
  // Tests only (berth-faulty): told each step of the job path. Null in production.
  CrashPoints* crash_points = nullptr;
};

// Runs the node; returns the process exit code. Call from main before any thread starts.
int Serve(const ServeOptions& opts);

}  // namespace berth
