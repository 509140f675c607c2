// Unit tests of the daemon's log lines: text and JSON shapes, escaping, whole lines under
// concurrency.
#include "common/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

namespace berth {
namespace {

TEST(LoggerTest, TextLineHasTimeLevelMessageAndFields) {
  FakeClock clock;
  std::vector<std::string> lines;
  Logger log(LogFormat::kText, clock, [&](std::string_view l) { lines.emplace_back(l); });
  log.Info("job started", {{"job", "abc"}, {"image", "busybox"}});
  log.Error("job ended", {{"job", "abc"}, {"reason", "Error: exited with code 3"}, {"x", ""}});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], FormatRfc3339(clock.Now()) + " INFO  job started job=abc image=busybox\n");
  EXPECT_EQ(lines[1], FormatRfc3339(clock.Now()) +
                          " ERROR job ended job=abc reason=\"Error: exited with code 3\" x=\"\"\n");
}

TEST(LoggerTest, OutsideTextCannotCutALineOrForgeAField) {
  FakeClock clock;
  Logger log(LogFormat::kText, clock, [](std::string_view) {});
  std::string line =
      log.Format(LogLevel::kWarn, "bad\nINFO forged", {{"reason", "a\" b=c\n\x1b[31m"}});
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_NE(line.find("WARN  bad\\nINFO forged"), std::string::npos) << line;
  EXPECT_NE(line.find(R"(reason="a\" b=c\n\x1b[31m")"), std::string::npos) << line;
}

TEST(LoggerTest, JsonLineIsOneObjectWithTheFields) {
  FakeClock clock;
  Logger log(LogFormat::kJson, clock, [](std::string_view) {});
  std::string line = log.Format(LogLevel::kInfo, "job ended",
                                {{"job", "abc"}, {"state", "Failed"}, {"bad", "\xff\xfe\n"}});
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], FormatRfc3339(clock.Now()));
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "job ended");
  EXPECT_EQ(j["job"], "abc");
  EXPECT_EQ(j["state"], "Failed");
  EXPECT_EQ(line.rfind(R"({"time":)", 0), 0u) << "time first, for people reading raw lines";
}

TEST(LoggerTest, ParseLogFormatTakesTextOrJson) {
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("xml").ok());
}

TEST(LoggerTest, LinesFromManyThreadsArriveWhole) {
  SystemClock clock;
  std::string all;
  Logger log(LogFormat::kJson, clock, [&](std::string_view l) {
    for (char c : l) all.push_back(c);  // byte by byte: interleaving would show
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < 200; ++i) log.Info("tick", {{"thread", std::to_string(t)}});
    });
  }
  for (auto& th : threads) th.join();
  size_t start = 0, count = 0;
  while (start < all.size()) {
    size_t end = all.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_FALSE(
        nlohmann::json::parse(all.substr(start, end - start), nullptr, false).is_discarded());
    start = end + 1;
    ++count;
  }
  EXPECT_EQ(count, 800u);
}

}  // namespace
}  // namespace berth
