// Unit tests of the access log: one line per answered request, without the query string.
#include "api/access_log.h"

#include <gtest/gtest.h>

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

TEST(AccessLogTest, OneLinePerAnswerWithMethodPathRouteStatusAndDuration) {
  FakeClock clock;
  std::vector<std::string> lines;
  Logger log(LogFormat::kText, clock, [&](std::string_view l) { lines.emplace_back(l); });
  Router router;
  router.SetObserver(AccessLogObserver(log, clock));
  Respond later;
  router.Add("POST", "/api/jobs",
             [&](const HttpRequest&, const std::vector<std::string>&, Respond respond) {
               later = std::move(respond);
             });
  router.Handle(Req("POST", "/api/jobs", "query-secret-0123456789"), [](HttpResponse) {});
  EXPECT_TRUE(lines.empty()) << "logged before the answer";
  clock.Advance(milliseconds(42));
  HttpResponse r;
  r.status = 202;
  later(r);
  router.Handle(Req("GET", "/nowhere"), [](HttpResponse) {});
  EXPECT_TRUE(lines.empty()) << "info lines are batched";
  log.Flush();
  ASSERT_EQ(lines.size(), 1u) << "one write for both";
  std::string both = lines[0];
  lines = {both.substr(0, both.find('\n') + 1), both.substr(both.find('\n') + 1)};
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
  std::vector<std::string> lines;
  Logger log(LogFormat::kJson, clock, [&](std::string_view l) { lines.emplace_back(l); });
  int told = 0;
  RouteObserver counter = [&told](const HttpRequest&, const std::string&) {
    return [&told](int) { ++told; };
  };
  Router router;
  router.SetObserver(BothObservers(counter, AccessLogObserver(log, clock)));
  router.Handle(Req("GET", "/x"), [](HttpResponse) {});
  EXPECT_EQ(told, 1);
  log.Flush();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(R"("status":"404")"), std::string::npos) << lines[0];
  EXPECT_TRUE(BothObservers(nullptr, counter) != nullptr);
}

TEST(AccessLogTest, AServerErrorIsWrittenAtOnceAfterTheLinesBeforeIt) {
  FakeClock clock;
  std::vector<std::string> writes;
  Logger log(LogFormat::kText, clock, [&](std::string_view l) { writes.emplace_back(l); });
  Router router;
  router.SetObserver(AccessLogObserver(log, clock));
  router.Add("GET", "/boom", [](const HttpRequest&, const std::vector<std::string>&, Respond r) {
    r(JsonError(500, "boom"));
  });
  router.Handle(Req("GET", "/first"), [](HttpResponse) {});
  EXPECT_TRUE(writes.empty());
  router.Handle(Req("GET", "/boom"), [](HttpResponse) {});
  ASSERT_EQ(writes.size(), 1u);
  size_t first = writes[0].find("INFO  http request method=GET path=/first ");
  size_t boom = writes[0].find("WARN  http request method=GET path=/boom route=/boom status=500");
  EXPECT_NE(first, std::string::npos) << writes[0];
  EXPECT_NE(boom, std::string::npos) << writes[0];
  EXPECT_LT(first, boom) << writes[0];
}

}  // namespace
}  // namespace berth
