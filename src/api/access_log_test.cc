// Unit tests of the access log: one line per answered request, without the query string, written
// in batches (on Flush, when the buffer fills, for a 5xx at once, at the latest after an interval,
// and on destruction).
#include "api/access_log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <thread>
#include <vector>

namespace berth {
namespace {

HttpRequest Req(std::string method, std::string path, std::string code = "") {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  if (!code.empty()) r.query["code"] = code;
  r.headers["x-functions-key"] = "header-secret-0123456789";
  return r;
}

// What a sink got: each call (a batch) and the lines in them.
struct Captured {
  Mutex mu;
  std::vector<std::string> batches GUARDED_BY(mu);
  Logger::Sink Sink() {
    return [this](std::string_view l) {
      MutexLock lock(mu);
      batches.emplace_back(l);
    };
  }
  std::vector<std::string> Lines() {
    MutexLock lock(mu);
    std::vector<std::string> out;
    for (const auto& b : batches) {
      std::istringstream in(b);
      for (std::string line; std::getline(in, line);) out.push_back(line);
    }
    return out;
  }
  size_t Batches() {
    MutexLock lock(mu);
    return batches.size();
  }
};

// Never written by the interval during a test.
AccessLogOptions NoInterval() {
  AccessLogOptions o;
  o.flush_interval = std::chrono::hours(1);
  return o;
}

TEST(AccessLogTest, OneLinePerAnswerWithMethodPathRouteStatusAndDuration) {
  FakeClock clock;
  Captured got;
  Logger log(LogFormat::kText, clock, got.Sink());
  AccessLog access(log, clock, NoInterval());
  Router router;
  router.SetObserver(access.Observer());
  Respond later;
  router.Add("POST", "/api/jobs",
             [&](const HttpRequest&, const std::vector<std::string>&, Respond respond) {
               later = std::move(respond);
             });
  router.Handle(Req("POST", "/api/jobs", "query-secret-0123456789"), [](HttpResponse) {});
  access.Flush();
  EXPECT_TRUE(got.Lines().empty()) << "logged before the answer";
  clock.Advance(milliseconds(42));
  HttpResponse r;
  r.status = 202;
  later(r);
  router.Handle(Req("GET", "/nowhere"), [](HttpResponse) {});
  access.Flush();
  std::vector<std::string> lines = got.Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("INFO  http request method=POST path=/api/jobs route=/api/jobs "
                          "status=202 ms=42.000"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("path=/nowhere route=unmatched status=404"), std::string::npos)
      << lines[1];
  for (const auto& l : lines) {
    EXPECT_EQ(l.find("secret"), std::string::npos) << l;
    EXPECT_EQ(l.find("code"), std::string::npos) << l;
  }
}

TEST(AccessLogTest, BothObserversAreTold) {
  FakeClock clock;
  Captured got;
  Logger log(LogFormat::kJson, clock, got.Sink());
  AccessLog access(log, clock, NoInterval());
  int told = 0;
  RouteObserver counter = [&told](const HttpRequest&, const std::string&) {
    return [&told](int) { ++told; };
  };
  Router router;
  router.SetObserver(BothObservers(counter, access.Observer()));
  router.Handle(Req("GET", "/x"), [](HttpResponse) {});
  EXPECT_EQ(told, 1);
  access.Flush();
  std::vector<std::string> lines = got.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(R"("status":"404")"), std::string::npos) << lines[0];
  EXPECT_TRUE(BothObservers(nullptr, counter) != nullptr);
}

// Answers `n` requests for unknown paths (404, an info line each).
void Answer(Router& router, int n) {
  for (int i = 0; i < n; ++i) router.Handle(Req("GET", "/n" + std::to_string(i)), [](auto) {});
}

TEST(AccessLogTest, LinesAreWrittenInOneBatchNotOneWriteEach) {
  FakeClock clock;
  Captured got;
  Logger log(LogFormat::kText, clock, got.Sink());
  AccessLog access(log, clock, NoInterval());
  Router router;
  router.SetObserver(access.Observer());
  Answer(router, 100);
  EXPECT_EQ(got.Batches(), 0u) << "written before a flush";
  access.Flush();
  EXPECT_EQ(got.Batches(), 1u);
  std::vector<std::string> lines = got.Lines();
  ASSERT_EQ(lines.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_NE(lines[i].find("path=/n" + std::to_string(i) + " "), std::string::npos) << lines[i];
  }
  access.Flush();
  EXPECT_EQ(got.Batches(), 1u) << "an empty batch was written";
}

TEST(AccessLogTest, DestructionWritesWhatIsBuffered) {
  FakeClock clock;
  Captured got;
  Logger log(LogFormat::kText, clock, got.Sink());
  {
    AccessLog access(log, clock, NoInterval());
    Router router;
    router.SetObserver(access.Observer());
    Answer(router, 3);
    EXPECT_TRUE(got.Lines().empty());
  }
  EXPECT_EQ(got.Lines().size(), 3u);
}

TEST(AccessLogTest, AFullBufferIsWrittenByTheThreadThatFillsIt) {
  FakeClock clock;
  Captured got;
  Logger log(LogFormat::kText, clock, got.Sink());
  AccessLogOptions opts = NoInterval();
  opts.max_buffered_bytes = 1000;  // a line is about 110 bytes
  AccessLog access(log, clock, opts);
  Router router;
  router.SetObserver(access.Observer());
  Answer(router, 25);
  {
    MutexLock lock(got.mu);
    ASSERT_GE(got.batches.size(), 2u);
    for (const auto& b : got.batches) EXPECT_GE(b.size(), 1000u) << "written before full";
  }
  access.Flush();
  EXPECT_EQ(got.Lines().size(), 25u);
}

TEST(AccessLogTest, AServerErrorIsWrittenAtOnceAfterTheLinesBeforeIt) {
  FakeClock clock;
  Captured got;
  Logger log(LogFormat::kText, clock, got.Sink());
  AccessLog access(log, clock, NoInterval());
  Router router;
  router.SetObserver(access.Observer());
  router.Add("GET", "/boom", [](const HttpRequest&, const std::vector<std::string>&, Respond r) {
    r(JsonError(500, "boom"));
  });
  Answer(router, 2);
  router.Handle(Req("GET", "/boom"), [](HttpResponse) {});
  std::vector<std::string> lines = got.Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("path=/n0 "), std::string::npos) << lines[0];
  EXPECT_NE(lines[2].find("WARN  http request method=GET path=/boom route=/boom status=500"),
            std::string::npos)
      << lines[2];
}

