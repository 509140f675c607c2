// Exactly one container per job, counted by an OCI runtime wrapper that logs every `create`
// (tests/e2e/counting_runtime.h), independently of berth's own files: under short leases and
// many concurrent starts, under a cancel sent at every moment of a start, with a runtime that
// hangs, and with the daemon killed at each step of the job path and restarted.
// Needs root (real containers).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/counting_runtime.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

class OneContainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }
};

// Waits until every job in `ids` is terminal; returns their final replies.
std::map<std::string, Reply> WaitAll(BerthProcess& berth, const std::vector<std::string>& ids,
                                     seconds timeout) {
  std::map<std::string, Reply> done;
  auto deadline = Clock::now() + timeout;
  while (done.size() < ids.size() && Clock::now() < deadline) {
    for (const auto& id : ids) {
      if (done.count(id)) continue;
      Reply r = berth.Status(id);
      if (r.status == 200 || r.status == 500) done[id] = r;
    }
    if (done.size() < ids.size()) std::this_thread::sleep_for(milliseconds(200));
  }
  return done;
}

TEST_F(OneContainerTest, ThreeHundredJobsWithAOneSecondLeaseRunOnceEach) {
  CountingRuntime runtime;
  BerthProcess berth(json{{"Runtime", runtime.path().string()},
                          {"QueueLeaseSeconds", "1"},
                          {"MaxConcurrentJobs", "300"}});
  ASSERT_FALSE(berth.url().empty());
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) {
    ids.push_back(berth.SubmitOk(R"({"image":"busybox","command":["sh","-c","sleep 1"]})"));
  }
  auto done = WaitAll(berth, ids, seconds(240));
  ASSERT_EQ(done.size(), ids.size()) << berth.ServerOutput();
  auto creates = runtime.Creates();
  for (const auto& id : ids) {
    EXPECT_EQ(done[id].Json()["state"], "Succeeded") << done[id].body;
    EXPECT_EQ(creates[id], 1) << "job " << id;
  }
  EXPECT_EQ(creates.size(), ids.size());
}

// Never a `200 Canceled` job whose container ran: a cancel is sent at every moment of a start
// (0 to 60 ms after the submit, one job per millisecond).
TEST_F(OneContainerTest, ACancelAtEveryMomentOfAStartNeverLetsACanceledJobRun) {
  CountingRuntime runtime;
  BerthProcess berth(json{{"Runtime", runtime.path().string()}, {"CancelGraceSeconds", "1"}});
  ASSERT_FALSE(berth.url().empty());
  std::string key = "x-functions-key: " + berth.key();
  std::vector<std::string> ids;
  std::map<std::string, Reply> cancels;
  for (int delay_ms = 0; delay_ms < 60; ++delay_ms) {
    std::string id = berth.SubmitOk(R"({"image":"busybox","command":["sleep","5"]})");
    std::this_thread::sleep_for(milliseconds(delay_ms));
    cancels[id] = Http("DELETE", berth.url() + "/api/jobs/" + id, "", {key});
    ids.push_back(id);
  }
  auto done = WaitAll(berth, ids, seconds(120));
  ASSERT_EQ(done.size(), ids.size()) << berth.ServerOutput();
  int canceled_at_once = 0;
  for (const auto& id : ids) {
    const Reply& c = cancels[id];
    ASSERT_TRUE(c.status == 200 || c.status == 202) << c.status << " " << c.body;
    EXPECT_EQ(done[id].Json()["state"], "Canceled") << done[id].body;
    EXPECT_LE(runtime.CreatesOf(id), 1) << "job " << id;
    if (c.status == 200 && c.Json()["state"] == "Canceled") {
      ++canceled_at_once;
      EXPECT_EQ(runtime.CreatesOf(id), 0) << "job " << id << " answered 200 Canceled, yet ran";
    }
  }
  // Both sides of the race were exercised.
  EXPECT_GT(canceled_at_once, 0);
  EXPECT_LT(canceled_at_once, static_cast<int>(ids.size()));
}

