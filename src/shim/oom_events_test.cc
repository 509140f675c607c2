#include "shim/oom_events.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

TEST(ParseOomKillCountTest, V1AndV2Formats) {
  EXPECT_EQ(ParseOomKillCount("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), 3);
  EXPECT_EQ(ParseOomKillCount("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n"), 1);
  EXPECT_EQ(ParseOomKillCount("oom_kill_disable 0\nunder_oom 0\n"), 0);
  EXPECT_EQ(ParseOomKillCount(""), 0);
}

}  // namespace
}  // namespace berth
