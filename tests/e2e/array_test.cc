// End-to-end: job arrays against the real daemon and real crun — 100 children with parallelism
// 4 never run more than 4 at once, each index runs exactly once (counted by a runtime wrapper),
// the parent ends right; a cancel of the parent stops every child.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/counting_runtime.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

class ArrayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }
  std::vector<json> Children(BerthProcess& b, const std::string& parent,
                             const std::string& state = "") {
    std::vector<json> out;
    std::string cursor;
    for (;;) {
      std::string q = "/api/jobs?limit=1000&parent=" + parent +
                      (state.empty() ? "" : "&state=" + state) +
                      (cursor.empty() ? "" : "&cursor=" + cursor);
      Reply r = Http("GET", b.url() + q, "", {"x-functions-key: " + b.key()});
      EXPECT_EQ(r.status, 200) << r.body;
      json j = r.Json();
      for (const json& c : j["jobs"]) out.push_back(c);
      if (!j["nextCursor"].is_string()) return out;
      cursor = j["nextCursor"].get<std::string>();
    }
  }
};

TEST_F(ArrayTest, HundredChildrenParallelismFourEachIndexOnceNeverMoreThanFour) {
  CountingRuntime runtime;
  BerthProcess berth(json{{"Runtime", runtime.path().string()}, {"MaxConcurrentJobs", "16"}});
  ASSERT_FALSE(berth.url().empty());
  std::string parent = berth.SubmitOk(
      R"({"image":"busybox","count":100,"parallelism":4,
          "command":"echo index=$BERTH_JOB_INDEX count=$BERTH_JOB_COUNT; sleep 0.2"})");
  // Sample the running children while it goes, and wait for the parent to end.
  int max_running = 0;
  auto deadline = Clock::now() + seconds(120);
  Reply status;
  for (;;) {
    status = berth.Status(parent);
    json array = status.Json()["array"];
    max_running = std::max(
        max_running, array["children"].value("Running", 0) + array["children"].value("Pending", 0));
    if (status.status != 202 || Clock::now() > deadline) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(status.status, 200) << status.body;
  json body = status.Json();
  EXPECT_EQ(body["state"], "Succeeded");
  EXPECT_EQ(body["array"]["children"]["Succeeded"], 100) << body.dump();
  EXPECT_EQ(body["array"]["count"], 100);
  EXPECT_EQ(body["array"]["parallelism"], 4);
  EXPECT_LE(max_running, 4);
  EXPECT_GE(max_running, 2) << "parallelism was used";

  std::vector<json> children = Children(berth, parent);
  ASSERT_EQ(children.size(), 100u);
  std::set<int> indexes;
  std::vector<std::pair<int64_t, int> > edges;  // +1 at start, -1 at end
  auto creates = runtime.Creates();
  for (const json& c : children) {
    EXPECT_EQ(c["parentId"], parent);
    int index = c["arrayIndex"];
    indexes.insert(index);
    std::string id = c["id"];
    EXPECT_EQ(creates[id], 1) << "child " << index << " was created " << creates[id] << " times";
    Reply r = berth.Status(id);
    EXPECT_EQ(r.Json().value("logs", ""), "index=" + std::to_string(index) + " count=100\n");
    edges.emplace_back(Rfc3339Millis(r.Json()["startedAt"]), +1);
    edges.emplace_back(Rfc3339Millis(r.Json()["finishedAt"]), -1);
  }
  EXPECT_EQ(indexes.size(), 100u);
  EXPECT_EQ(*indexes.begin(), 0);
  EXPECT_EQ(*indexes.rbegin(), 99);
  EXPECT_EQ(creates.size(), 100u) << "no container for the parent, one per child";
  // Never more than 4 at once, from the recorded run times (an end sorts before a start).
  std::sort(edges.begin(), edges.end());
  int now = 0, peak = 0;
  for (const auto& [t, d] : edges) peak = std::max(peak, now += d);
  EXPECT_LE(peak, 4);
}

TEST_F(ArrayTest, AFailedChildFailsTheParentUnlessCompletionPolicyIsAny) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string all =
      berth.SubmitOk(R"({"image":"busybox","count":3,"command":"test $BERTH_JOB_INDEX != 1"})");
  std::string any = berth.SubmitOk(
      R"({"image":"busybox","count":3,"completionPolicy":"Any","command":"test $BERTH_JOB_INDEX != 1"})");
  Reply a = berth.WaitTerminal(all, seconds(60));
  EXPECT_EQ(a.status, 500) << a.body;
  EXPECT_EQ(a.Json()["state"], "Failed");
  EXPECT_EQ(a.Json()["array"]["children"]["Failed"], 1);
  EXPECT_EQ(a.Json()["reason"], "2 of 3 children succeeded");
  Reply b = berth.WaitTerminal(any, seconds(60));
  EXPECT_EQ(b.status, 200) << b.body;
  Reply bad = berth.Submit(R"({"image":"busybox","count":10001})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("'count'"), std::string::npos) << bad.body;
  bad = berth.Submit(R"({"image":"busybox","parallelism":2})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("'parallelism'"), std::string::npos) << bad.body;
  EXPECT_EQ(
      Http("GET", berth.url() + "/api/jobs?parent=nope", "", {"x-functions-key: " + berth.key()})
          .status,
      400);
}

TEST_F(ArrayTest, CancelOfTheParentStopsEveryChild) {
  CountingRuntime runtime;
  BerthProcess berth(json{{"Runtime", runtime.path().string()}, {"CancelGraceSeconds", "1"}});
  ASSERT_FALSE(berth.url().empty());
  std::string parent = berth.SubmitOk(
      R"({"image":"busybox","count":20,"parallelism":3,"command":"echo up; sleep 61.7"})");
  auto deadline = Clock::now() + seconds(30);
  while (Children(berth, parent, "Running").size() < 3 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_EQ(Children(berth, parent, "Running").size(), 3u);
  Reply canceled =
      Http("DELETE", berth.url() + "/api/jobs/" + parent, "", {"x-functions-key: " + berth.key()});
  EXPECT_TRUE(canceled.status == 202 || canceled.status == 200) << canceled.body;
  Reply end = berth.WaitTerminal(parent, seconds(30));
  EXPECT_EQ(end.Json()["state"], "Canceled") << end.body;
  EXPECT_EQ(end.Json()["array"]["children"]["Canceled"], 20) << end.body;
  for (const json& c : Children(berth, parent)) EXPECT_EQ(c["state"], "Canceled") << c.dump();
  EXPECT_EQ(runtime.Creates().size(), 3u) << "the queued children never started";
  auto stopped = Clock::now() + seconds(10);
  while (!ProcessesMentioning("sleep 61.7").empty() && Clock::now() < stopped) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_TRUE(ProcessesMentioning("sleep 61.7").empty()) << "a child's container still runs";
}

}  // namespace
}  // namespace berth::e2e
