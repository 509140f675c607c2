#include "store/terminal_job_cache.h"

namespace berth {

uint64_t TerminalJobCache::generation() const {
  MutexLock lock(mu_);
  return generation_;
}

std::optional<JobRecord> TerminalJobCache::Get(std::string_view id) {
  MutexLock lock(mu_);
  auto it = index_.find(std::string(id));
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return *it->second;
}

void TerminalJobCache::Put(const JobRecord& job, uint64_t generation) {
  if (!IsTerminal(job.state) || capacity_ == 0) return;
  MutexLock lock(mu_);
  if (generation != generation_ || index_.count(job.id)) return;
  lru_.push_front(job);
  index_[job.id] = lru_.begin();
  if (lru_.size() > capacity_) {
    index_.erase(lru_.back().id);
    lru_.pop_back();
  }
}

void TerminalJobCache::Erase(std::string_view id) {
  MutexLock lock(mu_);
  ++generation_;
  auto it = index_.find(std::string(id));
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

}  // namespace berth
