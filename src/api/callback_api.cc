#include "api/callback_api.h"

#include <cctype>

#include "api/job_json.h"

namespace berth {

void CallbackApi::Register(Router& router) {
  router.Add(
      "GET", "/admin/callback-secret",
      [this](const HttpRequest& req, const std::vector<std::string>&, Respond respond) {
        if (!opts_.is_master || !opts_.is_master(req)) {
          respond(JsonError(401, "the master key is required (?code= or x-functions-key)"));
          return;
        }
        std::string host = req.Query("host").value_or("");
        for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (host.empty() || host.size() > 253 ||
            host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-._:") !=
                std::string::npos) {
          respond(JsonError(400, "host must be the callback URL's host name or address"));
          return;
        }
        respond(JsonResponse(200, {{"host", host}, {"secret", opts_.secret_for_host(host)}}));
      });
}

}  // namespace berth
