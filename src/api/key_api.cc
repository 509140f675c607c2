#include "api/key_api.h"

#include <nlohmann/json.hpp>

#include "api/job_api.h"

namespace berth {
namespace {

using json = nlohmann::json;

HttpResponse Json(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse Error(const Status& st) { return JsonError(HttpCodeFor(st), st.message()); }

std::string KeysPath(const std::string& function) {
  return function.empty() ? "/admin/host/keys" : "/admin/functions/" + function + "/keys";
}

// The optional "name" and "value" strings of a PUT/POST body. An empty body has neither.
Status ParseKeyBody(const std::string& body, std::string& name, std::string& value) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return Status::Ok();
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::InvalidArgument("the body must be a JSON object {\"name\", \"value\"}");
  }
  for (const auto& [k, v] : doc.items()) {
    if (k != "name" && k != "value") {
      return Status::InvalidArgument("field '" + k + "': unknown field");
    }
    if (!v.is_string()) return Status::InvalidArgument("field '" + k + "': must be a string");
    (k == "name" ? name : value) = v.get<std::string>();
  }
  return Status::Ok();
}

}  // namespace

std::string PresentedKey(const HttpRequest& req) {
  std::string key = req.Header("x-functions-key");
  if (key.empty()) key = req.Query("code").value_or("");
  return key;
}

KeyApi::KeyApi(std::shared_ptr<KeyStore> keys) : keys_(std::move(keys)) {}

void KeyApi::Register(Router& router) {
  // `function` is "" for the host routes; `p` holds the captured segments.
  auto add = [&](const std::string& method, const std::string& pattern, bool host, auto handle) {
    router.Add(method, pattern,
               [this, host, handle](const HttpRequest& req, const std::vector<std::string>& p,
                                    Respond respond) {
                 std::string function = host ? "" : p[0];
                 std::string name = p.size() > (host ? 0u : 1u) ? p.back() : "";
                 if (auto refusal = Refusal(req, function)) {
                   respond(std::move(*refusal));
                   return;
                 }
                 respond(handle(req, function, name));
               });
  };
  for (bool host : {false, true}) {
    std::string base = host ? "/admin/host/keys" : "/admin/functions/{name}/keys";
    add("GET", base, host,
        [this](const HttpRequest&, const std::string& f, const std::string&) { return List(f); });
    add("GET", base + "/{keyName}", host,
        [this](const HttpRequest&, const std::string& f, const std::string& n) {
          return Get(f, n);
        });
    for (const char* method : {"PUT", "POST"}) {
      add(method, base, host,
          [this](const HttpRequest& req, const std::string& f, const std::string&) {
            return Put(req, f, "");
          });
      add(method, base + "/{keyName}", host,
          [this](const HttpRequest& req, const std::string& f, const std::string& n) {
            return Put(req, f, n);
          });
    }
    add("DELETE", base + "/{keyName}", host,
        [this](const HttpRequest&, const std::string& f, const std::string& n) {
          return Delete(f, n);
        });
  }
}

std::optional<HttpResponse> KeyApi::Refusal(const HttpRequest& req,
                                            const std::string& function) const {
  std::string key = PresentedKey(req);
  if (key.empty()) {
    return JsonError(401, "the master key is required (?code= or x-functions-key)");
  }
  switch (keys_->Check(function, key)) {
    case KeyAccess::kMaster:
      return std::nullopt;
    case KeyAccess::kFunction:
      return JsonError(403, "only the master key may manage keys");
    case KeyAccess::kNone:
      break;
  }
  return JsonError(401, "the master key is required (?code= or x-functions-key)");
}

HttpResponse KeyApi::List(const std::string& function) const {
  auto keys = keys_->List(function);
  if (!keys.ok()) return Error(keys.status());
  json list = json::array();
  for (const auto& k : *keys) list.push_back({{"name", k.name}, {"value", k.value}});
  return Json(200, {{"keys", list}});
}

HttpResponse KeyApi::Get(const std::string& function, const std::string& name) const {
  auto keys = keys_->List(function);
  if (!keys.ok()) return Error(keys.status());
  for (const auto& k : *keys) {
    if (k.name == name) return Json(200, {{"name", k.name}, {"value", k.value}});
  }
  return JsonError(404, "no key named '" + name + "'");
}

HttpResponse KeyApi::Put(const HttpRequest& req, const std::string& function, std::string name) {
  std::string body_name, value;
  if (Status st = ParseKeyBody(req.body, body_name, value); !st.ok()) return Error(st);
  if (name.empty()) {
    if (body_name.empty()) return JsonError(400, "field 'name': is required");
    name = body_name;
  } else if (!body_name.empty() && body_name != name) {
    return JsonError(400, "field 'name': does not match the key named in the path");
  }
  auto put = keys_->Put(function, name, value);
  if (!put.ok()) return Error(put.status());
  HttpResponse r =
      Json(put->created ? 201 : 200, {{"name", put->key.name}, {"value", put->key.value}});
  if (put->created) r.headers.emplace_back("Location", KeysPath(function) + "/" + put->key.name);
  return r;
}

HttpResponse KeyApi::Delete(const std::string& function, const std::string& name) {
  if (Status st = keys_->Delete(function, name); !st.ok()) return Error(st);
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

}  // namespace berth
