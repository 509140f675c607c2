// TerminalJobCache: records of finished jobs kept in memory. A terminal job never changes
// (a terminal state is never left), so until it is deleted its record can be served without
// reading the database. Deletions bump a generation so that a read racing with a delete can
// never re-insert the deleted job. Bounded; thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/mutex.h"
#include "job/job.h"

namespace berth {

class TerminalJobCache {
 public:
  explicit TerminalJobCache(size_t capacity = 4096) : capacity_(capacity) {}

  // The generation to pass to Put for a read that starts now.
  uint64_t generation() const;

  // The cached record of `id`, if any.
  std::optional<JobRecord> Get(std::string_view id);

  // Caches `job` (terminal jobs only) unless a deletion happened since `generation`.
  void Put(const JobRecord& job, uint64_t generation);

  // Forgets `id`; reads that started before cannot cache it again.
  void Erase(std::string_view id);

 private:
  using Lru = std::list<JobRecord>;
  size_t capacity_;
  mutable Mutex mu_;
  uint64_t generation_ GUARDED_BY(mu_) = 0;
  Lru lru_ GUARDED_BY(mu_);  // newest first
  std::unordered_map<std::string, Lru::iterator> index_ GUARDED_BY(mu_);
};

}  // namespace berth
