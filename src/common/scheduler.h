// Scheduler: runs callbacks at a time of the injected Clock, on one thread of its own.
// Used for job timeouts, cancel grace periods, retention sweeps and log-follow polls.
// With a FakeClock, a task becomes due when the test advances the clock (the thread re-reads
// the clock at least every `max_sleep`). Thread-safe; the destructor drops pending tasks.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <thread>

#include "common/clock.h"
#include "common/mutex.h"

namespace berth {

class Scheduler {
 public:
  explicit Scheduler(Clock& clock, milliseconds max_sleep = milliseconds(100));
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Runs `task` once `when` has come; returns a handle for Cancel.
  uint64_t At(TimePoint when, std::function<void()> task);
  // Runs `task` after `delay`.
  uint64_t After(milliseconds delay, std::function<void()> task);
  // Drops a task that has not started; false when it ran or never existed.
  bool Cancel(uint64_t handle);

 private:
  void Loop();

  Clock& clock_;
  milliseconds max_sleep_;
  Mutex mu_;
  std::condition_variable_any cv_;
  std::multimap<TimePoint, std::pair<uint64_t, std::function<void()>>> tasks_ GUARDED_BY(mu_);
  uint64_t next_handle_ GUARDED_BY(mu_) = 1;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace berth
