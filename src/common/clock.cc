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
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

}  // namespace berth
