#include "common/metrics.h"

namespace berth {
namespace {

class NullCounter : public CounterMetric {
 public:
  void Increment(double) override {}
};
class NullGauge : public GaugeMetric {
 public:
  void Set(double) override {}
  void Add(double) override {}
};
class NullHistogram : public HistogramMetric {
 public:
  void Observe(double) override {}
};

}  // namespace

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

CounterMetric& NullMetrics::Counter(const std::string&, const std::string&, const MetricLabels&) {
  static NullCounter counter;
  return counter;
}

GaugeMetric& NullMetrics::Gauge(const std::string&, const std::string&, const MetricLabels&) {
  static NullGauge gauge;
  return gauge;
}

HistogramMetric& NullMetrics::Histogram(const std::string&, const std::string&,
                                        const std::vector<double>&, const MetricLabels&) {
  static NullHistogram histogram;
  return histogram;
}

}  // namespace berth
