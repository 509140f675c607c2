#include "api/render_cache.h"

namespace berth {

std::optional<std::string> RenderCache::Get(const std::string& key, int64_t finished_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.first != finished_ms) return std::nullopt;
  return it->second.second;
}

void RenderCache::Put(const std::string& key, int64_t finished_ms, std::string body) {
  if (body.size() > max_body_bytes_) return;
  std::lock_guard<std::mutex> lock(mu_);
  // Crude but bounded: start over when full (finished jobs are read in bursts).
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_[key] = {finished_ms, std::move(body)};
}

}  // namespace berth
