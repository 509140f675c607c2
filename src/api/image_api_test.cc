#include "api/image_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace berth {
namespace {

class FakeCatalog : public ImageCatalog {
 public:
  Result<std::vector<ImageSummary>> ListImages() override {
    if (!error.ok()) return error;
    return images;
  }
  std::vector<ImageSummary> images;
  Status error;
};

HttpRequest Get(std::string key = "") {
  HttpRequest req;
  req.method = "GET";
  req.path = "/api/images";
  if (!key.empty()) req.headers["x-functions-key"] = key;
  return req;
}

TEST(ImageApiTest, ListsImages) {
  FakeCatalog catalog;
  catalog.images = {{"docker.io/library/busybox:latest", "sha256:abc", 1234, 1}};
  ImageApi api(catalog, {});
  HttpResponse r = api.List(Get());
  ASSERT_EQ(r.status, 200) << r.body;
  auto body = nlohmann::json::parse(r.body);
  ASSERT_EQ(body["images"].size(), 1u);
  EXPECT_EQ(body["images"][0]["reference"], "docker.io/library/busybox:latest");
  EXPECT_EQ(body["images"][0]["digest"], "sha256:abc");
  EXPECT_EQ(body["images"][0]["sizeBytes"], 1234);
  EXPECT_EQ(body["images"][0]["layers"], 1);
}

TEST(ImageApiTest, NeedsAKeyWhenConfigured) {
  FakeCatalog catalog;
  ImageApiOptions opts;
  opts.authorize = [](const HttpRequest& req) { return req.Header("x-functions-key") == "k"; };
  ImageApi api(catalog, opts);
  EXPECT_EQ(api.List(Get()).status, 401);
  EXPECT_EQ(api.List(Get("k")).status, 200);
}

TEST(ImageApiTest, StoreErrorsMapToHttpCodes) {
  FakeCatalog catalog;
  catalog.error = Status::Internal("refs.json is corrupt");
  ImageApi api(catalog, {});
  HttpResponse r = api.List(Get());
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("refs.json is corrupt"), std::string::npos);
}

}  // namespace
}  // namespace berth