TEST(AccessLogTest, LinesAreWrittenWithinTheIntervalWithoutAFlush) {
  FakeClock clock;
  Captured got;
  Logger log(LogFormat::kText, clock, got.Sink());
  AccessLogOptions opts;
  opts.flush_interval = milliseconds(1);
  AccessLog access(log, clock, opts);
  Router router;
  router.SetObserver(access.Observer());
  Answer(router, 1);
  // Real time: the flusher's interval is on the steady clock. Up to 10 s on a loaded machine.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.Lines().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(got.Lines().size(), 1u);
}

TEST(AccessLogTest, ManyThreadsLoseNoLine) {
  FakeClock clock;
  Captured got;
  Logger log(LogFormat::kText, clock, got.Sink());
  AccessLogOptions opts;
  opts.flush_interval = milliseconds(1);
  opts.max_buffered_bytes = 4096;
  {
    AccessLog access(log, clock, opts);
    Router router;
    router.SetObserver(access.Observer());
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) threads.emplace_back([&] { Answer(router, 500); });
    for (auto& t : threads) t.join();
  }
  std::vector<std::string> lines = got.Lines();
  EXPECT_EQ(lines.size(), 2000u);
  for (const auto& l : lines)
    EXPECT_NE(l.find("http request method=GET path=/n"), std::string::npos) << l;
}

}  // namespace
}  // namespace berth
