// End-to-end: schedules (the timer trigger) against the real daemon and real crun — one job per
// firing across a kill -9 and restart, Forbid, delete, PATCH/CLI, and the API's precise 400s.
// Needs root (real containers).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>

#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

int64_t NowMillis() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class ScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }

  Reply Api(BerthProcess& b, const std::string& method, const std::string& path,
            const std::string& body = "") {
    return Http(method, b.url() + path, body, {"x-functions-key: " + b.key()});
  }

  // Every job the schedule `name` made (all pages).
  std::vector<json> JobsOf(BerthProcess& b, const std::string& name) {
    std::vector<json> out;
    std::string cursor;
    for (;;) {
      Reply r = Api(b, "GET", "/api/jobs?limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor));
      EXPECT_EQ(r.status, 200) << r.body;
      json j = r.Json();
      for (const json& job : j["jobs"]) {
        if (job.value("schedule", "") == name) out.push_back(job);
      }
      if (!j.contains("nextCursor") || !j["nextCursor"].is_string() ||
          j["nextCursor"].get<std::string>().empty()) {
        return out;
      }
      cursor = j["nextCursor"].get<std::string>();
    }
  }
};

TEST_F(ScheduleTest, EveryTwoSecondsOneJobPerFiringAcrossKillDashNine) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  Reply created = Api(berth, "POST", "/api/schedules",
                      R"({"name":"tick","schedule":"*/2 * * * * *",
                          "job":{"image":"busybox","command":"echo tick"}})");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.headers["location"], "/api/schedules/tick");
  int64_t created_at = Rfc3339Millis(created.Json()["createdAt"]);
  auto start = Clock::now();
  std::this_thread::sleep_for(milliseconds(9'300));
  ASSERT_TRUE(berth.Restart());  // kill -9, then start again on the same data dir
  std::this_thread::sleep_until(start + milliseconds(20'500));
  int64_t deleted_at = NowMillis();
  ASSERT_EQ(Api(berth, "DELETE", "/api/schedules/tick").status, 204);

  std::vector<json> jobs = JobsOf(berth, "tick");
  std::multiset<int64_t> fired;
  for (const json& j : jobs) fired.insert(Rfc3339Millis(j["scheduledAt"]));
  std::set<int64_t> want;
  for (int64_t t = (created_at / 2000 + 1) * 2000; t <= deleted_at - 500; t += 2000) want.insert(t);
  std::set<int64_t> unique(fired.begin(), fired.end());
  EXPECT_EQ(unique.size(), fired.size()) << "a firing made two jobs";
  for (int64_t t : want) EXPECT_EQ(fired.count(t), 1u) << "no job for the firing at " << t;
  for (int64_t t : unique) {
    EXPECT_EQ(t % 2000, 0) << "a job for a time that is no firing: " << t;
    EXPECT_GT(t, created_at);
    EXPECT_LE(t, deleted_at + 500) << "a firing after the delete";
  }
  EXPECT_GE(want.size(), 9u);
  // They are ordinary jobs: each runs to the end.
  for (const json& j : jobs) {
    Reply r = berth.WaitTerminal(j["id"], seconds(30));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Json().value("logs", ""), "tick\n");
    EXPECT_EQ(r.Json().value("schedule", ""), "tick");
  }
}

TEST_F(ScheduleTest, ForbidSkipsAFiringWhileThePreviousJobRuns) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  Reply created = Api(berth, "POST", "/api/schedules",
                      R"({"name":"slow","schedule":"* * * * * *","concurrencyPolicy":"Forbid",
                          "job":{"image":"busybox","command":"sleep 3"}})");
  ASSERT_EQ(created.status, 201) << created.body;
  std::this_thread::sleep_for(seconds(8));
  ASSERT_EQ(Api(berth, "PATCH", "/api/schedules/slow", R"({"enabled":false})").status, 200);
  Reply shown = Api(berth, "GET", "/api/schedules/slow");
  ASSERT_EQ(shown.status, 200);
  EXPECT_FALSE(shown.Json()["enabled"].get<bool>());
  EXPECT_GE(shown.Json()["skippedCount"].get<int>(), 3) << shown.body;
  std::vector<json> jobs = JobsOf(berth, "slow");
  ASSERT_GE(jobs.size(), 1u);
  EXPECT_LE(jobs.size(), 3u) << "8 firings of a 3 s job: Forbid lets at most 3 through";
  // No two of its jobs lived at the same time: each was created after the previous one ended.
  std::vector<std::pair<int64_t, int64_t>> spans;
  for (const json& j : jobs) {
    Reply r = berth.WaitTerminal(j["id"], seconds(30));
    ASSERT_EQ(r.status, 200) << r.body;
    spans.emplace_back(Rfc3339Millis(r.Json()["createdAt"]), Rfc3339Millis(r.Json()["finishedAt"]));
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    EXPECT_GE(spans[i].first, spans[i - 1].second) << "job " << i << " overlapped the one before";
  }
}

