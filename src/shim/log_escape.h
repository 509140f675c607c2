// LogEscaper: keeps a job from forging berth's own log lines. berth writes marker lines that
// start with "--- berth:" into a job's log (an attempt that failed, older output dropped); a
// line of the job's output that starts the same way is written with a backslash in front
// ("\--- berth: ..."), so in a log only berth's lines start with the marker. Output is fed in
// pieces as it is read from the job's pipe; a line start split across pieces is held back until
// it can be decided. Not thread-safe (one per monitor).
#pragma once

#include <string>
#include <string_view>

namespace berth {

// The prefix of berth's own log lines.
inline constexpr std::string_view kLogMarkerPrefix = "--- berth:";

class LogEscaper {
 public:
  // The bytes to write for `piece` of the job's output (may hold back up to a marker's length).
  std::string Feed(std::string_view piece);
  // What is still held back (a line start that was never completed); call once at the end.
  std::string Flush();
  // The state between pieces as one number (-1: inside a line; N >= 0: at a line start with
  // the marker's first N bytes held back), and an escaper in that state.
  int State() const { return at_line_start_ ? static_cast<int>(held_.size()) : -1; }
  static LogEscaper FromState(int state);

 private:
  bool at_line_start_ = true;
  std::string held_;  // a proper prefix of kLogMarkerPrefix seen at a line start
};

}  // namespace berth
