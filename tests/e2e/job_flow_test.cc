// End-to-end: the whole job flow against the real daemon, real crun and real files.
// Needs root (overlay mounts, namespaces, cgroups); CI runs as root.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class JobFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }
};

std::string Expected1To(int n) {
  std::string s;
  for (int i = 1; i <= n; ++i) s += std::to_string(i) + "\n";
  return s;
}

TEST_F(JobFlowTest, DefaultJobCountsToThirtyWhileStatusAnswers202ThenSucceeds) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  Reply post = berth.Submit();
  ASSERT_EQ(post.status, 202) << post.body;
  std::string id = post.Json().value("id", "");
  EXPECT_EQ(post.headers["location"], "/api/jobs/" + id);
  EXPECT_EQ(post.headers["retry-after"], "1");
  EXPECT_EQ(post.Json().value("statusUrl", ""), berth.url() + "/api/jobs/" + id);

  // While it runs: 202, and the log grows as a prefix of 1..30.
  std::string last_logs;
  int growing_polls = 0;
  Reply r;
  auto deadline = std::chrono::steady_clock::now() + seconds(90);
  while (std::chrono::steady_clock::now() < deadline) {
    r = berth.Status(id);
    if (r.status != 202) break;
    EXPECT_EQ(r.headers["retry-after"], "1");
    std::string logs = r.Json().value("logs", "");
    EXPECT_EQ(Expected1To(30).rfind(logs, 0), 0u) << "not a prefix: " << logs;
    if (logs.size() > last_logs.size() && !last_logs.empty()) ++growing_polls;
    last_logs = logs;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_GE(growing_polls, 5) << "the log should be seen growing while the job runs";
  ASSERT_EQ(r.status, 200) << r.body;
  json body = r.Json();
  EXPECT_EQ(body["state"], "Succeeded");
  EXPECT_EQ(body["logs"], Expected1To(30));
  EXPECT_EQ(body["exitCode"], 0);
  EXPECT_EQ(body["image"], "busybox");
  EXPECT_EQ(body["attempts"], 1);
  EXPECT_TRUE(body["startedAt"].is_string());
  EXPECT_TRUE(body["finishedAt"].is_string());
}

TEST_F(JobFlowTest, JobThatExitsThreeAnswers500WithExitCode) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":"echo failing; exit 3"})");
  Reply r = berth.WaitTerminal(id, seconds(30));
  ASSERT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(r.Json()["state"], "Failed");
  EXPECT_EQ(r.Json()["exitCode"], 3);
  EXPECT_EQ(r.Json()["logs"], "failing\n");
}

TEST_F(JobFlowTest, EnvironmentAndSecureVariablesReachTheJobButSecretsAreNotEchoed) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(
      R"({"image":"busybox","command":["/bin/sh","-c","echo $GREETING; echo ${#TOKEN}; hostname"],)"
      R"("environmentVariables":{"GREETING":"hello"},"secureEnvironmentVariables":{"TOKEN":"s3cr3t-value"}})");
  Reply r = berth.WaitTerminal(id, seconds(30));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["logs"], "hello\n12\n" + id + "\n");
  EXPECT_EQ(r.body.find("s3cr3t-value"), std::string::npos);
}

TEST_F(JobFlowTest, KeyIsRequiredToSubmit) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  Reply none = Http("POST", berth.url() + "/api/jobs", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_TRUE(none.Json()["error"]["message"].is_string());
  Reply wrong = Http("POST", berth.url() + "/api/jobs", "", {"x-functions-key: nope"});
  EXPECT_EQ(wrong.status, 401);
  Reply wrong_code = Http("POST", berth.url() + "/api/jobs?code=nope", "");
  EXPECT_EQ(wrong_code.status, 401);
  Reply good = Http("POST", berth.url() + "/api/jobs?code=" + berth.key(),
                    R"({"image":"busybox","command":"true"})");
  EXPECT_EQ(good.status, 202) << good.body;
  EXPECT_EQ(berth.WaitTerminal(good.Json().value("id", ""), seconds(30)).status, 200);
}

TEST_F(JobFlowTest, UnknownMalformedAndBadRequestsGetPreciseErrors) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  EXPECT_EQ(berth.Status("4b1c3f5e-2d6a-4c8e-9f10-123456789abc").status, 404);
  Reply bad_id = berth.Status("not-a-uuid");
  EXPECT_EQ(bad_id.status, 400);
  EXPECT_EQ(berth.Status("..%2F..%2Fetc%2Fpasswd").status, 400);
  Reply malformed = berth.Submit("{\"image\": ");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_NE(malformed.Json()["error"]["message"].get<std::string>().find("malformed JSON"),
            std::string::npos);
  Reply unknown = berth.Submit(R"({"image":"busybox","colour":"red"})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("colour"), std::string::npos);
  Reply wrong_type = berth.Submit(R"({"image":"busybox","cpu":"lots"})");
  EXPECT_EQ(wrong_type.status, 400);
  EXPECT_NE(wrong_type.body.find("cpu"), std::string::npos);
  EXPECT_EQ(Http("GET", berth.url() + "/nope").status, 404);
  Reply method = Http("DELETE", berth.url() + "/healthz");
  EXPECT_EQ(method.status, 405);
  EXPECT_EQ(Http("GET", berth.url() + "/healthz").status, 200);
}

