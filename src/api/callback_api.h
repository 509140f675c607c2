// CallbackApi: how a receiver's owner gets the key that signs its callbacks.
//
//   GET /admin/callback-secret?host=H   master key; {"host": H, "secret": hex}
//
// Callbacks to host H carry X-Berth-Signature: sha256=<hex HMAC-SHA256(secret, body)>, with
// this host's secret (derived from the node's callback secret: each host gets its own).
// Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "api/router.h"

namespace berth {

struct CallbackApiOptions {
  // Whether a request carries the master key.
  std::function<bool(const HttpRequest&)> is_master;
  // The signing secret of callbacks to `host` (lower-case).
  std::function<std::string(std::string_view host)> secret_for_host;
};

class CallbackApi {
 public:
  explicit CallbackApi(CallbackApiOptions opts) : opts_(std::move(opts)) {}
  // Adds the route to `router`; `this` must outlive it.
  void Register(Router& router);

 private:
  CallbackApiOptions opts_;
};

}  // namespace berth
