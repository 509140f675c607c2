#include "api/access_log.h"

#include <cstdio>
#include <utility>

namespace berth {
namespace {

constexpr size_t kMaxLoggedPath = 256;  // an anonymous caller picks the path: bound it

}  // namespace

AccessLog::AccessLog(Logger& log, const Clock& clock, AccessLogOptions opts)
    : log_(log), clock_(clock), opts_(opts), flusher_([this] { FlushLoop(); }) {}

AccessLog::~AccessLog() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  flusher_.join();
  Flush();
}

RouteObserver AccessLog::Observer() {
  return [this](const HttpRequest& req, const std::string& pattern) {
    TimePoint start = clock_.Now();
    std::string path = req.path.size() > kMaxLoggedPath
                           ? req.path.substr(0, kMaxLoggedPath) + "..."
                           : req.path;  // HttpRequest::path never holds the query
    std::string method = req.method.substr(0, 16);
    std::string route = pattern.empty() ? "unmatched" : pattern;
    return [this, start, method = std::move(method), path = std::move(path),
            route = std::move(route)](int status) {
      double ms = std::chrono::duration<double, std::milli>(clock_.Now() - start).count();
      char duration[32];
      snprintf(duration, sizeof duration, "%.3f", ms);
      LogLevel level = status >= 500 ? LogLevel::kWarn : LogLevel::kInfo;
      Add(level, log_.Format(level, "http request",
                             {{"method", method},
                              {"path", path},
                              {"route", route},
                              {"status", std::to_string(status)},
                              {"ms", duration}}));
    };
  };
}

void AccessLog::Add(LogLevel level, std::string line) {
  bool full = false;
  bool first = false;
  {
    MutexLock lock(mu_);
    first = buffer_.empty();
    if (first) {
      buffer_ = std::move(line);
    } else {
      buffer_ += line;
    }
    full = buffer_.size() >= opts_.max_buffered_bytes;
  }
  if (full || level != LogLevel::kInfo) {
    Flush();
  } else if (first) {
    cv_.notify_one();  // the flusher starts its interval
  }
}

void AccessLog::Flush() {
  MutexLock write_lock(write_mu_);
  std::string batch;
  {
    MutexLock lock(mu_);
    batch.swap(buffer_);
  }
  log_.WriteLines(batch);
}

void AccessLog::FlushLoop() {
  MutexLock lock(mu_);
  for (;;) {
    while (!stopping_ && buffer_.empty()) cv_.wait(lock);
    if (stopping_) return;
    // Lets lines gather for one interval (a stop cuts it short: the destructor flushes).
    cv_.wait_for(lock, opts_.flush_interval, [this]() REQUIRES(mu_) { return stopping_; });
    if (stopping_) return;
    lock.unlock();
    Flush();
    lock.lock();
  }
}

RouteObserver BothObservers(RouteObserver a, RouteObserver b) {
  if (!a) return b;
  if (!b) return a;
  return [a = std::move(a), b = std::move(b)](const HttpRequest& req, const std::string& pattern) {
    auto da = a(req, pattern);
    auto db = b(req, pattern);
    return [da = std::move(da), db = std::move(db)](int status) {
      if (da) da(status);
      if (db) db(status);
    };
  };
}

}  // namespace berth
