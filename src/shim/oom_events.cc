#include "shim/oom_events.h"

#include <sstream>
#include <string>

namespace berth {

int64_t ParseOomKillCount(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string key;
  int64_t value = 0;
  while (in >> key >> value) {
    if (key == "oom_kill") return value;
  }
  return 0;
}

}  // namespace berth
