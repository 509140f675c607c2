#include "shim/create_failure.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace berth {

bool CreateFailureIsTransient(std::string_view runtime_error) {
  // strerror() texts of the errnos that say "not now" rather than "never", as crun and runc
  // print them, and the runtimes' own words for a timeout.
  static constexpr std::string_view kTransient[] = {
      "resource temporarily unavailable",
      "cannot allocate memory",
      "no space left on device",
      "too many open files",
      "device or resource busy",
      "interrupted system call",
      "timed out",
      "timeout",
      "no message from the runtime",  // it died before saying why (killed, OOM)
  };
  std::string lower(runtime_error);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::any_of(std::begin(kTransient), std::end(kTransient),
                     [&](std::string_view t) { return lower.find(t) != std::string::npos; });
}

}  // namespace berth
