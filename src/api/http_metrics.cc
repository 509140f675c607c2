#include "api/http_metrics.h"

#include <array>
#include <string_view>

namespace berth {
namespace {

// The method as a label: the ones the API uses, else "other".
std::string MethodLabel(const std::string& method) {
  static constexpr std::array<std::string_view, 7> kKnown = {"GET",    "HEAD",  "POST",   "PUT",
                                                             "DELETE", "PATCH", "OPTIONS"};
  for (std::string_view m : kKnown) {
    if (method == m) return method;
  }
  return "other";
}

}  // namespace

RouteObserver HttpMetricsObserver(Metrics& metrics, const Clock& clock) {
  return [&metrics, &clock](const HttpRequest& req, const std::string& pattern) {
    TimePoint start = clock.Now();
    MetricLabels labels{{"route", pattern.empty() ? "unmatched" : pattern},
                        {"method", MethodLabel(req.method)}};
    return [&metrics, &clock, start, labels = std::move(labels)](int status) mutable {
      double seconds = std::chrono::duration<double>(clock.Now() - start).count();
      metrics
          .Histogram("berth_http_request_duration_seconds",
                     "Time from routing an HTTP request to its answer", LatencyBuckets(), labels)
          .Observe(seconds);
      labels["code"] = std::to_string(status);
      metrics.Counter("berth_http_requests_total", "HTTP requests answered", labels).Increment();
    };
  };
}

}  // namespace berth
