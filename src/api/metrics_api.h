// MetricsApi: the node's metrics and version for the outside.
//
//   GET /metrics        the registry in the Prometheus text format 0.0.4 (key only when
//                       MetricsRequireKey)
//   GET /api/version    {"version", "commit"} (anonymous)
//
// Thread-safe; the registry must outlive the router.
#pragma once

#include <functional>

#include "api/prometheus_metrics.h"
#include "api/router.h"

namespace berth {

struct MetricsApiOptions {
  // Whether a request may read /metrics; null = anyone may (the default).
  std::function<bool(const HttpRequest&)> authorize;
};

class MetricsApi {
 public:
  MetricsApi(const PrometheusMetrics& metrics, MetricsApiOptions opts);

  // Adds the routes to `router`; `this` must outlive it.
  void Register(Router& router);

  // The answers (exposed for tests).
  HttpResponse Metrics(const HttpRequest& req) const;
  static HttpResponse Version();

 private:
  const PrometheusMetrics& metrics_;
  MetricsApiOptions opts_;
};

}  // namespace berth
