#include "api/metrics_api.h"

#include <nlohmann/json.hpp>

#include "common/version.h"

namespace berth {

MetricsApi::MetricsApi(const PrometheusMetrics& metrics, MetricsApiOptions opts)
    : metrics_(metrics), opts_(std::move(opts)) {}

void MetricsApi::Register(Router& router) {
  router.Add("GET", "/metrics",
             [this](const HttpRequest& req, const std::vector<std::string>&, Respond respond) {
               respond(Metrics(req));
             });
  router.Add("GET", "/api/version",
             [](const HttpRequest&, const std::vector<std::string>&, Respond respond) {
               respond(Version());
             });
}

HttpResponse MetricsApi::Metrics(const HttpRequest& req) const {
  if (opts_.authorize && !opts_.authorize(req)) {
    return JsonError(401, "a valid function key is required (?code= or x-functions-key)");
  }
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = metrics_.RenderText();
  return r;
}

HttpResponse MetricsApi::Version() {
  HttpResponse r;
  r.body = nlohmann::json{{"version", BerthVersion()}, {"commit", BerthCommit()}}.dump();
  return r;
}

}  // namespace berth
