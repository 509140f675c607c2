#include "api/render_cache.h"

namespace berth {

std::optional<std::string> RenderCache::Get(const std::string& key, int64_t finished_ms) {
  MutexLock lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.finished_ms != finished_ms) return std::nullopt;
  return it->second.body;
}

void RenderCache::Put(const std::string& key, int64_t finished_ms, std::string body) {
  if (body.size() > max_body_bytes_) return;
  MutexLock lock(mu_);
  Erase(key);
  uint64_t seq = next_seq_++;
  bytes_ += key.size() + body.size();
  entries_.emplace(key, Entry{finished_ms, std::move(body), seq});
  order_.emplace_back(key, seq);
  while (bytes_ > max_bytes_ && !order_.empty()) {
    auto [oldest, oldest_seq] = std::move(order_.front());
    order_.pop_front();
    if (Live(oldest, oldest_seq)) Erase(oldest);
  }
  // Keys put again leave stale pairs behind: drop them once they are half of `order_`.
  if (order_.size() > 2 * entries_.size() + 16) {
    std::deque<std::pair<std::string, uint64_t>> live;
    for (auto& [k, s] : order_) {
      if (Live(k, s)) live.emplace_back(std::move(k), s);
    }
    order_ = std::move(live);
  }
}

bool RenderCache::Live(const std::string& key, uint64_t seq) const {
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.seq == seq;
}

size_t RenderCache::bytes() const {
  MutexLock lock(mu_);
  return bytes_;
}

void RenderCache::Erase(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  bytes_ -= it->first.size() + it->second.body.size();
  entries_.erase(it);
}

}  // namespace berth
