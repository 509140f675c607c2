// EscapeForLog: text from outside (a registry's error body, a runtime's message, a job's
// reason) made safe for one line of the daemon's log. Pure function, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace berth {

// `text` with every control byte (NUL, ESC, CR, LF, DEL, ...) and backslash written as an
// escape (\n, \r, \t, \\, \xNN), so it can neither cut the line nor drive a terminal; at most
// `max_bytes` of input are kept (then "...").
std::string EscapeForLog(std::string_view text, size_t max_bytes = 4096);

}  // namespace berth
