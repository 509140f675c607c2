#include "triggers/cron.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

// Parses an RFC 3339 UTC time ("2026-03-29T00:59:59Z") to a TimePoint.
TimePoint Utc(const std::string& s) {
  struct tm tm {};
  sscanf(s.c_str(), "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
         &tm.tm_min, &tm.tm_sec);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return FromUnixMillis(static_cast<int64_t>(timegm(&tm)) * 1000);
}

std::string NextOf(const std::string& expr, const std::string& after,
                   const std::string& zone = "UTC") {
  auto c = CronExpression::Parse(expr, zone);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  if (!c.ok()) return "";
  auto t = c->Next(Utc(after));
  return t ? FormatRfc3339(*t) : "never";
}

TEST(CronTest, SixFieldsHaveSeconds) {
  EXPECT_EQ(NextOf("*/2 * * * * *", "2026-01-01T00:00:00Z"), "2026-01-01T00:00:02.000Z");
  EXPECT_EQ(NextOf("*/2 * * * * *", "2026-01-01T00:00:01Z"), "2026-01-01T00:00:02.000Z");
  EXPECT_EQ(NextOf("0 */5 * * * *", "2026-01-01T00:03:10Z"), "2026-01-01T00:05:00.000Z");
  EXPECT_EQ(NextOf("30 15 10 * * *", "2026-01-01T10:15:30Z"), "2026-01-02T10:15:30.000Z");
}

TEST(CronTest, FiveFieldsAreStandardCron) {
  EXPECT_EQ(NextOf("*/15 * * * *", "2026-01-01T00:07:00Z"), "2026-01-01T00:15:00.000Z");
  EXPECT_EQ(NextOf("0 9 * * MON-FRI", "2026-01-02T09:00:00Z"),  // a Friday
            "2026-01-05T09:00:00.000Z");
  EXPECT_EQ(NextOf("0 0 1 JAN *", "2026-06-01T00:00:00Z"), "2027-01-01T00:00:00.000Z");
  EXPECT_EQ(NextOf("0 0 * * 7", "2026-01-01T00:00:00Z"), "2026-01-04T00:00:00.000Z");  // Sunday
}

TEST(CronTest, BothDayFieldsRestrictedMatchEither) {
  // The 13th, or any Friday (Vixie cron).
  EXPECT_EQ(NextOf("0 0 13 * FRI", "2026-01-01T00:00:00Z"), "2026-01-02T00:00:00.000Z");
  EXPECT_EQ(NextOf("0 0 0 13 * ?", "2026-01-01T00:00:00Z"), "2026-01-13T00:00:00.000Z");
}

TEST(CronTest, ListsRangesAndSteps) {
  EXPECT_EQ(NextOf("0 5,10-12/2 * * *", "2026-01-01T00:06:00Z"), "2026-01-01T05:00:00.000Z");
  EXPECT_EQ(NextOf("0 5,10-12/2 * * *", "2026-01-01T05:00:00Z"), "2026-01-01T10:00:00.000Z");
  EXPECT_EQ(NextOf("0 5,10-12/2 * * *", "2026-01-01T10:00:00Z"), "2026-01-01T12:00:00.000Z");
  EXPECT_EQ(NextOf("0 11 * * *", "2026-01-01T10:00:00Z"), "2026-01-01T11:00:00.000Z");
  EXPECT_EQ(NextOf("10/20 * * * * *", "2026-01-01T00:00:31Z"), "2026-01-01T00:00:50.000Z");
}

TEST(CronTest, NeverFiringExpressionSaysSo) {
  EXPECT_EQ(NextOf("0 0 0 30 2 *", "2026-01-01T00:00:00Z"), "never");
}

TEST(CronTest, TimeZoneShiftsTheFiring) {
  // 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer.
  EXPECT_EQ(NextOf("0 0 9 * * *", "2026-01-10T12:00:00Z", "Europe/Berlin"),
            "2026-01-11T08:00:00.000Z");
  EXPECT_EQ(NextOf("0 0 9 * * *", "2026-07-10T12:00:00Z", "Europe/Berlin"),
            "2026-07-11T07:00:00.000Z");
}

TEST(CronTest, SpringForwardSkipsTheMissingHourFallBackFiresOnce) {
  // 2026-03-29 02:00 local does not exist in Berlin (clocks jump 02:00 -> 03:00 at 01:00 UTC).
  EXPECT_EQ(NextOf("0 30 2 * * *", "2026-03-28T12:00:00Z", "Europe/Berlin"),
            "2026-03-30T00:30:00.000Z");
  // 2026-10-25 02:30 local happens twice (00:30 and 01:30 UTC): the first one only.
  EXPECT_EQ(NextOf("0 30 2 * * *", "2026-10-24T12:00:00Z", "Europe/Berlin"),
            "2026-10-25T00:30:00.000Z");
  EXPECT_EQ(NextOf("0 30 2 * * *", "2026-10-25T00:30:00Z", "Europe/Berlin"),
            "2026-10-26T01:30:00.000Z");
}

TEST(CronTest, BadExpressionsNameTheField) {
  auto bad = [](const std::string& expr, const std::string& want) {
    auto c = CronExpression::Parse(expr);
    ASSERT_FALSE(c.ok()) << expr;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find(want), std::string::npos) << c.status().message();
  };
  bad("* * * *", "got 4");
  bad("* * * * * * *", "got 7");
  bad("60 * * * * *", "second field");
  bad("* 24 * * *", "hour field");
  bad("* * 0 * *", "day-of-month field");
  bad("* * * 13 *", "month field");
  bad("* * * * 8", "day-of-week field");
  bad("*/0 * * * *", "step");
  bad("5-1 * * * *", "low before high");
  bad("? * * * *", "only for the day fields");
  bad("a * * * *", "not a value");
  bad("1,,2 * * * *", "empty list item");
  auto zone = CronExpression::Parse("* * * * *", "Mars/Olympus");
  ASSERT_FALSE(zone.ok());
  EXPECT_NE(zone.status().message().find("timeZone"), std::string::npos);
}

}  // namespace
}  // namespace berth
