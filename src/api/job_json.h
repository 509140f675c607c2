// How a job looks in the API's JSON: one place, shared by status, list and cancel answers.
#pragma once

#include <nlohmann/json.hpp>

#include "api/http_types.h"
#include "job/job.h"

namespace berth {

// {"id","state","exitCode","reason","createdAt","startedAt","finishedAt","attempts","image",
//  "cancelRequested","history":[{"attempt","exitCode","reason","startedAt","finishedAt"}]}.
// Never includes secrets (secure environment variables are not part of it).
nlohmann::json JobToJson(const JobRecord& job);

// `body` as a JSON response with `status` (invalid UTF-8 is replaced, never thrown on).
HttpResponse JsonResponse(int status, const nlohmann::json& body);

// The status code of a job's status URL: 200 Succeeded, 500 Failed or Canceled, else 202.
int StatusCodeOf(JobState state);

}  // namespace berth
