// PrometheusMetrics: the daemon's one metrics registry, on prometheus-cpp's core (counters,
// gauges and histograms kept in memory), rendered in the Prometheus text format 0.0.4 by the
// /metrics route of berth's own HTTP server. Other layers see it only as `Metrics`.
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "common/mutex.h"

namespace prometheus {
class Registry;
}

namespace berth {

class PrometheusMetrics : public Metrics {
 public:
  PrometheusMetrics();
  ~PrometheusMetrics() override;

  CounterMetric& Counter(const std::string& name, const std::string& help,
                         const MetricLabels& labels = {}) override;
  GaugeMetric& Gauge(const std::string& name, const std::string& help,
                     const MetricLabels& labels = {}) override;
  HistogramMetric& Histogram(const std::string& name, const std::string& help,
                             const std::vector<double>& buckets,
                             const MetricLabels& labels = {}) override;
  void AddCallback(const std::string& name, const std::string& help, MetricType type,
                   std::function<std::vector<MetricSample>()> read) override;

  // Every family, sorted by name, in the text exposition format 0.0.4.
  std::string RenderText() const;

 private:
  struct Callback {
    std::string name;
    std::string help;
    MetricType type;
    std::function<std::vector<MetricSample>()> read;
  };
  using SeriesKey = std::pair<std::string, MetricLabels>;

  std::shared_ptr<prometheus::Registry> registry_;
  mutable Mutex mu_;
  // Families by name (prometheus::Family<T>*, typed by the map they are in).
  std::map<std::string, void*> counter_families_ GUARDED_BY(mu_);
  std::map<std::string, void*> gauge_families_ GUARDED_BY(mu_);
  std::map<std::string, void*> histogram_families_ GUARDED_BY(mu_);
  std::map<SeriesKey, std::unique_ptr<CounterMetric>> counters_ GUARDED_BY(mu_);
  std::map<SeriesKey, std::unique_ptr<GaugeMetric>> gauges_ GUARDED_BY(mu_);
  std::map<SeriesKey, std::unique_ptr<HistogramMetric>> histograms_ GUARDED_BY(mu_);
  std::vector<Callback> callbacks_ GUARDED_BY(mu_);
};

}  // namespace berth
