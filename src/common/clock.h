// Clock: the one source of time. Production code takes a Clock&; tests use FakeClock.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

namespace berth {

using TimePoint = std::chrono::system_clock::time_point;
using std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// Wall-clock time.
class SystemClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

// Time that moves only when a test says so. Starts at a fixed instant.
class FakeClock : public Clock {
 public:
  FakeClock() : now_ms_(1'700'000'000'000) {}
  TimePoint Now() const override { return TimePoint(milliseconds(now_ms_.load())); }
  void Advance(milliseconds d) { now_ms_ += d.count(); }

 private:
  std::atomic<int64_t> now_ms_;
};

// Milliseconds since the Unix epoch, and back: how times are stored.
int64_t ToUnixMillis(TimePoint t);
TimePoint FromUnixMillis(int64_t ms);

// RFC 3339 in UTC with milliseconds: "2026-11-26T05:30:01.123Z".
std::string FormatRfc3339(TimePoint t);

}  // namespace berth
