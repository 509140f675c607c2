// Unit tests of the daemon's job lines, fed through a real JobEventHub.
#include "daemon/job_log.h"

#include <gtest/gtest.h>

#include <vector>

namespace berth {
namespace {

TEST(JobLogTest, EachStateChangeIsOneLineNamingTheJob) {
  FakeClock clock;
  std::vector<std::string> lines;
  Logger log(LogFormat::kText, clock, [&](std::string_view l) { lines.emplace_back(l); });
  JobEventHub hub;
  hub.Subscribe(JobEventLogger(log));
  hub.Publish({"j1", JobState::kQueued, "", std::nullopt});
  hub.Publish({"j1", JobState::kPending, "", std::nullopt});
  hub.Publish({"j1", JobState::kRunning, "", std::nullopt});
  hub.Publish({"j1", JobState::kFailed, "Error: exited with code 3", 3});
  hub.Publish({"j2", JobState::kQueued, "retry 1 of 3", std::nullopt});
  hub.Publish({"j2", JobState::kSucceeded, "Completed", 0});
  ASSERT_EQ(lines.size(), 6u);
  std::string t = FormatRfc3339(clock.Now());
  EXPECT_EQ(lines[0], t + " INFO  job submitted job=j1\n");
  EXPECT_EQ(lines[1], t + " INFO  job starting job=j1\n");
  EXPECT_EQ(lines[2], t + " INFO  job started job=j1\n");
  EXPECT_EQ(lines[3],
            t + " WARN  job ended job=j1 state=Failed exit_code=3 reason=\"Error: exited with "
                "code 3\"\n");
  EXPECT_EQ(lines[4], t + " INFO  job queued again job=j2 reason=\"retry 1 of 3\"\n");
  EXPECT_EQ(lines[5], t + " INFO  job ended job=j2 state=Succeeded exit_code=0 reason=Completed\n");
}

}  // namespace
}  // namespace berth
