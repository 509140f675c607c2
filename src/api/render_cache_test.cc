#include "api/render_cache.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

TEST(RenderCacheTest, ServesABodyOnlyForTheSameFinishTime) {
  RenderCache cache;
  cache.Put("job?*", 1000, "{\"state\":\"Succeeded\"}");
  EXPECT_EQ(cache.Get("job?*", 1000), "{\"state\":\"Succeeded\"}");
  EXPECT_FALSE(cache.Get("job?*", 1001)) << "another finish: another run, another answer";
  EXPECT_FALSE(cache.Get("job?2", 1000)) << "another tail, another body";
}

TEST(RenderCacheTest, StaysWithinItsBounds) {
  RenderCache cache(/*max_entries=*/2, /*max_body_bytes=*/8);
  cache.Put("big", 1, std::string(9, 'x'));
  EXPECT_FALSE(cache.Get("big", 1));
  cache.Put("a", 1, "a");
  cache.Put("b", 1, "b");
  cache.Put("c", 1, "c");  // full: starts over
  EXPECT_FALSE(cache.Get("a", 1));
  EXPECT_EQ(cache.Get("c", 1), "c");
}

}  // namespace
}  // namespace berth
