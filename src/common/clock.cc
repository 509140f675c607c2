#include "common/clock.h"

#include <ctime>

namespace berth {

int64_t ToUnixMillis(TimePoint t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

TimePoint FromUnixMillis(int64_t ms) { return TimePoint(milliseconds(ms)); }

std::string FormatRfc3339(TimePoint t) {
  int64_t ms = ToUnixMillis(t);
  time_t secs = static_cast<time_t>(ms / 1000);
  int frac = static_cast<int>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  // The date and time up to the second, kept per thread: log lines come many per second, and
  // gmtime_r takes glibc's time zone lock.
  thread_local time_t cached_secs = -1;
  thread_local char cached[80];
  if (secs != cached_secs) {
    struct tm tm {};
    gmtime_r(&secs, &tm);
    snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_secs = secs;
  }
  std::string out(cached);
  out += static_cast<char>('0' + frac / 100);
  out += static_cast<char>('0' + frac / 10 % 10);
  out += static_cast<char>('0' + frac % 10);
  out += 'Z';
  return out;
}

}  // namespace berth
