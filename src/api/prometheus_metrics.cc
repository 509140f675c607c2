#include "api/prometheus_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <sstream>

namespace berth {
namespace {

class PromCounter : public CounterMetric {
 public:
  explicit PromCounter(prometheus::Counter& c) : c_(c) {}
  void Increment(double by) override { c_.Increment(by); }

 private:
  prometheus::Counter& c_;
};

class PromGauge : public GaugeMetric {
 public:
  explicit PromGauge(prometheus::Gauge& g) : g_(g) {}
  void Set(double value) override { g_.Set(value); }
  void Add(double delta) override { g_.Increment(delta); }

 private:
  prometheus::Gauge& g_;
};

class PromHistogram : public HistogramMetric {
 public:
  explicit PromHistogram(prometheus::Histogram& h) : h_(h) {}
  void Observe(double value) override { h_.Observe(value); }

 private:
  prometheus::Histogram& h_;
};

prometheus::Labels ToLabels(const MetricLabels& labels) {
  return prometheus::Labels(labels.begin(), labels.end());
}

}  // namespace

PrometheusMetrics::PrometheusMetrics() : registry_(std::make_shared<prometheus::Registry>()) {}

PrometheusMetrics::~PrometheusMetrics() = default;

CounterMetric& PrometheusMetrics::Counter(const std::string& name, const std::string& help,
                                          const MetricLabels& labels) {
  MutexLock lock(mu_);
  auto& slot = counters_[{name, labels}];
  if (slot) return *slot;
  void*& family = counter_families_[name];
  if (family == nullptr) {
    family = &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  }
  auto& typed = *static_cast<prometheus::Family<prometheus::Counter>*>(family);
  slot = std::make_unique<PromCounter>(typed.Add(ToLabels(labels)));
  return *slot;
}

GaugeMetric& PrometheusMetrics::Gauge(const std::string& name, const std::string& help,
                                      const MetricLabels& labels) {
  MutexLock lock(mu_);
  auto& slot = gauges_[{name, labels}];
  if (slot) return *slot;
  void*& family = gauge_families_[name];
  if (family == nullptr) {
    family = &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
  }
  auto& typed = *static_cast<prometheus::Family<prometheus::Gauge>*>(family);
  slot = std::make_unique<PromGauge>(typed.Add(ToLabels(labels)));
  return *slot;
}

HistogramMetric& PrometheusMetrics::Histogram(const std::string& name, const std::string& help,
                                              const std::vector<double>& buckets,
                                              const MetricLabels& labels) {
  MutexLock lock(mu_);
  auto& slot = histograms_[{name, labels}];
  if (slot) return *slot;
  void*& family = histogram_families_[name];
  if (family == nullptr) {
    family = &prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
  }
  auto& typed = *static_cast<prometheus::Family<prometheus::Histogram>*>(family);
  slot = std::make_unique<PromHistogram>(
      typed.Add(ToLabels(labels), prometheus::Histogram::BucketBoundaries(buckets)));
  return *slot;
}

void PrometheusMetrics::AddCallback(const std::string& name, const std::string& help,
                                    MetricType type,
                                    std::function<std::vector<MetricSample>()> read) {
  MutexLock lock(mu_);
  callbacks_.push_back({name, help, type, std::move(read)});
}

std::string PrometheusMetrics::RenderText() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::vector<Callback> callbacks;
  {
    MutexLock lock(mu_);
    callbacks = callbacks_;
  }
  for (const Callback& cb : callbacks) {
    prometheus::MetricFamily f;
    f.name = cb.name;
    f.help = cb.help;
    f.type = cb.type == MetricType::kCounter ? prometheus::MetricType::Counter
                                             : prometheus::MetricType::Gauge;
    for (const MetricSample& s : cb.read()) {
      prometheus::ClientMetric m;
      for (const auto& [k, v] : s.labels) m.label.push_back({k, v});
      if (cb.type == MetricType::kCounter) {
        m.counter.value = s.value;
      } else {
        m.gauge.value = s.value;
      }
      f.metric.push_back(std::move(m));
    }
    families.push_back(std::move(f));
  }
  std::sort(families.begin(), families.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace berth
