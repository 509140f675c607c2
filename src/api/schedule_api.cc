#include "api/schedule_api.h"

#include <nlohmann/json.hpp>

#include "api/job_api.h"
#include "api/job_json.h"

namespace berth {
namespace {

using json = nlohmann::json;

json ViewToJson(const ScheduleView& v) {
  json j = json::parse(ScheduleSpecToJson(v.record.spec, /*include_secrets=*/false));
  const ScheduleRecord& r = v.record;
  j["createdAt"] = FormatRfc3339(r.created_at);
  j["updatedAt"] = FormatRfc3339(r.updated_at);
  j["nextFireTime"] = v.next_fire_at ? json(FormatRfc3339(*v.next_fire_at)) : json(nullptr);
  j["lastFireTime"] = r.last_fired_at ? json(FormatRfc3339(*r.last_fired_at)) : json(nullptr);
  j["lastJobId"] = r.last_job_id.empty() ? json(nullptr) : json(r.last_job_id);
  j["firedCount"] = r.fired_count;
  j["skippedCount"] = r.skipped_count;
  return j;
}

HttpResponse ErrorFor(const Status& st) { return JsonError(HttpCodeFor(st), st.message()); }

}  // namespace

ScheduleApi::ScheduleApi(ScheduleService& schedules, ScheduleApiOptions opts)
    : schedules_(schedules), opts_(std::move(opts)) {}

Result<ScheduleSpec> ScheduleApi::ParseBody(const std::string& body, const std::string* path_name) {
  std::string text = body;
  if (path_name != nullptr) {
    // The route names the schedule: a body may leave "name" out, never contradict it.
    json doc;
    try {
      doc = json::parse(body);
    } catch (const json::exception& e) {
      return Status::InvalidArgument(std::string("malformed JSON: ") + e.what());
    }
    if (!doc.is_object()) return Status::InvalidArgument("the schedule must be a JSON object");
    if (doc.contains("name") && doc["name"] != *path_name) {
      return Status::InvalidArgument("field 'name': must match the name in the URL ('" +
                                     *path_name + "')");
    }
    doc["name"] = *path_name;
    text = doc.dump();
  }
  ASSIGN_OR_RETURN(ScheduleSpec spec, ParseScheduleSpec(text));
  if (spec.job.network == NetworkMode::kHost && !opts_.allow_host_network) {
    return Status::InvalidArgument(
        "field 'job.network': \"host\" is not allowed (AllowHostNetwork is off)");
  }
  return spec;
}

void ScheduleApi::Register(Router& router) {
  auto guarded = [this](auto handler) {
    return [this, handler](const HttpRequest& req, const std::vector<std::string>& p,
                           Respond respond) {
      if (opts_.authorize && !opts_.authorize(req)) {
        respond(JsonError(401, "a valid function key is required (?code= or x-functions-key)"));
        return;
      }
      respond(handler(req, p));
    };
  };
  router.Add("POST", "/api/schedules",
             guarded([this](const HttpRequest& req, const std::vector<std::string>&) {
               auto spec = ParseBody(req.body, nullptr);
               if (!spec.ok()) return ErrorFor(spec.status());
               auto v = schedules_.Create(std::move(spec).value());
               if (!v.ok()) return ErrorFor(v.status());
               HttpResponse r = JsonResponse(201, ViewToJson(*v));
               r.headers.emplace_back("Location", "/api/schedules/" + v->record.spec.name);
               return r;
             }));
  router.Add("GET", "/api/schedules",
             guarded([this](const HttpRequest&, const std::vector<std::string>&) {
               auto all = schedules_.List();
               if (!all.ok()) return ErrorFor(all.status());
               json list = json::array();
               for (const ScheduleView& v : *all) list.push_back(ViewToJson(v));
               return JsonResponse(200, {{"schedules", list}});
             }));
  router.Add("GET", "/api/schedules/{name}",
             guarded([this](const HttpRequest&, const std::vector<std::string>& p) {
               if (Status st = ValidateScheduleName(p[0]); !st.ok()) return ErrorFor(st);
               auto v = schedules_.Get(p[0]);
               if (!v.ok()) return ErrorFor(v.status());
               return JsonResponse(200, ViewToJson(*v));
             }));
  router.Add("PUT", "/api/schedules/{name}",
             guarded([this](const HttpRequest& req, const std::vector<std::string>& p) {
               if (Status st = ValidateScheduleName(p[0]); !st.ok()) return ErrorFor(st);
               auto spec = ParseBody(req.body, &p[0]);
               if (!spec.ok()) return ErrorFor(spec.status());
               auto v = schedules_.Put(std::move(spec).value());
               if (!v.ok()) return ErrorFor(v.status());
               HttpResponse r = JsonResponse(v->created ? 201 : 200, ViewToJson(*v));
               if (v->created) r.headers.emplace_back("Location", "/api/schedules/" + p[0]);
               return r;
             }));
  router.Add("PATCH", "/api/schedules/{name}",
             guarded([this](const HttpRequest& req, const std::vector<std::string>& p) {
               if (Status st = ValidateScheduleName(p[0]); !st.ok()) return ErrorFor(st);
               json doc = json::parse(req.body, nullptr, false);
               if (!doc.is_object() || doc.size() != 1 || !doc.contains("enabled") ||
                   !doc["enabled"].is_boolean()) {
                 return JsonError(400, "PATCH takes {\"enabled\": true|false} only");
               }
               auto v = schedules_.SetEnabled(p[0], doc["enabled"].get<bool>());
               if (!v.ok()) return ErrorFor(v.status());
               return JsonResponse(200, ViewToJson(*v));
             }));
  router.Add("DELETE", "/api/schedules/{name}",
             guarded([this](const HttpRequest&, const std::vector<std::string>& p) {
               if (Status st = ValidateScheduleName(p[0]); !st.ok()) return ErrorFor(st);
               if (Status st = schedules_.Delete(p[0]); !st.ok()) return ErrorFor(st);
               HttpResponse r;
               r.status = 204;
               return r;
             }));
}

}  // namespace berth
