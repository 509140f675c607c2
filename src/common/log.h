// Logger: the daemon's log, one line per event: time (RFC 3339, UTC), level, message and
// key=value fields (a job's id goes in the field "job"). Text for people by default, one JSON
// object per line for log shippers (--log-format json). Values pass through EscapeForLog, so no
// field can cut a line or drive a terminal. Never hand it a key. Thread-safe: each line reaches
// the sink whole, lines never interleave.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"

namespace berth {

enum class LogLevel { kInfo, kWarn, kError };
enum class LogFormat { kText, kJson };

// "text" or "json"; InvalidArgument otherwise.
Result<LogFormat> ParseLogFormat(std::string_view name);

// A line's fields in the order given: {"job", id}, {"state", "Running"}.
using LogFields = std::vector<std::pair<std::string, std::string>>;

class Logger {
 public:
  // Gets each whole line, newline included (WriteLines: several whole lines at once).
  using Sink = std::function<void(std::string_view line)>;

  // Writes to stderr (flushed after each line) unless a sink is given. `clock` must outlive it.
  Logger(LogFormat format, const Clock& clock, Sink sink = nullptr);

  void Log(LogLevel level, std::string_view message, const LogFields& fields = {});
  void Info(std::string_view message, const LogFields& fields = {}) {
    Log(LogLevel::kInfo, message, fields);
  }
  void Warn(std::string_view message, const LogFields& fields = {}) {
    Log(LogLevel::kWarn, message, fields);
  }
  void Error(std::string_view message, const LogFields& fields = {}) {
    Log(LogLevel::kError, message, fields);
  }

  // The line Log would write now (newline included).
  std::string Format(LogLevel level, std::string_view message, const LogFields& fields) const;

  // Hands whole lines made by Format (several at once, each with its newline) to the sink in
  // one call: one write for a batch of lines (the access log's). Empty `lines` are not passed on.
  void WriteLines(std::string_view lines);

  LogFormat format() const { return format_; }

 private:
  const LogFormat format_;
  const Clock& clock_;
  const Sink sink_;
  Mutex mu_;  // one line at a time into the sink
};

// The process's log for code far from main (dispatcher, runtime, retention): the daemon sets
// it once at start (SetProcessLogger; null goes back to the default), the rest writes through
// LogInfo/LogWarn/LogError. Until set, lines go to stderr as text. `logger` must outlive its use.
void SetProcessLogger(Logger* logger);
Logger& ProcessLogger();

// Makes `logger` the process's log for its own lifetime (declare it right after the logger).
class ScopedProcessLogger {
 public:
  explicit ScopedProcessLogger(Logger& logger) { SetProcessLogger(&logger); }
  ~ScopedProcessLogger() { SetProcessLogger(nullptr); }
  ScopedProcessLogger(const ScopedProcessLogger&) = delete;
  ScopedProcessLogger& operator=(const ScopedProcessLogger&) = delete;
};
inline void LogInfo(std::string_view message, const LogFields& fields = {}) {
  ProcessLogger().Info(message, fields);
}
inline void LogWarn(std::string_view message, const LogFields& fields = {}) {
  ProcessLogger().Warn(message, fields);
}
inline void LogError(std::string_view message, const LogFields& fields = {}) {
  ProcessLogger().Error(message, fields);
}

}  // namespace berth
