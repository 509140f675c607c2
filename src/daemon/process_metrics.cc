#include "daemon/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/version.h"

namespace berth {
namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double start_seconds = 0;  // since the epoch
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

double BootTime() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return value;
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

// Fields of /proc/self/stat after the command name (which may hold spaces).
bool ReadProcStat(ProcStat& out) {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;
  for (std::string s; rest >> s;) f.push_back(s);
  // f[0] is field 3 (state): utime 14, stime 15, starttime 22, vsize 23, rss 24.
  if (f.size() < 22) return false;
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  out.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
  out.start_seconds = BootTime() + std::stod(f[19]) / ticks;
  out.virtual_bytes = std::stod(f[20]);
  out.resident_bytes = std::stod(f[21]) * static_cast<double>(sysconf(_SC_PAGESIZE));
  return true;
}

std::function<std::vector<MetricSample>()> Read(double ProcStat::*field) {
  return [field] {
    ProcStat st;
    if (!ReadProcStat(st)) return std::vector<MetricSample>{};
    return std::vector<MetricSample>{{{}, st.*field}};
  };
}

}  // namespace

void AddProcessMetrics(Metrics& metrics) {
  metrics.AddCallback("process_cpu_seconds_total", "Total user and system CPU time in seconds",
                      MetricType::kCounter, Read(&ProcStat::cpu_seconds));
  metrics.AddCallback("process_start_time_seconds", "Start time since the Unix epoch in seconds",
                      MetricType::kGauge, Read(&ProcStat::start_seconds));
  metrics.AddCallback("process_virtual_memory_bytes", "Virtual memory size in bytes",
                      MetricType::kGauge, Read(&ProcStat::virtual_bytes));
  metrics.AddCallback("process_resident_memory_bytes", "Resident memory size in bytes",
                      MetricType::kGauge, Read(&ProcStat::resident_bytes));
  metrics.AddCallback("process_open_fds", "Open file descriptors", MetricType::kGauge, [] {
    std::error_code ec;
    double n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++n;
    }
    return std::vector<MetricSample>{{{}, n}};
  });
  metrics.AddCallback("process_max_fds", "Limit of open file descriptors", MetricType::kGauge, [] {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return std::vector<MetricSample>{};
    return std::vector<MetricSample>{{{}, static_cast<double>(rl.rlim_cur)}};
  });
  metrics
      .Gauge("berth_build_info", "The version and commit of this build (always 1)",
             {{"version", BerthVersion()}, {"commit", BerthCommit()}})
      .Set(1);
}

}  // namespace berth
