#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/log_text.h"

namespace berth {
namespace {

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::string_view UpperLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "INFO ";
    case LogLevel::kWarn:
      return "WARN ";
    case LogLevel::kError:
      return "ERROR";
  }
  return "INFO ";
}

// A text value: escaped, and quoted when it has a space, a quote or an '=' (or is empty).
std::string TextValue(std::string_view value) {
  std::string v = EscapeForLog(value);
  if (!v.empty() && v.find_first_of(" \"=") == std::string::npos) return v;
  std::string quoted = "\"";
  for (char c : v) {
    if (c == '"') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

}  // namespace

Result<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return Status::InvalidArgument("log format must be text or json, got '" + std::string(name) +
                                 "'");
}

Logger::Logger(LogFormat format, const Clock& clock, Sink sink)
    : format_(format), clock_(clock), sink_(sink ? std::move(sink) : [](std::string_view line) {
        fwrite(line.data(), 1, line.size(), stderr);
        fflush(stderr);
      }) {}

std::string Logger::Format(LogLevel level, std::string_view message,
                           const LogFields& fields) const {
  std::string time = FormatRfc3339(clock_.Now());
  if (format_ == LogFormat::kJson) {
    nlohmann::ordered_json j;
    j["time"] = time;
    j["level"] = LevelName(level);
    j["msg"] = EscapeForLog(message);
    for (const auto& [k, v] : fields) j[k] = EscapeForLog(v);
    // Invalid UTF-8 (from outside text) is replaced rather than failing the line.
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  std::string line = time + " " + std::string(UpperLevelName(level)) + " " + EscapeForLog(message);
  for (const auto& [k, v] : fields) line += " " + k + "=" + TextValue(v);
  return line + "\n";
}

void Logger::Log(LogLevel level, std::string_view message, const LogFields& fields) {
  std::string line = Format(level, message, fields);
  MutexLock lock(mu_);
  sink_(line);
}

void Logger::WriteLines(std::string_view lines) {
  if (lines.empty()) return;
  MutexLock lock(mu_);
  sink_(lines);
}

namespace {
std::atomic<Logger*> process_logger{nullptr};
}  // namespace

void SetProcessLogger(Logger* logger) { process_logger.store(logger); }

Logger& ProcessLogger() {
  if (Logger* l = process_logger.load()) return *l;
  static SystemClock clock;
  static Logger fallback(LogFormat::kText, clock);
  return fallback;
}

}  // namespace berth
