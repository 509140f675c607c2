#include "api/prometheus_metrics.h"

#include <gtest/gtest.h>

#include "api/http_metrics.h"
#include "api/metrics_api.h"
#include "api/router.h"
#include "common/version.h"

namespace berth {
namespace {

bool HasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(PrometheusMetricsTest, CountersAndGaugesRenderWithTypeHelpAndLabels) {
  PrometheusMetrics m;
  m.Counter("berth_things_total", "Things seen", {{"kind", "a"}}).Increment();
  m.Counter("berth_things_total", "Things seen", {{"kind", "a"}}).Increment(2);
  m.Counter("berth_things_total", "Things seen", {{"kind", "b"}}).Increment();
  m.Gauge("berth_level", "A level").Set(7.5);
  std::string text = m.RenderText();
  EXPECT_TRUE(HasLine(text, "# HELP berth_things_total Things seen")) << text;
  EXPECT_TRUE(HasLine(text, "# TYPE berth_things_total counter")) << text;
  EXPECT_TRUE(HasLine(text, "berth_things_total{kind=\"a\"} 3")) << text;
  EXPECT_TRUE(HasLine(text, "berth_things_total{kind=\"b\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "# TYPE berth_level gauge")) << text;
  EXPECT_TRUE(HasLine(text, "berth_level 7.5")) << text;
}

TEST(PrometheusMetricsTest, SameSeriesIsTheSameObject) {
  PrometheusMetrics m;
  EXPECT_EQ(&m.Counter("berth_x_total", "x", {{"a", "1"}}),
            &m.Counter("berth_x_total", "x", {{"a", "1"}}));
  EXPECT_NE(&m.Counter("berth_x_total", "x", {{"a", "1"}}),
            &m.Counter("berth_x_total", "x", {{"a", "2"}}));
}

TEST(PrometheusMetricsTest, HistogramBucketsAreCumulative) {
  PrometheusMetrics m;
  auto& h = m.Histogram("berth_wait_seconds", "Waits", {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  std::string text = m.RenderText();
  EXPECT_TRUE(HasLine(text, "# TYPE berth_wait_seconds histogram")) << text;
  EXPECT_TRUE(HasLine(text, "berth_wait_seconds_bucket{le=\"0.1\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "berth_wait_seconds_bucket{le=\"1\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, "berth_wait_seconds_bucket{le=\"+Inf\"} 3")) << text;
  EXPECT_TRUE(HasLine(text, "berth_wait_seconds_count 3")) << text;
  EXPECT_TRUE(HasLine(text, "berth_wait_seconds_sum 5.55")) << text;
}

TEST(PrometheusMetricsTest, CallbacksAreReadAtEachRender) {
  PrometheusMetrics m;
  int calls = 0;
  m.AddCallback("berth_depth", "Depth", MetricType::kGauge, [&calls] {
    ++calls;
    return std::vector<MetricSample>{{{{"queue", "jobs"}}, static_cast<double>(calls * 10)}};
  });
  m.AddCallback("process_cpu_seconds_total", "CPU", MetricType::kCounter, [] {
    return std::vector<MetricSample>{{{}, 1.25}};
  });
  EXPECT_TRUE(HasLine(m.RenderText(), "berth_depth{queue=\"jobs\"} 10"));
  std::string text = m.RenderText();
  EXPECT_TRUE(HasLine(text, "berth_depth{queue=\"jobs\"} 20")) << text;
  EXPECT_TRUE(HasLine(text, "# TYPE process_cpu_seconds_total counter")) << text;
  EXPECT_TRUE(HasLine(text, "process_cpu_seconds_total 1.25")) << text;
  // Families come out sorted by name.
  EXPECT_LT(text.find("berth_depth"), text.find("process_cpu_seconds_total"));
}

HttpRequest Get(std::string path) {
  HttpRequest r;
  r.method = "GET";
  r.path = std::move(path);
  return r;
}

TEST(HttpMetricsTest, RequestsAreCountedByRoutePatternMethodAndCode) {
  PrometheusMetrics m;
  FakeClock clock;
  Router router;
  router.SetObserver(HttpMetricsObserver(m, clock));
  Respond later;
  router.Add("GET", "/api/jobs/{id}",
             [&](const HttpRequest&, const std::vector<std::string>&, Respond respond) {
               later = std::move(respond);  // answers after the clock moved
             });
  int answered = 0;
  router.Handle(Get("/api/jobs/abc"), [&](HttpResponse) { ++answered; });
  clock.Advance(milliseconds(30));
  HttpResponse r;
  r.status = 202;
  later(r);
  router.Handle(Get("/nowhere"), [&](HttpResponse) { ++answered; });
  EXPECT_EQ(answered, 2);
  std::string text = m.RenderText();
  EXPECT_TRUE(HasLine(
      text, "berth_http_requests_total{code=\"202\",method=\"GET\",route=\"/api/jobs/{id}\"} 1"))
      << text;
  EXPECT_TRUE(
      HasLine(text, "berth_http_requests_total{code=\"404\",method=\"GET\",route=\"unmatched\"} 1"))
      << text;
  // 30 ms falls in the 0.05 bucket, not in the 0.025 one.
  EXPECT_TRUE(HasLine(text,
                      "berth_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/"
                      "jobs/{id}\",le=\"0.025\"} 0"))
      << text;
  EXPECT_TRUE(HasLine(text,
                      "berth_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/"
                      "jobs/{id}\",le=\"0.05\"} 1"))
      << text;
}

TEST(MetricsApiTest, ServesTextFormatAndHonoursTheKeyCheck) {
  PrometheusMetrics m;
  m.Counter("berth_jobs_submitted_total", "Jobs").Increment();
  MetricsApi open(m, {});
  HttpResponse r = open.Metrics(Get("/metrics"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_TRUE(HasLine(r.body, "berth_jobs_submitted_total 1")) << r.body;

  MetricsApiOptions keyed;
  keyed.authorize = [](const HttpRequest& req) { return req.Header("x-functions-key") == "k"; };
  MetricsApi closed(m, keyed);
  EXPECT_EQ(closed.Metrics(Get("/metrics")).status, 401);
  HttpRequest with_key = Get("/metrics");
  with_key.headers["x-functions-key"] = "k";
  EXPECT_EQ(closed.Metrics(with_key).status, 200);
}

TEST(MetricsApiTest, VersionNamesVersionAndCommit) {
  HttpResponse r = MetricsApi::Version();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "{\"commit\":\"" + BerthCommit() + "\",\"version\":\"" + BerthVersion() + "\"}");
  EXPECT_EQ(BerthVersion(), "0.1.0");
  EXPECT_FALSE(BerthCommit().empty());
}

}  // namespace
}  // namespace berth
