#include "common/scheduler.h"

#include <algorithm>
#include <vector>

namespace berth {

Scheduler::Scheduler(Clock& clock, milliseconds max_sleep)
    : clock_(clock), max_sleep_(max_sleep), thread_([this] { Loop(); }) {}

Scheduler::~Scheduler() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t Scheduler::At(TimePoint when, std::function<void()> task) {
  uint64_t handle;
  {
    MutexLock lock(mu_);
    handle = next_handle_++;
    tasks_.emplace(when, std::make_pair(handle, std::move(task)));
  }
  cv_.notify_all();
  return handle;
}

uint64_t Scheduler::After(milliseconds delay, std::function<void()> task) {
  return At(clock_.Now() + delay, std::move(task));
}

bool Scheduler::Cancel(uint64_t handle) {
  MutexLock lock(mu_);
  for (auto it = tasks_.begin(); it != tasks_.end(); ++it) {
    if (it->second.first == handle) {
      tasks_.erase(it);
      return true;
    }
  }
  return false;
}

void Scheduler::Loop() {
  MutexLock lock(mu_);
  while (!stopping_) {
    TimePoint now = clock_.Now();
    std::vector<std::function<void()>> due;
    while (!tasks_.empty() && tasks_.begin()->first <= now) {
      due.push_back(std::move(tasks_.begin()->second.second));
      tasks_.erase(tasks_.begin());
    }
    if (!due.empty()) {
      lock.unlock();
      for (auto& task : due) task();
      lock.lock();
      continue;
    }
    milliseconds sleep = max_sleep_;
    if (!tasks_.empty()) {
      auto until = std::chrono::duration_cast<milliseconds>(tasks_.begin()->first - now);
      sleep = std::clamp(until, milliseconds(1), max_sleep_);
    }
    cv_.wait_for(lock, sleep);
  }
}

}  // namespace berth
