// ScheduleApi: the schedule routes of the HTTP API (function key on every one).
//
//   POST   /api/schedules          {"name","schedule","job",...}: 201 + Location; 409 if taken
//   GET    /api/schedules          {"schedules": [...]}
//   GET    /api/schedules/{name}   the schedule with nextFireTime, lastFireTime, lastJobId
//   PUT    /api/schedules/{name}   create (201) or replace (200); a body "name" must match
//   PATCH  /api/schedules/{name}   {"enabled": bool} only: enable or disable, keeping the rest
//   DELETE /api/schedules/{name}   204; 404 when unknown
//
// Handlers parse, call the ScheduleService and map its Status to a code. Thread-safe.
#pragma once

#include <functional>

#include "api/router.h"
#include "job/schedule.h"

namespace berth {

struct ScheduleApiOptions {
  // Whether a request carries a valid function key; null = anyone may.
  std::function<bool(const HttpRequest&)> authorize;
  bool allow_host_network = false;  // AllowHostNetwork: a schedule's job may ask for "host"
};

class ScheduleApi {
 public:
  ScheduleApi(ScheduleService& schedules, ScheduleApiOptions opts);
  // Adds the routes to `router`; `this` must outlive it.
  void Register(Router& router);

 private:
  // The spec in `body` (with `path_name` when the route names it), or the 400 to answer.
  Result<ScheduleSpec> ParseBody(const std::string& body, const std::string* path_name);

  ScheduleService& schedules_;
  ScheduleApiOptions opts_;
};

}  // namespace berth