// A start that times out (here: a runtime whose first `create` hangs) is abandoned cleanly: its
// monitor record is removed, so the retry starts the job instead of adopting a dead monitor.
TEST_F(OneContainerTest, AStartTimeoutIsRetriedNotAdoptedAsADeadMonitor) {
  CountingRuntime runtime(/*hang_first_create=*/true);
  BerthProcess berth(json{{"Runtime", runtime.path().string()},
                          {"JobStartTimeoutSeconds", "2"},
                          {"QueueLeaseSeconds", "5"}});
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":["echo","ran"]})");
  Reply r = berth.WaitTerminal(id, seconds(60));
  ASSERT_EQ(r.status, 200) << r.body << "\n" << berth.ServerOutput();
  EXPECT_EQ(r.Json()["logs"], "ran\n");
  EXPECT_EQ(runtime.CreatesOf(id), 1);
}

// The daemon is killed (SIGKILL, by the test build berth-faulty) at each step of the job path and
// restarted (the production binary): the job ends right, with its whole log, in one container.
class CrashPointTest : public OneContainerTest,
                       public ::testing::WithParamInterface<std::string> {};

bool WaitKilled(BerthProcess& berth, seconds timeout) {
  auto deadline = Clock::now() + timeout;
  int status = 0;
  while (!berth.Exited(&status)) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

TEST_P(CrashPointTest, AKillAtThisStepLosesNothingAndStartsNothingTwice) {
  const std::string point = GetParam();
  CountingRuntime runtime;
  json settings = {{"Runtime", runtime.path().string()}, {"QueueLeaseSeconds", "1"}};
  BerthProcess berth(settings, point);
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":"echo hi; sleep 1; echo done"})");
  ASSERT_TRUE(WaitKilled(berth, seconds(30))) << berth.ServerOutput();
  ASSERT_TRUE(berth.Restart(settings));
  Reply r = berth.WaitTerminal(id, seconds(60));
  ASSERT_EQ(r.status, 200) << r.body << "\n" << berth.ServerOutput();
  EXPECT_EQ(r.Json()["logs"], "hi\ndone\n");
  // A delivery that died before its container started counts as a start attempt (its dequeue).
  bool before_start = point == "claimed" || point == "pending";
  EXPECT_EQ(r.Json()["attempts"], before_start ? 2 : 1) << r.body;
  EXPECT_EQ(runtime.CreatesOf(id), 1);
}

INSTANTIATE_TEST_SUITE_P(JobPath, CrashPointTest,
                         ::testing::Values("claimed", "pending", "started", "running", "exited"),
                         [](const auto& info) { return info.param; });

// A retry's steps: the crash comes after the retry is queued in the store and before the finished
// run's records are set aside. Both runs are recorded with their real exit code (not
// MonitorLost), each in its own container.
TEST_F(OneContainerTest, AKillBetweenQueueingARetryAndSettingTheRunAsideKeepsItsExitCode) {
  CountingRuntime runtime;
  json settings = {
      {"Runtime", runtime.path().string()}, {"MaxRetries", "1"}, {"RetryBackoffMs", "200"}};
  BerthProcess berth(settings, "requeued");
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(
      R"({"image":"busybox","command":"echo try; exit 3","restartPolicy":"OnFailure"})");
  ASSERT_TRUE(WaitKilled(berth, seconds(30))) << berth.ServerOutput();
  ASSERT_TRUE(berth.Restart(settings));
  Reply r = berth.WaitTerminal(id, seconds(60));
  ASSERT_EQ(r.status, 500) << r.body;
  json j = r.Json();
  EXPECT_EQ(j["exitCode"], 3) << r.body;
  EXPECT_EQ(j["attempts"], 2) << r.body;
  EXPECT_EQ(j["reason"].get<std::string>().find("MonitorLost"), std::string::npos) << r.body;
  ASSERT_TRUE(j.contains("history")) << r.body;
  ASSERT_EQ(j["history"].size(), 2u) << r.body;
  for (const auto& a : j["history"]) EXPECT_EQ(a["exitCode"], 3) << r.body;
  EXPECT_EQ(runtime.CreatesOf(id), 2) << "one container per attempt";
}

}  // namespace
}  // namespace berth::e2e
