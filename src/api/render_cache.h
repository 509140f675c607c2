// RenderCache: status bodies of finished jobs, already rendered. A terminal job's status and
// log never change, so its body can be reused; an entry is used only while the job's record
// still says the same finish time (a deleted job is never found, so never served). Bounded by
// entry count and body size; thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace berth {

class RenderCache {
 public:
  RenderCache(size_t max_entries = 2048, size_t max_body_bytes = 64 << 10)
      : max_entries_(max_entries), max_body_bytes_(max_body_bytes) {}

  // The body cached under `key` for a job that finished at `finished_ms`.
  std::optional<std::string> Get(const std::string& key, int64_t finished_ms);

  // Caches `body` (bodies over the size bound are not kept).
  void Put(const std::string& key, int64_t finished_ms, std::string body);

 private:
  size_t max_entries_;
  size_t max_body_bytes_;
  std::mutex mu_;
  std::unordered_map<std::string, std::pair<int64_t, std::string>> entries_;  // GUARDED_BY(mu_)
};

}  // namespace berth
