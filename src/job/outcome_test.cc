#include "job/outcome.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace berth {
namespace {

using ::testing::HasSubstr;

TEST(JudgeTest, ExitZeroSucceeds) {
  OutcomeVerdict v = Judge(Exited{0});
  EXPECT_EQ(v.state, JobState::kSucceeded);
  EXPECT_EQ(v.exit_code, 0);
}

TEST(JudgeTest, NonZeroExitFails) {
  OutcomeVerdict v = Judge(Exited{3});
  EXPECT_EQ(v.state, JobState::kFailed);
  EXPECT_EQ(v.exit_code, 3);
  EXPECT_THAT(v.reason, HasSubstr("3"));
}

TEST(JudgeTest, SignalFailsWithShellStyleCode) {
  OutcomeVerdict v = Judge(Signaled{9});
  EXPECT_EQ(v.state, JobState::kFailed);
  EXPECT_EQ(v.exit_code, 137);
  EXPECT_THAT(v.reason, HasSubstr("SIGKILL"));

  OutcomeVerdict term = Judge(Signaled{15});
  EXPECT_EQ(term.state, JobState::kFailed);
  EXPECT_EQ(term.exit_code, 143);
  EXPECT_THAT(term.reason, HasSubstr("SIGTERM"));
}

TEST(JudgeTest, MonitorLostFailsWithoutExitCode) {
  OutcomeVerdict v = Judge(MonitorLost{"machine rebooted"});
  EXPECT_EQ(v.state, JobState::kFailed);
  EXPECT_FALSE(v.exit_code.has_value());
  EXPECT_THAT(v.reason, HasSubstr("machine rebooted"));
}

TEST(ExitRecordTest, ExitedRoundTrips) {
  Result<ExitRecord> rec = ParseExitRecord(ExitRecordToJson(Exited{42}, 1'700'000'123'456));
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  ASSERT_TRUE(std::holds_alternative<Exited>(rec->outcome));
  EXPECT_EQ(std::get<Exited>(rec->outcome).code, 42);
  EXPECT_EQ(rec->finished_at_ms, 1'700'000'123'456);
}

TEST(ExitRecordTest, ExitZeroRoundTrips) {
  Result<ExitRecord> rec = ParseExitRecord(ExitRecordToJson(Exited{0}, 5));
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  ASSERT_TRUE(std::holds_alternative<Exited>(rec->outcome));
  EXPECT_EQ(std::get<Exited>(rec->outcome).code, 0);
  EXPECT_EQ(rec->finished_at_ms, 5);
}

TEST(ExitRecordTest, SignaledRoundTrips) {
  Result<ExitRecord> rec = ParseExitRecord(ExitRecordToJson(Signaled{9}, 77));
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  ASSERT_TRUE(std::holds_alternative<Signaled>(rec->outcome));
  EXPECT_EQ(std::get<Signaled>(rec->outcome).signal, 9);
  EXPECT_EQ(rec->finished_at_ms, 77);
}

TEST(ExitRecordTest, MonitorLostRoundTrips) {
  Result<ExitRecord> rec = ParseExitRecord(ExitRecordToJson(MonitorLost{"pid 12 gone"}, 9));
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  ASSERT_TRUE(std::holds_alternative<MonitorLost>(rec->outcome));
  EXPECT_EQ(std::get<MonitorLost>(rec->outcome).detail, "pid 12 gone");
  EXPECT_EQ(rec->finished_at_ms, 9);
}

TEST(ExitRecordTest, MalformedInputIsAnError) {
  for (const char* text : {"", "{", "not json", "[]", "42", "{}", R"({"finishedAtMs": 1})",
                           R"({"exitCode": "zero"})", R"({"signal": [9]})", R"({"lost": 1})"}) {
    Result<ExitRecord> rec = ParseExitRecord(text);
    EXPECT_FALSE(rec.ok()) << text;
    if (!rec.ok()) {
      EXPECT_EQ(rec.status().code(), StatusCode::kInvalidArgument) << text;
    }
  }
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

TEST(JudgeTest, OomKilledFailsWithReasonOOMKilled) {
  OutcomeVerdict v = Judge(OomKilled{137});
  EXPECT_EQ(v.state, JobState::kFailed);
  EXPECT_EQ(v.exit_code, 137);
  EXPECT_EQ(v.reason, "OOMKilled");
}

TEST(ExitRecordTest, OomKilledRoundTripsBySignalAndByExitCode) {
  for (int code : {137, 1}) {
    std::string text = ExitRecordToJson(OomKilled{code}, 42);
    EXPECT_NE(text.find("\"oomKilled\":true"), std::string::npos) << text;
    Result<ExitRecord> rec = ParseExitRecord(text);
    ASSERT_TRUE(rec.ok()) << rec.status().ToString();
    ASSERT_TRUE(std::holds_alternative<OomKilled>(rec->outcome)) << text;
    EXPECT_EQ(std::get<OomKilled>(rec->outcome).code, code);
    EXPECT_EQ(rec->finished_at_ms, 42);
  }
  Result<ExitRecord> plain = ParseExitRecord(R"({"signal":9,"oomKilled":false})");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(std::holds_alternative<Signaled>(plain->outcome));
}

}  // namespace
}  // namespace berth
