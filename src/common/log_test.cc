// Unit tests of the daemon's log lines: text and JSON shapes, escaping, whole lines under
// concurrency.
#include "common/log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
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

TEST(LoggerTest, TextValuesAreQuotedAndEscapedOnlyWhenTheyNeedIt) {
  FakeClock clock;
  Logger log(LogFormat::kText, clock, [](std::string_view) {});
  std::string line = log.Format(LogLevel::kInfo, "m\\x",
                                {{"plain", "/api/jobs/{id}"},
                                 {"utf8", "caf\xc3\xa9"},
                                 {"space", "a b"},
                                 {"eq", "a=b"},
                                 {"slash", "a\\b"},
                                 {"tab", "a\tb"},
                                 {"del", "a\x7f"},
                                 {"long", std::string(5000, 'x')}});
  std::string want = FormatRfc3339(clock.Now()) +
                     " INFO  m\\\\x plain=/api/jobs/{id} utf8=caf\xc3\xa9 space=\"a b\" eq=\"a=b\" "
                     "slash=a\\\\b tab=a\\tb del=a\\x7f long=" +
                     std::string(4096, 'x') + "...\n";
  EXPECT_EQ(line, want);
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

// What a sink got: each call (one write) and the lines in them.
struct Writes {
  Mutex mu;
  std::vector<std::string> calls GUARDED_BY(mu);
  Logger::Sink Sink() {
    return [this](std::string_view l) {
      MutexLock lock(mu);
      calls.emplace_back(l);
    };
  }
  size_t Calls() {
    MutexLock lock(mu);
    return calls.size();
  }
  std::vector<std::string> Lines() {
    MutexLock lock(mu);
    std::vector<std::string> out;
    for (const auto& c : calls) {
      std::istringstream in(c);
      for (std::string line; std::getline(in, line);) out.push_back(line);
    }
    return out;
  }
};

constexpr milliseconds kNever = std::chrono::hours(1);  // no interval flush during a test

TEST(LoggerTest, BatchedLinesReachTheSinkInOneCallOnFlush) {
  FakeClock clock;
  Writes got;
  Logger log(LogFormat::kText, clock, got.Sink(), kNever);
  for (int i = 0; i < 100; ++i) log.LogBatched("http request", {{"n", std::to_string(i)}});
  EXPECT_EQ(got.Calls(), 0u) << "written before a flush";
  log.Flush();
  EXPECT_EQ(got.Calls(), 1u);
  std::vector<std::string> lines = got.Lines();
  ASSERT_EQ(lines.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(lines[i], FormatRfc3339(clock.Now()) + " INFO  http request n=" + std::to_string(i));
  }
  log.Flush();
  EXPECT_EQ(got.Calls(), 1u) << "an empty batch was written";
}

TEST(LoggerTest, ALogLineWritesTheBatchedLinesBeforeItInTheSameCall) {
  FakeClock clock;
  Writes got;
  Logger log(LogFormat::kText, clock, got.Sink(), kNever);
  log.LogBatched("first");
  log.LogBatched("second");
  log.Warn("third");
  ASSERT_EQ(got.Calls(), 1u);
  std::vector<std::string> lines = got.Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("INFO  first"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("INFO  second"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("WARN  third"), std::string::npos) << lines[2];
  log.Info("fourth");
  EXPECT_EQ(got.Calls(), 2u) << "an unbatched line is written at once";
}

TEST(LoggerTest, DestructionWritesWhatIsBatched) {
  FakeClock clock;
  Writes got;
  {
    Logger log(LogFormat::kJson, clock, got.Sink(), kNever);
    for (int i = 0; i < 3; ++i) log.LogBatched("job submitted", {{"job", std::to_string(i)}});
    EXPECT_EQ(got.Calls(), 0u);
  }
  std::vector<std::string> lines = got.Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(lines[2])["job"], "2");
}

TEST(LoggerTest, AFullBatchIsWrittenAtOnce) {
  FakeClock clock;
  Writes got;
  Logger log(LogFormat::kText, clock, got.Sink(), kNever);
  const std::string big(1000, 'x');
  const size_t per_batch = Logger::kMaxBatchBytes / 1000;  // lines are a little longer than 1000
  for (size_t i = 0; i < per_batch + 10; ++i) log.LogBatched("big", {{"v", big}});
  ASSERT_EQ(got.Calls(), 1u);
  {
    MutexLock lock(got.mu);
    EXPECT_GE(got.calls[0].size(), Logger::kMaxBatchBytes);
    EXPECT_LT(got.calls[0].size(), Logger::kMaxBatchBytes + 1100);
  }
  log.Flush();
  EXPECT_EQ(got.Lines().size(), per_batch + 10);
}

TEST(LoggerTest, BatchedLinesAreWrittenWithinTheIntervalWithoutAFlush) {
  FakeClock clock;
  Writes got;
  Logger log(LogFormat::kText, clock, got.Sink(), milliseconds(1));
  log.LogBatched("one");
  // The interval runs on the steady clock: wait for the write, up to 10 s on a loaded machine.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.Calls() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(got.Lines().size(), 1u);
}

TEST(LoggerTest, BatchedLinesFromManyThreadsArriveWholeAndAllOfThem) {
  FakeClock clock;
  Writes got;
  {
    Logger log(LogFormat::kText, clock, got.Sink(), milliseconds(1));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&log, t] {
        for (int i = 0; i < 500; ++i) {
          if (i % 100 == 99) {
            log.Info("direct", {{"t", std::to_string(t)}});
          } else {
            log.LogBatched("batched", {{"t", std::to_string(t)}, {"i", std::to_string(i)}});
          }
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  std::vector<std::string> lines = got.Lines();
  EXPECT_EQ(lines.size(), 2000u);
  for (const auto& l : lines) {
    EXPECT_TRUE(l.find("INFO  batched t=") != std::string::npos ||
                l.find("INFO  direct t=") != std::string::npos)
        << l;
  }
}

}  // namespace
}  // namespace berth
