// ImageApi: the image route of the HTTP API.
//
//   GET /api/images   {"images": [{"reference", "digest", "sizeBytes", "layers"}, ...]}
//
// The API sees images only through ImageCatalog, which the daemon implements over the image
// store (the api layer never includes images/ headers). Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "api/router.h"
#include "common/status.h"

namespace berth {

// One stored image as the API shows it.
struct ImageSummary {
  std::string reference;  // normalized, e.g. "docker.io/library/busybox:latest"
  std::string digest;     // manifest digest
  uint64_t size_bytes = 0;
  int layers = 0;
};

// What the image routes need from the node.
class ImageCatalog {
 public:
  virtual ~ImageCatalog() = default;
  // Every tagged image.
  virtual Result<std::vector<ImageSummary>> ListImages() = 0;
};

struct ImageApiOptions {
  // Whether a request may list images; null = anyone may.
  std::function<bool(const HttpRequest&)> authorize;
};

class ImageApi {
 public:
  ImageApi(ImageCatalog& catalog, ImageApiOptions opts);

  // Adds the routes to `router`; `this` must outlive it.
  void Register(Router& router);

  // The answer to GET /api/images (exposed for tests).
  HttpResponse List(const HttpRequest& req);

 private:
  ImageCatalog& catalog_;
  ImageApiOptions opts_;
};

}  // namespace berth
