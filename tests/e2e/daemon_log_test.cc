// End-to-end: the daemon's log (issue 13). One line per event with time, level and job id, text
// by default and JSON with LogFormat; an access line per request without its query string; the
// jobs a restarted daemon adopts; and never a key, in any line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <regex>
#include <sstream>
#include <thread>

#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

using nlohmann::json;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The line containing every one of `parts`, or "".
std::string LineWith(const std::string& text, const std::vector<std::string>& parts) {
  for (const std::string& line : Lines(text)) {
    bool all = true;
    for (const std::string& p : parts) all = all && line.find(p) != std::string::npos;
    if (all) return line;
  }
  return "";
}

class DaemonLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }
};

TEST_F(DaemonLogTest, TextLinesForJobsAndRequestsWithTimeLevelAndNoKey) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string master = ReadAll(berth.data_dir() / "master-key");
  // The key in the query string, as the Functions pattern sends it.
  Reply post = Http("POST", berth.url() + "/api/jobs?code=" + berth.key(),
                    R"({"image": "busybox", "command": "exit 3"})");
  ASSERT_EQ(post.status, 202) << post.body;
  std::string id = post.Json()["id"];
  EXPECT_EQ(berth.WaitTerminal(id, std::chrono::seconds(60)).status, 500);
  Http("GET", berth.url() + "/api/jobs/" + id + "?code=" + berth.key());
  std::string out = berth.ServerOutput();

  const std::string ts = R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z )";
  std::string submitted = LineWith(out, {"job submitted", "job=" + id});
  EXPECT_TRUE(std::regex_search(submitted, std::regex(ts + "INFO  job submitted job=" + id + "$")))
      << out;
  EXPECT_NE(LineWith(out, {"INFO  job started", "job=" + id}), "") << out;
  std::string ended = LineWith(out, {"job ended", "job=" + id});
  EXPECT_TRUE(std::regex_search(
      ended, std::regex(ts + "WARN  job ended job=" + id + " state=Failed exit_code=3 reason=")))
      << out;
  std::string access = LineWith(out, {"http request", "method=POST"});
  EXPECT_TRUE(std::regex_search(access, std::regex(ts + "INFO  http request method=POST "
                                                        "path=/api/jobs route=/api/jobs "
                                                        "status=202 ms=[0-9.]+$")))
      << out;
  EXPECT_NE(LineWith(out, {"http request", "path=/api/jobs/" + id, "status=500"}), "") << out;
  EXPECT_NE(LineWith(out, {"serving on " + berth.url()}), "") << out;
  EXPECT_NE(LineWith(out, {"function key in " + (berth.data_dir() / "function-key").string()}), "")
      << out;

  EXPECT_EQ(out.find(berth.key()), std::string::npos) << "a key reached the log:\n" << out;
  EXPECT_EQ(out.find(master), std::string::npos) << "the master key reached the log:\n" << out;
  for (const std::string& line : Lines(out)) {
    if (line.find("http request") != std::string::npos) {
      EXPECT_EQ(line.find('?'), std::string::npos) << "a query string reached the log: " << line;
    }
  }
}

TEST_F(DaemonLogTest, JsonLinesForLogShippers) {
  BerthProcess berth(json{{"LogFormat", "json"}});
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(R"({"image": "busybox", "command": "true"})");
  EXPECT_EQ(berth.WaitTerminal(id, std::chrono::seconds(60)).status, 200);
  std::string out = berth.ServerOutput();
  int ours = 0;
  bool ended = false;
  for (const std::string& line : Lines(out)) {
    if (line.rfind("berth: ", 0) == 0) continue;  // the dispatcher's own lines (not yet moved)
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line << "\n" << out;
    ++ours;
    EXPECT_TRUE(j["time"].is_string() && j["level"].is_string() && j["msg"].is_string()) << line;
    if (j["msg"] == "job ended" && j.value("job", "") == id) {
      ended = true;
      EXPECT_EQ(j["level"], "info");
      EXPECT_EQ(j["state"], "Succeeded");
      EXPECT_EQ(j["exit_code"], "0");
    }
  }
  EXPECT_GE(ours, 5) << out;
  EXPECT_TRUE(ended) << out;
  EXPECT_EQ(out.find(berth.key()), std::string::npos) << out;
}

TEST_F(DaemonLogTest, RestartedDaemonNamesTheJobsItAdopts) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(R"({"image": "busybox", "command": "sleep 60"})");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (berth.Status(id).Json().value("state", "") != "Running" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(berth.Status(id).Json().value("state", ""), "Running");
  ASSERT_TRUE(berth.Restart());
  std::string out = berth.ServerOutput();
  EXPECT_NE(LineWith(out, {"INFO  job adopted job=" + id}), "") << out;
  Reply cancel =
      Http("DELETE", berth.url() + "/api/jobs/" + id, "", {"x-functions-key: " + berth.key()});
  EXPECT_TRUE(cancel.status == 200 || cancel.status == 202) << cancel.body;
  EXPECT_EQ(berth.WaitTerminal(id, std::chrono::seconds(60)).Json().value("state", ""), "Canceled");
}

}  // namespace
}  // namespace berth::e2e
