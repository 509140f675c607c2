#include "api/image_api.h"

#include <nlohmann/json.hpp>

#include "api/job_api.h"

namespace berth {

ImageApi::ImageApi(ImageCatalog& catalog, ImageApiOptions opts)
    : catalog_(catalog), opts_(std::move(opts)) {}

void ImageApi::Register(Router& router) {
  router.Add("GET", "/api/images",
             [this](const HttpRequest& req, const std::vector<std::string>&, Respond respond) {
               respond(List(req));
             });
}

HttpResponse ImageApi::List(const HttpRequest& req) {
  if (opts_.authorize && !opts_.authorize(req)) {
    return JsonError(401, "a valid function key is required (?code= or x-functions-key)");
  }
  Result<std::vector<ImageSummary>> images = catalog_.ListImages();
  if (!images.ok()) return JsonError(HttpCodeFor(images.status()), images.status().message());
  nlohmann::json list = nlohmann::json::array();
  for (const ImageSummary& image : *images) {
    list.push_back({{"reference", image.reference},
                    {"digest", image.digest},
                    {"sizeBytes", image.size_bytes},
                    {"layers", image.layers}});
  }
  HttpResponse r;
  r.body = nlohmann::json{{"images", list}}.dump();
  return r;
}

}  // namespace berth
