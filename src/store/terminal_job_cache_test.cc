#include "store/terminal_job_cache.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

JobRecord Done(const std::string& id) {
  JobRecord j;
  j.id = id;
  j.state = JobState::kSucceeded;
  return j;
}

TEST(TerminalJobCacheTest, KeepsOnlyTerminalJobsAndEvictsTheLeastRecentlyUsed) {
  TerminalJobCache cache(2);
  JobRecord running = Done("r");
  running.state = JobState::kRunning;
  cache.Put(running, cache.generation());
  EXPECT_FALSE(cache.Get("r")) << "a running job changes: never cached";
  cache.Put(Done("a"), cache.generation());
  cache.Put(Done("b"), cache.generation());
  ASSERT_TRUE(cache.Get("a"));  // a is now the most recent
  cache.Put(Done("c"), cache.generation());
  EXPECT_TRUE(cache.Get("a"));
  EXPECT_FALSE(cache.Get("b"));
  EXPECT_TRUE(cache.Get("c"));
}

TEST(TerminalJobCacheTest, AReadThatRacedWithADeleteCannotCacheTheDeletedJob) {
  TerminalJobCache cache;
  uint64_t read_started = cache.generation();  // a reader reads the row...
  cache.Erase("a");                            // ...while the job is deleted
  cache.Put(Done("a"), read_started);          // ...and then tries to cache what it read
  EXPECT_FALSE(cache.Get("a"));
  cache.Put(Done("a"), cache.generation());
  EXPECT_TRUE(cache.Get("a"));
  cache.Erase("a");
  EXPECT_FALSE(cache.Get("a"));
}

}  // namespace
}  // namespace berth
