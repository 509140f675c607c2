// berth-faulty: the berth binary for crash tests. Identical to `berth` but for one thing: it
// SIGKILLs itself the Nth time the job path reaches the crash point named by BERTH_CRASH_AT
// (BERTH_CRASH_NTH, default 1). Built only as a test target; the production binary contains no
// code that crashes on purpose (it passes no CrashPoints at all).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/cli.h"
#include "common/crash_points.h"

namespace {

class KillAtPoint : public berth::CrashPoints {
 public:
  KillAtPoint(std::string point, int nth) : point_(std::move(point)), nth_(nth) {}

  void Reached(std::string_view point) override {
    if (point != point_ || ++hits_ != nth_) return;
    fprintf(stderr, "berth-faulty: crash point '%s' reached (hit %d): SIGKILL\n", point_.c_str(),
            nth_);
    fflush(stderr);
    ::kill(::getpid(), SIGKILL);
  }

 private:
  std::string point_;
  int nth_;
  std::atomic<int> hits_{0};
};

}  // namespace

int main(int argc, char** argv) {
  const char* point = std::getenv("BERTH_CRASH_AT");
  const char* nth = std::getenv("BERTH_CRASH_NTH");
  KillAtPoint crash(point ? point : "", nth ? std::atoi(nth) : 1);
  return berth::RunCli(argc, argv, point ? &crash : nullptr);
}