TEST_F(ScheduleTest, ADeletedScheduleFiresNoMoreAndTheCliCoversIt) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string out;
  std::vector<std::string> common = {"--server", berth.url(), "--key", berth.key()};
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin() + 2, common.begin(), common.end());
    out.clear();
    return berth.RunCli(args, &out);
  };
  ASSERT_EQ(cli({"schedule", "create", "often", "--cron", "* * * * * *", "--tz", "Europe/Berlin",
                 "--", "echo", "hi"}),
            0)
      << out;
  EXPECT_NE(out.find("next "), std::string::npos) << out;
  auto deadline = Clock::now() + seconds(15);
  while (JobsOf(berth, "often").size() < 2 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_GE(JobsOf(berth, "often").size(), 2u);
  ASSERT_EQ(cli({"schedule", "ls"}), 0) << out;
  EXPECT_NE(out.find("often\t* * * * * *\tEurope/Berlin\tyes"), std::string::npos) << out;
  ASSERT_EQ(cli({"schedule", "disable", "often"}), 0) << out;
  ASSERT_EQ(cli({"schedule", "show", "often"}), 0) << out;
  EXPECT_NE(out.find("\"enabled\": false"), std::string::npos) << out;
  ASSERT_EQ(cli({"schedule", "enable", "often"}), 0) << out;
  ASSERT_EQ(cli({"schedule", "rm", "often"}), 0) << out;
  int64_t deleted_at = NowMillis();
  size_t after_delete = JobsOf(berth, "often").size();
  std::this_thread::sleep_for(seconds(3));
  std::vector<json> jobs = JobsOf(berth, "often");
  EXPECT_EQ(jobs.size(), after_delete) << "the deleted schedule fired again";
  for (const json& j : jobs) EXPECT_LT(Rfc3339Millis(j["scheduledAt"]), deleted_at);
  EXPECT_NE(cli({"schedule", "show", "often"}), 0);
  EXPECT_NE(out.find("404"), std::string::npos) << out;
}

TEST_F(ScheduleTest, BadRequestsGetPreciseAnswers) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  auto post = [&](const std::string& body) { return Api(berth, "POST", "/api/schedules", body); };
  auto message = [](const Reply& r) { return r.Json()["error"].value("message", ""); };
  const std::string job = R"("job":{"image":"busybox"})";
  Reply r = post(R"({"name":"a","schedule":"* * *",)" + job + "}");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("'schedule'"), std::string::npos) << r.body;
  r = post(R"({"name":"a","schedule":"61 * * * * *",)" + job + "}");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("second field"), std::string::npos) << r.body;
  r = post(R"({"name":"a","schedule":"* * * * *","timeZone":"Mars/Base",)" + job + "}");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("'timeZone'"), std::string::npos) << r.body;
  r = post(R"({"name":"a","schedule":"* * * * *","concurrencyPolicy":"Sometimes",)" + job + "}");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("'concurrencyPolicy'"), std::string::npos) << r.body;
  r = post(R"({"name":"a","schedule":"* * * * *","job":{"image":"BAD IMAGE"}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("'job.image'"), std::string::npos) << r.body;
  r = post(R"({"name":"a/b","schedule":"* * * * *",)" + job + "}");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("'name'"), std::string::npos) << r.body;
  r = post(R"({"name":"a","schedule":"* * * * *","color":"red",)" + job + "}");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("'color': unknown field"), std::string::npos) << r.body;
  r = post(R"({"name":"a","schedule":"* * * * *"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("'job': is required"), std::string::npos) << r.body;
  EXPECT_EQ(Http("POST", berth.url() + "/api/schedules",
                 R"({"name":"a","schedule":"* * * * *",)" + job + "}")
                .status,
            401);
  ASSERT_EQ(post(R"({"name":"a","schedule":"0 0 1 1 *",)" + job + "}").status, 201);
  EXPECT_EQ(post(R"({"name":"a","schedule":"0 0 1 1 *",)" + job + "}").status, 409);
  r = Api(berth, "PUT", "/api/schedules/a", R"({"name":"b","schedule":"* * * * *",)" + job + "}");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("must match the name in the URL"), std::string::npos) << r.body;
  EXPECT_EQ(Api(berth, "PUT", "/api/schedules/a", R"({"schedule":"0 0 2 1 *",)" + job + "}").status,
            200);
  EXPECT_EQ(Api(berth, "PUT", "/api/schedules/c", R"({"schedule":"0 0 2 1 *",)" + job + "}").status,
            201);
  EXPECT_EQ(Api(berth, "GET", "/api/schedules/a").Json()["schedule"], "0 0 2 1 *");
  EXPECT_EQ(Api(berth, "GET", "/api/schedules").Json()["schedules"].size(), 2u);
  EXPECT_EQ(Api(berth, "GET", "/api/schedules/nope").status, 404);
  EXPECT_EQ(Api(berth, "DELETE", "/api/schedules/nope").status, 404);
  EXPECT_EQ(Api(berth, "PATCH", "/api/schedules/a", R"({"enabled":"yes"})").status, 400);
}

}  // namespace
}  // namespace berth::e2e