TEST_F(JobFlowTest, MissingImageFailsAfterMaxDequeueCountWithPoisonReason) {
  BerthProcess berth(json{{"StartBackoffMs", "200"}});  // 0.2 + 0.4 + 0.8 + 1.6 s of back-off
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(R"({"image":"no-such-image:1.0","command":"true"})");
  Reply r = berth.WaitTerminal(id, seconds(30));
  ASSERT_EQ(r.status, 500) << r.body;
  json body = r.Json();
  EXPECT_EQ(body["state"], "Failed");
  EXPECT_EQ(body["attempts"], 5);
  std::string reason = body["reason"];
  EXPECT_NE(reason.find("Poison"), std::string::npos) << reason;
  EXPECT_NE(reason.find("jobs-poison"), std::string::npos) << reason;
  EXPECT_NE(reason.find("no-such-image"), std::string::npos) << reason;
}

TEST_F(JobFlowTest, FiftyConcurrentSubmissionsAllRunWithTheirOwnLogs) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  constexpr int kJobs = 50;
  std::vector<std::string> ids(kJobs);
  std::vector<std::thread> threads;
  for (int i = 0; i < kJobs; ++i) {
    threads.emplace_back([&, i] {
      ids[i] = berth.SubmitOk(R"({"image":"busybox","command":["/bin/sh","-c","echo job-$N"],)"
                              R"("environmentVariables":{"N":")" +
                              std::to_string(i) + "\"}}");
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kJobs; ++i) {
    ASSERT_FALSE(ids[i].empty());
    Reply r = berth.WaitTerminal(ids[i], seconds(120));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Json()["logs"], "job-" + std::to_string(i) + "\n");
  }
}

TEST_F(JobFlowTest, CliSubmitStatusAndLogs) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string out;
  ASSERT_EQ(berth.RunCli(
                {"submit", "--server", berth.url(), "--key", berth.key(), "--", "echo", "from-cli"},
                &out),
            0)
      << out;
  std::string id = out.substr(0, out.find('\n'));
  EXPECT_NE(out.find(berth.url() + "/api/jobs/" + id), std::string::npos);
  EXPECT_EQ(berth.WaitTerminal(id, seconds(30)).status, 200);
  out.clear();
  ASSERT_EQ(berth.RunCli({"logs", "--server", berth.url(), id}, &out), 0);
  EXPECT_EQ(out, "from-cli\n");
  out.clear();
  ASSERT_EQ(berth.RunCli({"status", "--server", berth.url(), id}, &out), 0);
  EXPECT_NE(out.find("\"Succeeded\""), std::string::npos) << out;
  out.clear();
  EXPECT_NE(berth.RunCli({"submit", "--server", berth.url(), "--key", "wrong"}, &out), 0);
  EXPECT_NE(out.find("401"), std::string::npos) << out;
}

TEST_F(JobFlowTest, FinishedJobsLeaveNoContainerMountOrProcessBehind) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(berth.SubmitOk(R"({"image":"busybox","command":"true"})"));
  for (const auto& id : ids) ASSERT_EQ(berth.WaitTerminal(id, seconds(30)).status, 200);
  // Monitors exit right after recording the exit; give them a moment.
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (std::chrono::steady_clock::now() < deadline &&
         ProcessesMentioning(berth.data_dir().string() + "/jobs").size() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(ProcessesMentioning(berth.data_dir().string() + "/jobs").empty());
  EXPECT_TRUE(MountsUnder(berth.data_dir()).empty());
  std::error_code ec;
  auto state = berth.data_dir() / "runtime" / "crun";
  size_t containers = 0;
  for (auto& e : std::filesystem::directory_iterator(state, ec)) {
    (void)e;
    ++containers;
  }
  EXPECT_EQ(containers, 0u) << "crun state left in " << state;
  for (const auto& id : ids) {
    EXPECT_FALSE(std::filesystem::exists("/sys/fs/cgroup/memory/berth-" + id));
    EXPECT_FALSE(std::filesystem::exists("/sys/fs/cgroup/pids/berth-" + id));
  }
}

TEST_F(JobFlowTest, UnknownSettingStopsStartUpNamingIt) {
  std::string out;
  char tmpl[] = "/tmp/berth-settings-XXXXXX";
  int fd = mkstemp(tmpl);
  std::string text = R"({"Values":{"MaxConcurrentJob":"3"}})";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  std::string cmd = std::string(BERTH_BINARY) + " serve --listen 127.0.0.1:0 --data-dir " +
                    std::string(tmpl) + ".d --settings " + tmpl + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[1024];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  unlink(tmpl);
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(out.find("MaxConcurrentJob"), std::string::npos) << out;
}

}  // namespace
}  // namespace berth::e2e
