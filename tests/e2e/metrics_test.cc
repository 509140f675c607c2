// End-to-end: /metrics of the real daemon after real jobs, checked by Prometheus's own tools:
// `promtool check metrics` lints the exposition, and a real Prometheus (on loopback, port 0)
// scrapes berth and answers a query for the jobs that finished.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/child_process.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }
};

bool HasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

// The value of the series that starts `prefix` (name and labels, as written), or -1.
double ValueOf(const std::string& text, const std::string& prefix) {
  size_t at = ("\n" + text).find("\n" + prefix + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + prefix.size() + 1));
}

TEST_F(MetricsTest, JobsAndRequestsAreCountedAndPromtoolAcceptsTheExposition) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string ok = berth.SubmitOk(R"({"image":"busybox","command":"echo hi"})");
  std::string bad = berth.SubmitOk(R"({"image":"busybox","command":"exit 3"})");
  EXPECT_EQ(berth.WaitTerminal(ok, seconds(60)).status, 200);
  EXPECT_EQ(berth.WaitTerminal(bad, seconds(60)).status, 500);

  Reply r = Http("GET", berth.url() + "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = r.body;
  EXPECT_TRUE(HasLine(text, "berth_jobs_submitted_total 2")) << text;
  EXPECT_TRUE(HasLine(text, "berth_jobs_started_total 2")) << text;
  EXPECT_TRUE(
      HasLine(text, "berth_jobs_finished_total{reason=\"Completed\",state=\"Succeeded\"} 1"))
      << text;
  EXPECT_TRUE(HasLine(text, "berth_jobs_finished_total{reason=\"Error\",state=\"Failed\"} 1"))
      << text;
  EXPECT_TRUE(HasLine(text, "berth_jobs_running 0")) << text;
  EXPECT_TRUE(HasLine(text, "berth_queue_messages{queue=\"jobs\"} 0")) << text;
  EXPECT_TRUE(HasLine(text, "berth_queue_messages{queue=\"jobs-poison\"} 0")) << text;
  EXPECT_TRUE(HasLine(text, "berth_job_start_latency_seconds_count 2")) << text;
  EXPECT_TRUE(HasLine(text, "berth_job_run_duration_seconds_count 2")) << text;
  EXPECT_TRUE(HasLine(
      text, "berth_http_requests_total{code=\"202\",method=\"POST\",route=\"/api/jobs\"} 2"))
      << text;
  EXPECT_GE(ValueOf(text,
                    "berth_http_requests_total{code=\"200\",method=\"GET\",route=\"/api/"
                    "jobs/{id}\"}"),
            1)
      << text;
  EXPECT_NE(text.find("berth_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/"
                      "jobs\",le=\"+Inf\"} 2"),
            std::string::npos)
      << text;
  EXPECT_GT(ValueOf(text, "process_resident_memory_bytes"), 1e6) << text;
  EXPECT_GT(ValueOf(text, "process_open_fds"), 3) << text;
  EXPECT_GT(ValueOf(text, "process_start_time_seconds"), 1.7e9) << text;
  EXPECT_GE(ValueOf(text, "process_cpu_seconds_total"), 0) << text;
  EXPECT_NE(text.find("berth_build_info{commit=\""), std::string::npos) << text;

  std::string lint;
  int code = RunProgram({"promtool", "check", "metrics"}, text, &lint);
  EXPECT_EQ(code, 0) << lint;
  EXPECT_EQ(lint, "") << "promtool found problems:\n" << lint;

  // The linter is not vacuous: a counter without _total is reported.
  std::string bad_lint;
  RunProgram({"promtool", "check", "metrics"},
             "# HELP berth_bad A counter.\n# TYPE berth_bad counter\nberth_bad 1\n", &bad_lint);
  EXPECT_NE(bad_lint.find("_total"), std::string::npos) << bad_lint;
}

TEST_F(MetricsTest, MetricsRequireKeyClosesTheRoute) {
  BerthProcess berth(json{{"MetricsRequireKey", "true"}});
  ASSERT_FALSE(berth.url().empty());
  EXPECT_EQ(Http("GET", berth.url() + "/metrics").status, 401);
  EXPECT_EQ(Http("GET", berth.url() + "/metrics?code=" + berth.key()).status, 200);
}

TEST_F(MetricsTest, ARealPrometheusScrapesBerthAndAnswersAQueryForFinishedJobs) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":"echo scraped"})");
  ASSERT_EQ(berth.WaitTerminal(id, seconds(60)).status, 200);

  TempDir dir;
  std::string target = berth.url().substr(std::string("http://").size());
  std::ofstream(dir.path() / "prometheus.yml") << "global:\n"
                                                  "  scrape_interval: 1s\n"
                                                  "  evaluation_interval: 1s\n"
                                                  "scrape_configs:\n"
                                                  "  - job_name: berth\n"
                                                  "    static_configs:\n"
                                                  "      - targets: ['"
                                               << target << "']\n";
  ChildProcess prometheus(
      {"prometheus", "--config.file=" + (dir.path() / "prometheus.yml").string(),
       "--storage.tsdb.path=" + (dir.path() / "tsdb").string(), "--web.listen-address=127.0.0.1:0",
       "--log.level=warn"},
      dir.path() / "prometheus.log");
  std::optional<int> port = prometheus.WaitListeningPort(seconds(60));
  ASSERT_TRUE(port.has_value()) << prometheus.Output();
  std::string api = "http://127.0.0.1:" + std::to_string(*port) + "/api/v1/query?query=";

  // Poll the query until the scrape has landed (Prometheus scrapes every second).
  json result;
  auto deadline = std::chrono::steady_clock::now() + seconds(90);
  while (std::chrono::steady_clock::now() < deadline) {
    Reply q = Http("GET", api + "berth_jobs_finished_total%7Bstate%3D%22Succeeded%22%7D");
    if (q.status == 200) {
      result = q.Json()["data"]["result"];
      if (!result.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_EQ(result.size(), 1u) << result.dump() << "\n" << prometheus.Output();
  EXPECT_EQ(result[0]["metric"]["job"], "berth");
  EXPECT_EQ(result[0]["metric"]["reason"], "Completed");
  EXPECT_EQ(result[0]["value"][1], "1");

  Reply up = Http("GET", api + "up");
  ASSERT_EQ(up.status, 200);
  ASSERT_EQ(up.Json()["data"]["result"].size(), 1u) << up.body;
  EXPECT_EQ(up.Json()["data"]["result"][0]["value"][1], "1") << up.body;
}

}  // namespace
}  // namespace berth::e2e
