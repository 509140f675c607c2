// End-to-end: two `berth serve` processes with separate data dirs on one real PostgreSQL 15
// (started by the test): node A only accepts jobs (DispatchPaused, like an api node) and has no
// job files; node B runs them with real crun and ships their logs to the store. A's status and
// `logs?follow=true` serve B's output whole, in order, once, and the follow ends with the job.
// Also measures how far A's view of a live log lags behind B's file. Needs root.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <string>
#include <thread>

#include "tests/e2e/berth_process.h"
#include "tests/support/postgres_server.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

class LogShippingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
    Result<PostgresServer*> server = PostgresServer::Shared();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    Result<std::string> db = (*server)->CreateDatabase();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    std::string uri = (*server)->Uri(db->substr(db->rfind("dbname=") + 7));
    api_ = std::make_unique<BerthProcess>(
        json{{"StoreConnection", uri}, {"DispatchPaused", "true"}, {"FunctionKey", kKey}});
    ASSERT_FALSE(api_->url().empty()) << api_->ServerOutput();
    worker_ = std::make_unique<BerthProcess>(json{{"StoreConnection", uri}, {"FunctionKey", kKey}});
    ASSERT_FALSE(worker_->url().empty()) << worker_->ServerOutput();
  }

  std::string Output() { return api_->ServerOutput() + "\n---\n" + worker_->ServerOutput(); }

  static constexpr const char* kKey = "e2e-log-shipping-key-0123456789";
  std::unique_ptr<BerthProcess> api_, worker_;
};

std::string Numbers(int from, int to) {
  std::string s;
  for (int i = from; i <= to; ++i) s += std::to_string(i) + "\n";
  return s;
}

TEST_F(LogShippingTest, AnApiNodeServesAndFollowsTheLogOfAJobRunOnAWorker) {
  // Numbers, a pause (shipped live), more numbers printed right before the exit (the tail).
  std::string id = api_->SubmitOk(
      R"({"image":"busybox","command":["/bin/sh","-c","for i in $(seq 1 3000); do echo $i; done; sleep 1.5; for i in $(seq 3001 6000); do echo $i; done"]})");
  auto follow = std::async(std::launch::async, [&] {
    Reply r = Http("GET", api_->url() + "/api/jobs/" + id + "/logs?follow=true");
    return std::make_pair(r, steady_clock::now());
  });
  Reply done = api_->WaitTerminal(id, seconds(60));
  auto terminal_seen = steady_clock::now();
  ASSERT_EQ(done.status, 200) << done.body << "\n" << Output();
  EXPECT_EQ(done.Json()["state"], "Succeeded");
  EXPECT_TRUE(done.Json()["logs"] == Numbers(1, 6000)) << "the status shows the whole log";
  EXPECT_FALSE(std::filesystem::exists(api_->data_dir() / "jobs" / id))
      << "the api node has no file of the job: it served the store's copy";
  EXPECT_TRUE(std::filesystem::exists(worker_->data_dir() / "jobs" / id / "log"));

  ASSERT_EQ(follow.wait_for(seconds(10)), std::future_status::ready)
      << "the follow did not end with the job";
  auto [followed, follow_ended] = follow.get();
  EXPECT_EQ(followed.status, 200);
  EXPECT_TRUE(followed.body == Numbers(1, 6000))
      << "in order, nothing repeated, nothing lost; got " << followed.body.size() << " bytes, "
      << "want " << Numbers(1, 6000).size();
  auto lag = std::chrono::duration_cast<milliseconds>(follow_ended - terminal_seen).count();
  EXPECT_LT(lag, 3000) << "the follow ends soon after the job";

  // The CLI follows through the api node the same way.
  std::string out;
  EXPECT_EQ(api_->RunCli({"logs", "--server", api_->url(), "-f", id}, &out), 0) << out;
  EXPECT_TRUE(out == Numbers(1, 6000)) << out.substr(0, 400);
}

TEST_F(LogShippingTest, ALiveLogReachesTheApiNodeWithinAboutOneShippingInterval) {
  // Five marks, 700 ms apart: each is timed from when it lands in the worker's file to when
  // the api node's status shows it.
  std::string id = api_->SubmitOk(
      R"({"image":"busybox","command":["/bin/sh","-c","sleep 1; for i in 1 2 3 4 5; do echo mark$i; sleep 0.7; done"]})");
  std::filesystem::path file = worker_->data_dir() / "jobs" / id / "log";
  std::vector<int64_t> lags;
  for (int i = 1; i <= 5; ++i) {
    std::string mark = "mark" + std::to_string(i) + "\n";
    auto deadline = steady_clock::now() + seconds(30);
    while (ReadAll(file).find(mark) == std::string::npos && steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(2));
    }
    auto in_file = steady_clock::now();
    ASSERT_NE(ReadAll(file).find(mark), std::string::npos) << Output();
    for (;;) {
      Reply r = api_->Status(id);
      if (r.Json().value("logs", "").find(mark) != std::string::npos) break;
      ASSERT_LT(steady_clock::now(), deadline) << r.body << "\n" << Output();
      std::this_thread::sleep_for(milliseconds(2));
    }
    lags.push_back(std::chrono::duration_cast<milliseconds>(steady_clock::now() - in_file).count());
  }
  int64_t max = *std::max_element(lags.begin(), lags.end());
  int64_t sum = 0;
  for (int64_t l : lags) sum += l;
  std::string shown;
  for (int64_t l : lags) shown += std::to_string(l) + " ";
  RecordProperty("shipping_lag_ms", shown);
  std::printf("shipping lag (file on worker -> status on api node), ms: %s(mean %lld, max %lld)\n",
              shown.c_str(), static_cast<long long>(sum / 5), static_cast<long long>(max));
  EXPECT_LT(max, 1500) << "a 250 ms shipping interval, with room for a loaded machine";
  ASSERT_EQ(api_->WaitTerminal(id, seconds(30)).Json()["logs"],
            "mark1\nmark2\nmark3\nmark4\nmark5\n");
}

}  // namespace
}  // namespace berth::e2e
