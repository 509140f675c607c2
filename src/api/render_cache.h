// RenderCache: status bodies of finished jobs, already rendered. A terminal job's status and
// log never change, so its body can be reused; an entry is used only while the job's record
// still says the same finish time (a deleted job is never found, so never served). Bounded by
// the bytes it holds (oldest entries go first); thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/mutex.h"

namespace berth {

class RenderCache {
 public:
  explicit RenderCache(size_t max_bytes = 16 << 20, size_t max_body_bytes = 128 << 10)
      : max_bytes_(max_bytes), max_body_bytes_(max_body_bytes) {}

  // The body cached under `key` for a job that finished at `finished_ms`.
  std::optional<std::string> Get(const std::string& key, int64_t finished_ms);

  // Caches `body` (bodies over the size bound are not kept), dropping the oldest entries
  // while the cache holds more than its bound.
  void Put(const std::string& key, int64_t finished_ms, std::string body);

  // Bytes held (keys and bodies).
  size_t bytes() const;

 private:
  struct Entry {
    int64_t finished_ms;
    std::string body;
    uint64_t seq;  // when it was put: names it in `order_`
  };
  void Erase(const std::string& key) REQUIRES(mu_);
  bool Live(const std::string& key, uint64_t seq) const
      REQUIRES(mu_);  // `order_`'s pair is the current put

  size_t max_bytes_;
  size_t max_body_bytes_;
  mutable Mutex mu_;
  std::unordered_map<std::string, Entry> entries_ GUARDED_BY(mu_);
  // (key, seq) of every put, oldest first; a pair whose entry was replaced since is skipped
  // when it reaches the front.
  std::deque<std::pair<std::string, uint64_t>> order_ GUARDED_BY(mu_);
  uint64_t next_seq_ GUARDED_BY(mu_) = 0;
  size_t bytes_ GUARDED_BY(mu_) = 0;
};

}  // namespace berth
