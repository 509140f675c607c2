// End-to-end: what `berth serve` guarantees about its data dir and start-up output - one daemon
// per data dir (a second one exits naming the first one's pid), and no key material printed
// that would land in the journal. Needs root (the daemon runs real containers).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

// Runs `berth serve` on `data_dir` (port 0) for at most `seconds`; its exit code (124 when it
// was still running and `timeout` stopped it) and its output.
int RunSecondServe(const std::filesystem::path& data_dir, int seconds, std::string* out) {
  std::string cmd = "timeout -s KILL " + std::to_string(seconds) + " " + BERTH_BINARY +
                    " serve --listen 127.0.0.1:0 --data-dir '" + data_dir.string() + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int status = pclose(p);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }
};

TEST_F(DataDirTest, SecondDaemonOnTheSameDataDirExitsNamingTheFirst) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string out;
  int code = RunSecondServe(berth.data_dir(), 15, &out);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(code, 124) << "the second daemon kept running:\n" << out;
  EXPECT_NE(code, 128 + 9) << "the second daemon kept running:\n" << out;
  EXPECT_NE(out.find("pid " + std::to_string(berth.pid())), std::string::npos) << out;
  EXPECT_EQ(out.find("serving on"), std::string::npos) << out;

  // The first one is unaffected and still runs jobs.
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":"echo one daemon"})");
  Reply done = berth.WaitTerminal(id, std::chrono::seconds(60));
  EXPECT_EQ(done.status, 200) << done.body;

  // Once it is gone (even by SIGKILL), the data dir is free again.
  ASSERT_TRUE(berth.Restart());
  EXPECT_FALSE(berth.url().empty());
}

}  // namespace
}  // namespace berth::e2e

namespace berth::e2e {
namespace {

// Issue 10: a missing seccomp profile used to be a warning, and jobs ran unfiltered.
TEST_F(DataDirTest, MissingSeccompProfileStopsStartUpUnlessAllowed) {
  char tmpl[] = "/tmp/berth-e2e-noseccomp-XXXXXX";
  std::filesystem::path dir = mkdtemp(tmpl);
  std::filesystem::path settings = dir.string() + ".settings.json";
  std::ofstream(settings) << R"({"Values": {"SeccompProfile": "/nonexistent/seccomp.json"}})";
  std::string cmd = "timeout -s KILL 15 " + std::string(BERTH_BINARY) +
                    " serve --listen 127.0.0.1:0 --data-dir '" + dir.string() + "' --settings '" +
                    settings.string() + "' 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  std::filesystem::remove_all(dir);
  std::filesystem::remove(settings);
  ASSERT_TRUE(WIFEXITED(status)) << "it kept running:\n" << out;
  EXPECT_NE(WEXITSTATUS(status), 0) << out;
  EXPECT_NE(out.find("/nonexistent/seccomp.json"), std::string::npos) << out;
  EXPECT_NE(out.find("AllowNoSeccomp"), std::string::npos) << out;
  EXPECT_EQ(out.find("serving on"), std::string::npos) << out;

  // With AllowNoSeccomp it starts, and says loudly that jobs are unfiltered.
  BerthProcess allowed(
      nlohmann::json{{"SeccompProfile", "/nonexistent/seccomp.json"}, {"AllowNoSeccomp", "true"}});
  ASSERT_FALSE(allowed.url().empty());
  EXPECT_NE(allowed.ServerOutput().find("WITHOUT a seccomp filter"), std::string::npos);
}

}  // namespace
}  // namespace berth::e2e
