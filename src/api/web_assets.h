// The dashboard's static files (web/ in the source tree), compiled into the binary by the
// build (cmake/embed_web.cmake generates the definition of WebAssets).
#pragma once

#include <string_view>
#include <vector>

namespace berth {

struct WebAsset {
  std::string_view path;  // "/index.html", "/app.js"
  std::string_view content_type;
  std::string_view body;
};

// Every file, sorted by path.
const std::vector<WebAsset>& WebAssets();

}  // namespace berth
