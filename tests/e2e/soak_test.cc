// Soak: many jobs while the daemon is killed -9 at random moments and restarted. Every job
// acknowledged with 202 must end in its expected terminal state with its complete log, and no
// job may ever get a second container.
//
// CI runs a short version (40 jobs, 3 kills). The full one:
//   BERTH_SOAK_JOBS=200 BERTH_SOAK_KILLS=5 build/berth_e2e_tests --gtest_filter='Soak*'
// Containers are counted by a runtime wrapper that logs every `create` (not by berth's own
// files). The test prints its random seed; BERTH_SOAK_SEED=<seed> replays the same kill moments.
// Needs root (real containers).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <thread>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/counting_runtime.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

struct SoakJob {
  int n = 0;
  std::string id;
};

std::string SpecFor(int n) {
  // Exit codes 0, 1, 2 in turn; a little work between the two lines.
  return json{
      {"image", "busybox"},
      {"command", "echo start-" + std::to_string(n) + "; sleep 0." + std::to_string(n % 5) +
                      "; echo end-" + std::to_string(n) + "; exit " + std::to_string(n % 3)}}
      .dump();
}

TEST(SoakTest, KilledAtRandomMomentsEveryAcknowledgedJobEndsRightWithItsWholeLog) {
  if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  const int jobs = EnvInt("BERTH_SOAK_JOBS", 40);
  const int kills = EnvInt("BERTH_SOAK_KILLS", 3);
  const char* seed_env = std::getenv("BERTH_SOAK_SEED");
  const uint32_t seed = seed_env != nullptr && *seed_env != '\0'
                            ? static_cast<uint32_t>(std::strtoul(seed_env, nullptr, 10))
                            : std::random_device{}();
  printf("soak: seed %u (replay with BERTH_SOAK_SEED=%u)\n", seed, seed);
  RecordProperty("seed", std::to_string(seed));
  CountingRuntime runtime;
  const json settings = {{"QueueLeaseSeconds", "2"},
                         {"MaxConcurrentJobs", "16"},
                         {"Runtime", runtime.path().string()}};
  BerthProcess berth(settings);
  ASSERT_FALSE(berth.url().empty());
  std::mt19937 rng(seed);
  std::vector<SoakJob> acked;
  int next = 0;
  // Submit in bursts between kills, so some jobs are queued, some starting, some running.
  auto submit_burst = [&](int count) {
    for (int i = 0; i < count && next < jobs; ++i, ++next) {
      Reply r = berth.Submit(SpecFor(next));
      if (r.status == 202) acked.push_back({next, r.Json().value("id", "")});
    }
  };
  int per_burst = std::max(1, jobs / (kills + 1));
  for (int k = 0; k < kills; ++k) {
    submit_burst(per_burst);
    std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<>(100, 1200)(rng)));
    ASSERT_TRUE(berth.Restart(settings)) << "restart " << k + 1;
  }
  submit_burst(jobs);
  EXPECT_EQ(static_cast<int>(acked.size()), jobs) << "a live server acknowledges every submit";

  for (const SoakJob& job : acked) {
    Reply r = berth.WaitTerminal(job.id, seconds(180));
    int code = job.n % 3;
    std::string expected_log =
        "start-" + std::to_string(job.n) + "\nend-" + std::to_string(job.n) + "\n";
    json body = r.Json();
    ASSERT_FALSE(body.is_discarded()) << "job " << job.n << ": " << r.status << " " << r.body;
    EXPECT_EQ(r.status, code == 0 ? 200 : 500) << "job " << job.n << ": " << r.body;
    EXPECT_EQ(body["state"], code == 0 ? "Succeeded" : "Failed") << "job " << job.n;
    EXPECT_EQ(body["exitCode"], code) << "job " << job.n << ": " << body.dump();
    EXPECT_EQ(body["logs"], expected_log) << "job " << job.n << ": one run, whole log";
    EXPECT_EQ(runtime.CreatesOf(job.id), 1)
        << "job " << job.n << ": exactly one container (seed " << seed << ")";
  }
}

}  // namespace
}  // namespace berth::e2e
