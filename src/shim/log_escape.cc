#include "shim/log_escape.h"

#include <algorithm>

namespace berth {

std::string LogEscaper::Feed(std::string_view piece) {
  std::string out;
  out.reserve(piece.size() + 1);
  for (char c : piece) {
    if (at_line_start_) {
      held_.push_back(c);
      if (kLogMarkerPrefix.starts_with(held_)) {
        if (held_.size() == kLogMarkerPrefix.size()) {
          out += '\\';
          out += held_;
          held_.clear();
          at_line_start_ = false;
        }
        continue;
      }
      // Not the marker: let the held bytes through; the line goes on (or a new one starts).
      out += held_;
      held_.clear();
      at_line_start_ = c == '\n';
      continue;
    }
    out += c;
    if (c == '\n') at_line_start_ = true;
  }
  return out;
}

LogEscaper LogEscaper::FromState(int state) {
  LogEscaper e;
  e.at_line_start_ = state >= 0;
  if (state > 0) {
    e.held_ = kLogMarkerPrefix.substr(
        0, std::min(static_cast<size_t>(state), kLogMarkerPrefix.size() - 1));
  }
  return e;
}

std::string LogEscaper::Flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace berth
