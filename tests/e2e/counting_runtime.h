// CountingRuntime: an OCI runtime wrapper for end-to-end tests that records every container it
// is asked to make (`create`, or `run`, which creates and starts in one call) before handing
// the call to the real crun, so a test counts the containers made for each job independently
// of berth's own files. Give path() as the daemon's `Runtime` setting.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace berth::e2e {

class CountingRuntime {
 public:
  // `hang_first_create`: the first `create`/`run` of each container hangs (30 s) instead of
  // running, as a stuck runtime would; the second one goes through.
  explicit CountingRuntime(bool hang_first_create = false);
  ~CountingRuntime();
  CountingRuntime(const CountingRuntime&) = delete;
  CountingRuntime& operator=(const CountingRuntime&) = delete;

  const std::filesystem::path& path() const { return script_; }
  // Containers made (`create` or `run` calls) per container name (the job id).
  std::map<std::string, int> Creates() const;
  int CreatesOf(const std::string& id) const;
  // Every `delete` call, in order: its last argument (a container name, or with --regex the
  // pattern).
  std::vector<std::string> Deletes() const;

 private:
  std::filesystem::path dir_;
  std::filesystem::path script_;
  std::filesystem::path log_;
  std::filesystem::path deletes_;
};

}  // namespace berth::e2e
