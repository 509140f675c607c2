#include "api/web_api.h"

#include "api/web_assets.h"

namespace berth {

void WebApi::Register(Router& router) {
  router.Add("GET", "/", [](const HttpRequest&, const std::vector<std::string>&, Respond respond) {
    respond(Asset("/index.html"));
  });
  router.Add("GET", "/ui/{file}",
             [](const HttpRequest&, const std::vector<std::string>& params, Respond respond) {
               respond(Asset("/" + params[0]));
             });
}

HttpResponse WebApi::Asset(std::string_view path) {
  for (const WebAsset& a : WebAssets()) {
    if (a.path != path) continue;
    HttpResponse r;
    r.content_type = std::string(a.content_type);
    r.body = std::string(a.body);
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                           "script-src 'self'; connect-src 'self'; frame-ancestors 'none'");
    return r;
  }
  return JsonError(404, "no such file: " + std::string(path));
}

}  // namespace berth
