// Metrics: what every layer records through (counters, gauges, histograms, and values read at
// scrape time). The daemon creates the one registry (api/prometheus_metrics.h) and hands it
// down as this interface; layers record, only api/ renders. Implementations are thread-safe, and
// the references they return stay valid as long as the registry lives.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace berth {

using MetricLabels = std::map<std::string, std::string>;

class CounterMetric {
 public:
  virtual ~CounterMetric() = default;
  // Adds `by` (>= 0).
  virtual void Increment(double by = 1) = 0;
};

class GaugeMetric {
 public:
  virtual ~GaugeMetric() = default;
  virtual void Set(double value) = 0;
  virtual void Add(double delta) = 0;
};

class HistogramMetric {
 public:
  virtual ~HistogramMetric() = default;
  virtual void Observe(double value) = 0;
};

enum class MetricType { kCounter, kGauge };

// One labelled value of a family read at scrape time.
struct MetricSample {
  MetricLabels labels;
  double value = 0;
};

class Metrics {
 public:
  virtual ~Metrics() = default;

  // The series `name`{labels} of a counter family (created on first use). A name is used with
  // one type and one help text only.
  virtual CounterMetric& Counter(const std::string& name, const std::string& help,
                                 const MetricLabels& labels = {}) = 0;
  virtual GaugeMetric& Gauge(const std::string& name, const std::string& help,
                             const MetricLabels& labels = {}) = 0;
  // `buckets`: upper bounds, ascending (the first call for a name fixes them).
  virtual HistogramMetric& Histogram(const std::string& name, const std::string& help,
                                     const std::vector<double>& buckets,
                                     const MetricLabels& labels = {}) = 0;

  // A family whose samples `read` returns at each scrape (for values that are cheaper to read
  // than to track: queue depth, process RSS). `read` runs on the scraping thread.
  virtual void AddCallback(const std::string& name, const std::string& help, MetricType type,
                           std::function<std::vector<MetricSample>()> read) = 0;
};

// Latency buckets in seconds, from 1 ms to 60 s.
std::vector<double> LatencyBuckets();

// A Metrics that records nothing (for code run without a registry, and tests).
class NullMetrics : public Metrics {
 public:
  CounterMetric& Counter(const std::string&, const std::string&, const MetricLabels&) override;
  GaugeMetric& Gauge(const std::string&, const std::string&, const MetricLabels&) override;
  HistogramMetric& Histogram(const std::string&, const std::string&, const std::vector<double>&,
                             const MetricLabels&) override;
  void AddCallback(const std::string&, const std::string&, MetricType,
                   std::function<std::vector<MetricSample>()>) override {}
};

}  // namespace berth
