// How a job looks in the API's JSON: one place, shared by status, list and cancel answers.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/http_types.h"
#include "job/job.h"

namespace berth {

// {"id","state","exitCode","reason","createdAt","startedAt","finishedAt","attempts","image",
//  "cancelRequested","history":[{"attempt","exitCode","reason","startedAt","finishedAt"}]}.
// Never includes secrets (secure environment variables are not part of it). Every occurrence of
// a `hidden_paths` entry in a reason (host paths such as the data dir) is shown as "<data>".
nlohmann::json JobToJson(const JobRecord& job, const std::vector<std::string>& hidden_paths = {});

// `text` with every occurrence of each non-empty `paths` entry replaced by "<data>".
std::string ScrubPaths(std::string text, const std::vector<std::string>& paths);

// `body` as a JSON response with `status` (invalid UTF-8 is replaced, never thrown on).
HttpResponse JsonResponse(int status, const nlohmann::json& body);

// The status code of a job's status URL: 200 Succeeded, 500 Failed or Canceled, else 202.
int StatusCodeOf(JobState state);

}  // namespace berth
