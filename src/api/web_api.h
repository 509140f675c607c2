// WebApi: the dashboard, served by berth itself from the assets compiled into the binary.
//
//   GET /             index.html
//   GET /ui/{file}    app.js, style.css, ...
//
// Anonymous: the page holds no data; it asks for a key and calls the API with it.
#pragma once

#include "api/router.h"

namespace berth {

class WebApi {
 public:
  // Adds the routes to `router`.
  static void Register(Router& router);
  // The answer for the asset at `path` ("/index.html"); 404 when there is none.
  static HttpResponse Asset(std::string_view path);
};

}  // namespace berth
