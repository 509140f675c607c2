// End-to-end: a job's secureEnvironmentVariables reach its process but do not stay on the
// node's disk: once the container runs, no file under the data dir holds their values. Needs
// root (real crun).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::seconds;

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }
};

// Files under `dir` (not following symlinks, not descending into mounts' contents beyond the
// job dirs we look at) whose bytes contain `needle`.
std::vector<std::string> FilesHolding(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    // The job's root file system is the image's, not ours to search.
    if (it->is_directory() &&
        (it->path().filename() == "rootfs" || it->path().filename() == "layers" ||
         it->path().filename() == "lowers")) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    if (ReadAll(it->path()).find(needle) != std::string::npos) found.push_back(it->path());
  }
  return found;
}

constexpr char kSecret[] = "s3cr3t-value-4c1d";

TEST_F(SecretsTest, ARunningJobsSecretsAreNotInItsBundleOrTheRuntimeState) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(json{
      {"image", "busybox"},
      {"command", {"/bin/sh", "-c", "echo ${#TOKEN}; sleep 30"}},
      {"secureEnvironmentVariables",
       {{"TOKEN", kSecret}}}}.dump());
  Reply r;
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    r = berth.Status(id);
    if (r.Json().value("logs", "") == "17\n") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(r.Json().value("logs", ""), "17\n") << r.body;  // the process has the secret
  EXPECT_FALSE(fs::exists(berth.data_dir() / "jobs" / id / "bundle" / "config.json"))
      << "the bundle's config leaves the disk once the container runs";
  EXPECT_TRUE(fs::exists(berth.data_dir() / "runtime" / "crun" / id / "config.json"))
      << "the runtime keeps its own copy for delete";
  for (const auto& dir : {berth.data_dir() / "jobs", berth.data_dir() / "runtime"}) {
    EXPECT_EQ(FilesHolding(dir, kSecret), std::vector<std::string>{})
        << "a running job's secret is on disk";
  }
  // Stopped and adopted by a restarted daemon, the job still ends as it should.
  ASSERT_TRUE(berth.Restart());
  Reply c =
      Http("DELETE", berth.url() + "/api/jobs/" + id, "", {"x-functions-key: " + berth.key()});
  ASSERT_LT(c.status, 300) << c.body;
  Reply done = berth.WaitTerminal(id, seconds(60));
  EXPECT_EQ(done.Json()["state"], "Canceled") << done.body;
}

// The secret leaves the disk before the job's first output is in its log, not merely before
// the API shows it: the test watches the log file itself (inotify) and looks at the bundle's
// config the moment the first bytes land. A job writes right away; the runtime may still be
// finishing then, and the monitor must not copy that output before the config is gone.
TEST_F(SecretsTest, TheSecretIsOffTheDiskBeforeTheFirstOutputReachesTheLog) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  int watched = 0;
  for (int round = 0; round < 5 && watched < 3; ++round) {
    std::string id = berth.SubmitOk(json{
        {"image", "busybox"},
        {"command", {"/bin/echo", "up"}},  // writes as soon as it runs
        {"secureEnvironmentVariables",
         {{"TOKEN", kSecret}}}}.dump());
    fs::path dir = berth.data_dir() / "jobs" / id;
    // The monitor makes the (empty) log before it starts the runtime.
    auto deadline = std::chrono::steady_clock::now() + seconds(30);
    while (!fs::exists(dir / "log") && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ASSERT_TRUE(fs::exists(dir / "log")) << id;
    int in = inotify_init1(IN_CLOEXEC);
    ASSERT_GE(in, 0);
    ASSERT_GE(inotify_add_watch(in, (dir / "log").c_str(), IN_MODIFY), 0);
    std::error_code ec;
    if (fs::file_size(dir / "log", ec) == 0 && !ec) {
      // Watched before the first write: wait for it, then look at once.
      struct pollfd p = {in, POLLIN, 0};
      ASSERT_EQ(poll(&p, 1, 30'000), 1) << "no output from job " << id;
      bool config_there = fs::exists(dir / "bundle" / "config.json");
      std::string runtime_config =
          ReadAll(berth.data_dir() / "runtime" / "crun" / id / "config.json");
      EXPECT_FALSE(config_there) << "the bundle's config, with the secret, was still on disk "
                                    "when the job's first output reached its log";
      EXPECT_EQ(runtime_config.find(kSecret), std::string::npos)
          << "the runtime's config still held the secret when the first output reached the log";
      ++watched;
    }
    close(in);
    Http("DELETE", berth.url() + "/api/jobs/" + id, "", {"x-functions-key: " + berth.key()});
  }
  EXPECT_GT(watched, 0) << "the log was never watched before its first write";
}

// Plain environmentVariables leave the disk as the secure ones do; a job that sets no variable
// of its own keeps the runtime's copy of its config as written (nothing in it to scrub: the
// monitor skips its parse and rewrite on each start).
TEST_F(SecretsTest, PlainVariablesLeaveTheDiskAndAJobWithoutAnyKeepsItsConfig) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  auto running = [&berth](const json& spec) {
    std::string id = berth.SubmitOk(spec.dump());
    auto deadline = std::chrono::steady_clock::now() + seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (berth.Status(id).Json().value("logs", "") == "up\n") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(berth.Status(id).Json().value("logs", ""), "up\n");
    return id;
  };
  std::string plain = running({{"image", "busybox"},
                               {"command", {"/bin/sh", "-c", "echo up; sleep 30"}},
                               {"environmentVariables", {{"SETTING", kSecret}}}});
  EXPECT_EQ(FilesHolding(berth.data_dir() / "jobs" / plain, kSecret), std::vector<std::string>{});
  EXPECT_EQ(FilesHolding(berth.data_dir() / "runtime", kSecret), std::vector<std::string>{});

  std::string bare =
      running({{"image", "busybox"}, {"command", {"/bin/sh", "-c", "echo up; sleep 30"}}});
  std::string config = ReadAll(berth.data_dir() / "runtime" / "crun" / bare / "config.json");
  EXPECT_NE(config.find("\"HOSTNAME=" + bare + "\""), std::string::npos) << config;
  for (const auto& id : {plain, bare}) {
    Http("DELETE", berth.url() + "/api/jobs/" + id, "", {"x-functions-key: " + berth.key()});
  }
}

// Each run of an OnFailure job gets the secret again (its bundle is written anew), and the
// secret leaves the disk each time.
TEST_F(SecretsTest, EveryRetryGetsTheSecretAgain) {
  BerthProcess berth(json{{"RetryBackoffMs", "100"}});
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(json{
      {"image", "busybox"},
      {"command", {"/bin/sh", "-c", "echo ${#TOKEN}; exit 1"}},
      {"restartPolicy", "OnFailure"},
      {"maxRetries", 2},
      {"secureEnvironmentVariables",
       {{"TOKEN", kSecret}}}}.dump());
  Reply done = berth.WaitTerminal(id, seconds(60));
  EXPECT_EQ(done.Json()["state"], "Failed") << done.body;
  std::string logs = done.Json().value("logs", "");
  size_t runs = 0;
  for (size_t at = logs.find("17\n"); at != std::string::npos; at = logs.find("17\n", at + 1)) {
    ++runs;
  }
  EXPECT_EQ(runs, 3u) << logs;
  EXPECT_EQ(FilesHolding(berth.data_dir() / "jobs", kSecret), std::vector<std::string>{});
}

}  // namespace
}  // namespace berth::e2e
