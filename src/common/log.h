// Logger: the daemon's log, one line per event: time (RFC 3339, UTC), level, message and
// key=value fields (a job's id goes in the field "job"). Text for people by default, one JSON
// object per line for log shippers (--log-format json). Values pass through EscapeForLog, so no
// field can cut a line or drive a terminal. Never hand it a key. Thread-safe: each line reaches
// the sink whole, lines never interleave, and they reach it in the order they were logged.
//
// Frequent info lines (an access line per request, "job submitted" per job) go through
// LogBatched: they wait in a buffer and reach the sink together, one sink call (one write) per
// batch, instead of one write each on the thread that logs them. A background thread (started
// by the first batched line) hands the buffer on at most `batch_interval` after its first line;
// a buffer past kMaxBatchBytes is handed on at once; a Log line first hands on the lines
// batched before it, so the order holds. Flush and the destructor hand on what is buffered: a
// clean stop loses no line, a killed process loses at most one interval of batched lines.
#pragma once

#include <condition_variable>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
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
  // Gets each whole line, newline included; a batch of whole lines at once (LogBatched).
  using Sink = std::function<void(std::string_view lines)>;

  // A buffer of batched lines past this is handed to the sink at once (64 KiB, ~500 lines).
  static constexpr size_t kMaxBatchBytes = 64 << 10;

  // Writes to stderr (flushed after each line or batch) unless a sink is given. `clock` must
  // outlive it. `batch_interval`: how long a LogBatched line may wait (default 50 ms: nobody
  // tailing the log sees the delay, and under load one write carries hundreds of lines).
  Logger(LogFormat format, const Clock& clock, Sink sink = nullptr,
         milliseconds batch_interval = milliseconds(50));
  // Hands on what is batched.
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

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

  // An info line that may wait in the buffer (see the top of this file).
  void LogBatched(std::string_view message, const LogFields& fields = {});
  // Hands every batched line to the sink now.
  void Flush();

  // The line Log would write now (newline included).
  std::string Format(LogLevel level, std::string_view message, const LogFields& fields) const;

  LogFormat format() const { return format_; }

 private:
  void FlushLoop();

  const LogFormat format_;
  const Clock& clock_;
  const Sink sink_;
  const milliseconds batch_interval_;
  Mutex mu_;  // one call at a time into the sink
  std::condition_variable_any batched_cv_;
  std::string batch_ GUARDED_BY(mu_);  // batched lines not yet handed on
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread flusher_ GUARDED_BY(mu_);  // started by the first batched line
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
