// KeyApi: the key-management routes, in the shape of the function-key model's admin API. Every
// route needs the master key (`_master`): none or a wrong one answers 401, a function or host
// key 403.
//
//   GET    /admin/functions/{name}/keys            {"keys": [{"name", "value"}, ...]}
//   GET    /admin/functions/{name}/keys/{keyName}  {"name", "value"}
//   PUT    /admin/functions/{name}/keys            body {"name", "value"}: 201 created, 200
//   replaced PUT    /admin/functions/{name}/keys/{keyName}  body {"value"} (optional: generated)
//   POST   /admin/functions/{name}/keys[/{keyName}] generates (or takes "value"); 201 / 200
//   DELETE /admin/functions/{name}/keys/{keyName}  204; unknown 404
//
// and the same under /admin/host/keys for host keys (they work for every function;
// `/admin/host/keys/_master` renews the master key). Thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "api/keys.h"
#include "api/router.h"

namespace berth {

// The key a request presents: the x-functions-key header, else the `code` query parameter.
std::string PresentedKey(const HttpRequest& req);

class KeyApi {
 public:
  explicit KeyApi(std::shared_ptr<KeyStore> keys);

  // Adds the routes to `router`; `this` must outlive it.
  void Register(Router& router);

 private:
  // The refusal for a request without the master key, or nullopt when it has it.
  std::optional<HttpResponse> Refusal(const HttpRequest& req, const std::string& function) const;
  HttpResponse List(const std::string& function) const;
  HttpResponse Get(const std::string& function, const std::string& name) const;
  // PUT or POST; `name` empty on the collection route (the body names the key).
  HttpResponse Put(const HttpRequest& req, const std::string& function, std::string name);
  HttpResponse Delete(const std::string& function, const std::string& name);

  std::shared_ptr<KeyStore> keys_;
};

}  // namespace berth
