#include "api/node_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace berth {
namespace {

using std::chrono::seconds;

class FakeDirectory : public NodeDirectory {
 public:
  Result<std::vector<NodeSummary>> ListNodes() override {
    if (!error.ok()) return error;
    return nodes;
  }
  std::vector<NodeSummary> nodes;
  Status error;
};

HttpRequest Get(std::string key = "") {
  HttpRequest req;
  req.method = "GET";
  req.path = "/api/nodes";
  if (!key.empty()) req.headers["x-functions-key"] = key;
  return req;
}

TEST(NodeApiTest, ListsNodesLiveOrLostByTheirLease) {
  FakeClock clock;
  FakeDirectory dir;
  TimePoint now = clock.Now();
  dir.nodes = {{"api-1", "api", "1.2.3", now - seconds(5), now + seconds(25), false, 0, 0},
               {"w-1", "worker", "1.2.3", now - seconds(40), now - seconds(10), false, 3, 16},
               {"w-2", "worker", "1.2.3", now - seconds(99), now - seconds(69), true, 0, 16}};
  NodeApi api(dir, clock, {});
  HttpResponse r = api.List(Get());
  ASSERT_EQ(r.status, 200) << r.body;
  auto body = nlohmann::json::parse(r.body);
  ASSERT_EQ(body["nodes"].size(), 3u);
  const auto& a = body["nodes"][0];
  EXPECT_EQ(a["id"], "api-1");
  EXPECT_EQ(a["role"], "api");
  EXPECT_EQ(a["version"], "1.2.3");
  EXPECT_EQ(a["lastHeartbeat"], FormatRfc3339(now - seconds(5)));
  EXPECT_EQ(a["leaseUntil"], FormatRfc3339(now + seconds(25)));
  EXPECT_EQ(a["state"], "live");
  EXPECT_EQ(a["jobsRunning"], 0);
  EXPECT_EQ(a["capacity"], 0);
  EXPECT_EQ(body["nodes"][1]["state"], "lost") << "its lease passed: lost before it is handled";
  EXPECT_EQ(body["nodes"][1]["jobsRunning"], 3);
  EXPECT_EQ(body["nodes"][1]["capacity"], 16);
  EXPECT_EQ(body["nodes"][2]["state"], "lost");
}

TEST(NodeApiTest, NeedsAKeyWhenConfigured) {
  FakeClock clock;
  FakeDirectory dir;
  NodeApiOptions opts;
  opts.authorize = [](const HttpRequest& req) { return req.Header("x-functions-key") == "k"; };
  NodeApi api(dir, clock, opts);
  EXPECT_EQ(api.List(Get()).status, 401);
  EXPECT_EQ(api.List(Get("k")).status, 200);
}

TEST(NodeApiTest, StoreErrorsMapToHttpCodes) {
  FakeClock clock;
  FakeDirectory dir;
  dir.error = Status::Unavailable("postgres: connection refused");
  NodeApi api(dir, clock, {});
  HttpResponse r = api.List(Get());
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("connection refused"), std::string::npos);
}

}  // namespace
}  // namespace berth
