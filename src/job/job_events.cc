#include "job/job_events.h"

namespace berth {

uint64_t JobEventHub::Subscribe(std::function<void(const JobEvent&)> fn) {
  MutexLock lock(mu_);
  uint64_t handle = next_++;
  subs_.emplace(handle, std::move(fn));
  return handle;
}

void JobEventHub::Unsubscribe(uint64_t handle) {
  MutexLock lock(mu_);
  subs_.erase(handle);
}

void JobEventHub::Publish(const JobEvent& event) {
  // Called under the lock, so that Unsubscribe waits for a call in flight; subscribers must not
  // call back into the hub.
  MutexLock lock(mu_);
  for (auto& [handle, fn] : subs_) fn(event);
}

size_t JobEventHub::subscribers() const {
  MutexLock lock(mu_);
  return subs_.size();
}

}  // namespace berth
