// Unit tests of the daemon's job lines, fed through a real JobEventHub.
#include "daemon/job_log.h"

#include <gtest/gtest.h>

#include <sstream>
#include <vector>

namespace berth {
namespace {

TEST(JobLogTest, EachStateChangeIsOneLineNamingTheJob) {
  FakeClock clock;
  std::vector<std::string> lines;
  int writes = 0;
  Logger log(LogFormat::kText, clock, [&](std::string_view batch) {
    ++writes;
    std::istringstream in{std::string(batch)};
    for (std::string l; std::getline(in, l);) lines.push_back(l + "\n");
  });
  JobEventHub hub;
  hub.Subscribe(JobEventLogger(log));
  hub.Publish({"j1", JobState::kQueued, "", std::nullopt});
  EXPECT_EQ(writes, 0) << "a submitted line is batched (one per submit)";
  hub.Publish({"j1", JobState::kPending, "", std::nullopt});
  EXPECT_EQ(writes, 1) << "the next line writes it first, in the same write";
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
