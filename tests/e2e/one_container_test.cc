// Exactly one container per job, counted by an OCI runtime wrapper that logs every `create`
// (tests/e2e/counting_runtime.h), independently of berth's own files: under short leases and
// many concurrent starts, under a cancel sent at every moment of a start, with a runtime that
// hangs, and with the daemon killed at each step of the job path and restarted.
// Needs root (real containers).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/counting_runtime.h"
#include "tests/e2e/registry_fixture.h"

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

// A TCP proxy on 127.0.0.1 that waits `delay` before it connects each client to `upstream_port`:
// a registry that answers slowly.
class SlowProxy {
 public:
  SlowProxy(int upstream_port, milliseconds delay) : upstream_(upstream_port), delay_(delay) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd_, 64) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "slow proxy: cannot listen";
      return;
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Accept(); });
  }
  ~SlowProxy() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    close(fd_);
    for (auto& t : pipes_) t.join();
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }

 private:
  void Accept() {
    while (!stop_) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      ++connections_;
      pipes_.emplace_back([this, c] { Pipe(c); });
    }
  }
  void Pipe(int client) {
    std::this_thread::sleep_for(delay_);
    int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(upstream_));
    if (connect(up, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      pollfd p[2] = {{client, POLLIN, 0}, {up, POLLIN, 0}};
      char buf[65536];
      while (!stop_ && poll(p, 2, 200) >= 0) {
        bool closed = false;
        for (int i = 0; i < 2; ++i) {
          if (!(p[i].revents & (POLLIN | POLLHUP))) continue;
          ssize_t n = read(p[i].fd, buf, sizeof buf);
          if (n <= 0 || write(p[1 - i].fd, buf, static_cast<size_t>(n)) != n) closed = true;
        }
        if (closed) break;
      }
    }
    close(up);
    close(client);
  }

  int upstream_;
  milliseconds delay_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
  std::vector<std::thread> pipes_;  // touched by the accept thread only, joined after it
};

// Jobs whose image comes from a registry that answers slowly: the pull outlasts the message
// lease several times over, and every job still gets exactly one container.
TEST_F(OneContainerTest, ASlowRegistryPullLongerThanTheLeaseStartsEachJobOnce) {
  LocalRegistry registry;
  ASSERT_TRUE(registry.ok());
  TestImage image;
  image.Layer(BusyboxLayer(), LayerCompression::kGzip)
      .Config({{"Cmd", {"/bin/sh", "-c", "echo pulled"}}});
  ASSERT_FALSE(image.Push(registry, "slow", "v1").empty());
  int port = std::stoi(registry.host().substr(registry.host().rfind(':') + 1));
  SlowProxy proxy(port, milliseconds(1500));
  CountingRuntime runtime;
  BerthProcess berth(json{{"Runtime", runtime.path().string()},
                          {"QueueLeaseSeconds", "1"},
                          {"InsecureRegistries", proxy.host()}});
  ASSERT_FALSE(berth.url().empty());
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(berth.SubmitOk(json{{"image", proxy.host() + "/slow:v1"}}.dump()));
  }
  auto done = WaitAll(berth, ids, seconds(120));
  ASSERT_EQ(done.size(), ids.size()) << berth.ServerOutput();
  EXPECT_GE(proxy.connections(), 1) << "the pull went through the slow proxy";
  for (const auto& id : ids) {
    EXPECT_EQ(done[id].Json()["state"], "Succeeded") << done[id].body;
    EXPECT_EQ(done[id].Json()["logs"], "pulled\n") << done[id].body;
    EXPECT_EQ(runtime.CreatesOf(id), 1) << "job " << id;
  }
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
  Reply submit = berth.Submit(R"({"image":"busybox","command":"echo hi; sleep 1; echo done"})");
  // A claim is not synced on its own, so the dispatcher can claim the job (and the daemon die
  // at "claimed" or "pending") before the 202 reaches us: then the connection drops (status 0).
  // The job was committed and synced all the same, and must be there after the restart.
  bool before_start = point == "claimed" || point == "pending";
  ASSERT_TRUE(submit.status == 202 || (before_start && submit.status == 0))
      << submit.status << " " << submit.body;
  ASSERT_TRUE(WaitKilled(berth, seconds(30))) << berth.ServerOutput();
  ASSERT_TRUE(berth.Restart(settings));
  Reply list = Http("GET", berth.url() + "/api/jobs", "", {"x-functions-key: " + berth.key()});
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.Json()["jobs"].size(), 1u) << list.body;
  std::string id = list.Json()["jobs"][0].value("id", "");
  if (submit.status == 202) EXPECT_EQ(id, submit.Json().value("id", ""));
  Reply r = berth.WaitTerminal(id, seconds(60));
  ASSERT_EQ(r.status, 200) << r.body << "\n" << berth.ServerOutput();
  EXPECT_EQ(r.Json()["logs"], "hi\ndone\n");
  // A delivery that died before its container started counts as a start attempt (its dequeue).
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
