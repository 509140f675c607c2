#include "dispatch/retry_marker.h"

#include <algorithm>
#include <cstdint>

namespace berth {

milliseconds RetryDelay(int runs, milliseconds backoff, milliseconds max) {
  int64_t factor = int64_t{1} << std::clamp(runs - 1, 0, 30);
  return std::min(backoff * factor, max);
}

std::string RetryMarker(int runs, const std::string& reason, int max_attempts, milliseconds delay) {
  return "--- berth: attempt " + std::to_string(runs) + " failed (" + reason + "); attempt " +
         std::to_string(runs + 1) + " of " + std::to_string(max_attempts) + " in " +
         std::to_string(delay.count()) + " ms ---";
}

}  // namespace berth
