// JobEvents: job state changes as a stream, for live views (the dashboard, `GET /api/events`).
// The daemon publishes each change the store accepted; front ends subscribe. Delivery is in
// process and best effort: a subscriber that wants the truth re-reads the job. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/mutex.h"
#include "job/job.h"

namespace berth {

struct JobEvent {
  std::string id;
  JobState state = JobState::kQueued;
  std::string reason;
  std::optional<int> exit_code;
};

// What a front end sees: a way to subscribe.
class JobEventSource {
 public:
  virtual ~JobEventSource() = default;
  // `fn` runs for every later event, on the publishing thread (keep it short, never block).
  // Returns a handle for Unsubscribe.
  virtual uint64_t Subscribe(std::function<void(const JobEvent&)> fn) = 0;
  // After it returns, `fn` is not running and will not run again.
  virtual void Unsubscribe(uint64_t handle) = 0;
};

// The in-process hub: Publish calls every subscriber in turn.
class JobEventHub : public JobEventSource {
 public:
  uint64_t Subscribe(std::function<void(const JobEvent&)> fn) override;
  void Unsubscribe(uint64_t handle) override;
  void Publish(const JobEvent& event);
  size_t subscribers() const;

 private:
  mutable Mutex mu_;
  std::map<uint64_t, std::function<void(const JobEvent&)>> subs_ GUARDED_BY(mu_);
  uint64_t next_ GUARDED_BY(mu_) = 1;
};

}  // namespace berth
