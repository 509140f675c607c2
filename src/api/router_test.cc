#include "api/router.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

int Answer(const Router& router, std::string method, std::string path) {
  HttpRequest req;
  req.method = std::move(method);
  req.path = std::move(path);
  int status = 0;
  router.Handle(req, [&](HttpResponse r) { status = r.status; });
  return status;
}

Router WithRoute() {
  Router router;
  router.Add("GET", "/subscriptions/{sub}/resourceGroups",
             [](const HttpRequest&, const std::vector<std::string>& p, Respond respond) {
               HttpResponse r;
               r.status = p[0] == "S1" ? 200 : 500;  // captures keep their case
               respond(std::move(r));
             });
  return router;
}

TEST(RouterTest, LiteralSegmentsAreCaseSensitiveByDefault) {
  Router router = WithRoute();
  EXPECT_EQ(Answer(router, "GET", "/subscriptions/S1/resourceGroups"), 200);
  EXPECT_EQ(Answer(router, "GET", "/subscriptions/S1/resourcegroups"), 404);
}

TEST(RouterTest, IgnoreCaseMatchesLiteralsInAnyCaseAndKeepsCaptures) {
  Router router = WithRoute();
  router.IgnoreCase();
  EXPECT_EQ(Answer(router, "GET", "/SUBSCRIPTIONS/S1/resourcegroups"), 200);
  EXPECT_EQ(Answer(router, "GET", "/subscriptions/S1/resourceGroupz"), 404);
  EXPECT_EQ(Answer(router, "POST", "/subscriptions/S1/RESOURCEGROUPS"), 405);
}

}  // namespace
}  // namespace berth
