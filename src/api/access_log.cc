#include "api/access_log.h"

#include <cstdio>

namespace berth {
namespace {

constexpr size_t kMaxLoggedPath = 256;  // an anonymous caller picks the path: bound it

}  // namespace

RouteObserver AccessLogObserver(Logger& log, const Clock& clock) {
  return [&log, &clock](const HttpRequest& req, const std::string& pattern) {
    TimePoint start = clock.Now();
    std::string path = req.path.size() > kMaxLoggedPath
                           ? req.path.substr(0, kMaxLoggedPath) + "..."
                           : req.path;  // HttpRequest::path never holds the query
    std::string method = req.method.substr(0, 16);
    std::string route = pattern.empty() ? "unmatched" : pattern;
    return [&log, &clock, start, method = std::move(method), path = std::move(path),
            route = std::move(route)](int status) {
      double ms = std::chrono::duration<double, std::milli>(clock.Now() - start).count();
      char duration[32];
      snprintf(duration, sizeof duration, "%.3f", ms);
      LogFields fields{{"method", method},
                       {"path", path},
                       {"route", route},
                       {"status", std::to_string(status)},
                       {"ms", duration}};
      if (status >= 500) return log.Warn("http request", fields);
      log.LogBatched("http request", fields);
    };
  };
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
