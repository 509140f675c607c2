// Test helpers for end-to-end tests that drive other real programs (promtool, Prometheus,
// node + Chromium, dpkg-deb): run one to completion, or keep one running and find the port it
// bound (it is given port 0 and the port is read back from /proc, never guessed).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace berth::e2e {

// Runs `argv` with `input` on its stdin; returns its exit code (-1 when it did not exit
// normally) and puts its combined stdout/stderr in `out`.
int RunProgram(const std::vector<std::string>& argv, const std::string& input, std::string* out,
               const std::vector<std::string>& env = {});

// A program left running; the destructor stops it (SIGTERM, then SIGKILL after 10 s).
class ChildProcess {
 public:
  // `env` entries (NAME=VALUE) are added to this process's environment.
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& output_file,
               const std::vector<std::string>& env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The first TCP port the process listens on, waiting up to `timeout` for it to bind.
  std::optional<int> WaitListeningPort(std::chrono::seconds timeout);
  // True (reaping it) once it has exited; `code` gets its exit code.
  bool Exited(int* code = nullptr);
  std::string Output() const;

 private:
  pid_t pid_ = -1;
  std::filesystem::path output_file_;
};

// A fresh directory under /tmp, removed with everything in it when this goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace berth::e2e
