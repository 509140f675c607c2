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

// True when EscapeForLog(s) is `s` itself (the common case, checked without a copy).
bool EscapesToItself(std::string_view s) {
  if (s.size() > 4096) return false;  // EscapeForLog's default cut
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == '\\') return false;
  }
  return true;
}

// Appends TextValue(value), without the copies when nothing needs escaping or quoting.
void AppendTextValue(std::string& line, std::string_view value) {
  if (!value.empty() && value.find_first_of(" \"=") == std::string_view::npos &&
      EscapesToItself(value)) {
    line += value;
  } else {
    line += TextValue(value);
  }
}

}  // namespace

Result<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return Status::InvalidArgument("log format must be text or json, got '" + std::string(name) +
                                 "'");
}

Logger::Logger(LogFormat format, const Clock& clock, Sink sink, milliseconds batch_interval)
    : format_(format),
      clock_(clock),
      sink_(sink ? std::move(sink)
                 : [](std::string_view lines) {
                     fwrite(lines.data(), 1, lines.size(), stderr);
                     fflush(stderr);
                   }),
      batch_interval_(batch_interval) {}

Logger::~Logger() {
  std::thread flusher;
  {
    MutexLock lock(mu_);
    stopping_ = true;
    flusher = std::move(flusher_);
  }
  batched_cv_.notify_all();
  if (flusher.joinable()) flusher.join();
  Flush();
}

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
  size_t size = time.size() + 8 + message.size();
  for (const auto& [k, v] : fields) size += k.size() + v.size() + 4;
  std::string line = std::move(time);
  line.reserve(size);
  line += ' ';
  line += UpperLevelName(level);
  line += ' ';
  if (EscapesToItself(message)) {
    line += message;
  } else {
    line += EscapeForLog(message);
  }
  for (const auto& [k, v] : fields) {
    line += ' ';
    line += k;
    line += '=';
    AppendTextValue(line, v);
  }
  line += '\n';
  return line;
}

void Logger::Log(LogLevel level, std::string_view message, const LogFields& fields) {
  std::string line = Format(level, message, fields);
  MutexLock lock(mu_);
  if (batch_.empty()) return sink_(line);
  batch_ += line;  // after the lines batched before it, in the same write
  sink_(batch_);
  batch_.clear();
}

void Logger::LogBatched(std::string_view message, const LogFields& fields) {
  std::string line = Format(LogLevel::kInfo, message, fields);
  bool first = false;
  {
    MutexLock lock(mu_);
    first = batch_.empty();
    if (first) {
      batch_ = std::move(line);
    } else {
      batch_ += line;
    }
    if (batch_.size() >= kMaxBatchBytes) {
      sink_(batch_);
      batch_.clear();
      return;
    }
    if (!flusher_.joinable() && !stopping_) flusher_ = std::thread([this] { FlushLoop(); });
  }
  if (first) batched_cv_.notify_one();  // the flusher starts its interval
}

void Logger::Flush() {
  MutexLock lock(mu_);
  if (batch_.empty()) return;
  sink_(batch_);
  batch_.clear();
}

void Logger::FlushLoop() {
  MutexLock lock(mu_);
  for (;;) {
    while (!stopping_ && batch_.empty()) batched_cv_.wait(lock);
    if (stopping_) return;  // the destructor hands on the rest
    // Lets lines gather for one interval; a stop cuts it short.
    batched_cv_.wait_for(lock, batch_interval_, [this]() REQUIRES(mu_) { return stopping_; });
    if (!batch_.empty()) {
      sink_(batch_);
      batch_.clear();
    }
  }
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
