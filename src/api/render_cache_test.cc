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

TEST(RenderCacheTest, RefusesABodyOverItsBound) {
  RenderCache cache(/*max_bytes=*/1000, /*max_body_bytes=*/8);
  cache.Put("big", 1, std::string(9, 'x'));
  EXPECT_FALSE(cache.Get("big", 1));
  EXPECT_EQ(cache.bytes(), 0u);
}

// Issue 10: the cache was bounded by entry count (2,048 bodies of up to 64 KiB: 128 MiB). It is
// bounded by the bytes it holds; the oldest bodies go first.
TEST(RenderCacheTest, HoldsAtMostItsBytesAndDropsTheOldestFirst) {
  RenderCache cache(/*max_bytes=*/100, /*max_body_bytes=*/50);
  cache.Put("a", 1, std::string(39, 'a'));  // 40 bytes with its key
  cache.Put("b", 1, std::string(39, 'b'));
  EXPECT_EQ(cache.bytes(), 80u);
  cache.Put("c", 1, std::string(39, 'c'));  // 120 > 100: "a" goes
  EXPECT_LE(cache.bytes(), 100u);
  EXPECT_FALSE(cache.Get("a", 1));
  EXPECT_TRUE(cache.Get("b", 1));
  EXPECT_TRUE(cache.Get("c", 1));
}

TEST(RenderCacheTest, PuttingAKeyAgainReplacesItAndCountsItOnce) {
  RenderCache cache(/*max_bytes=*/100, /*max_body_bytes=*/50);
  for (int i = 0; i < 1000; ++i) cache.Put("a", i, std::string(19, 'a'));
  EXPECT_EQ(cache.bytes(), 20u);
  EXPECT_EQ(cache.Get("a", 999), std::string(19, 'a'));
  cache.Put("b", 1, std::string(39, 'b'));
  cache.Put("c", 1, std::string(39, 'c'));  // 100: all fit
  EXPECT_TRUE(cache.Get("a", 999)) << "the stale puts of 'a' must not evict its live entry";
  cache.Put("d", 1, std::string(9, 'd'));  // 110: the oldest live one ("a") goes
  EXPECT_FALSE(cache.Get("a", 999));
  EXPECT_TRUE(cache.Get("d", 1));
  EXPECT_LE(cache.bytes(), 100u);
}

}  // namespace
}  // namespace berth
