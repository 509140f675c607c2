#include "api/job_json.h"

namespace berth {
namespace {

using json = nlohmann::json;

json TimeOrNull(const std::optional<TimePoint>& t) {
  return t ? json(FormatRfc3339(*t)) : json(nullptr);
}

json CodeOrNull(const std::optional<int>& c) { return c ? json(*c) : json(nullptr); }

}  // namespace

std::string ScrubPaths(std::string text, const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    if (path.empty()) continue;
    for (size_t at = text.find(path); at != std::string::npos;
         at = text.find(path, at + sizeof("<data>") - 1)) {
      text.replace(at, path.size(), "<data>");
    }
  }
  return text;
}

json JobToJson(const JobRecord& job, const std::vector<std::string>& hidden_paths) {
  json history = json::array();
  for (const auto& a : job.history) {
    history.push_back({{"attempt", a.number},
                       {"exitCode", CodeOrNull(a.exit_code)},
                       {"reason", ScrubPaths(a.reason, hidden_paths)},
                       {"startedAt", TimeOrNull(a.started_at)},
                       {"finishedAt", TimeOrNull(a.finished_at)}});
  }
  json j = {
      {"id", job.id},
      {"state", ToString(job.state)},
      {"exitCode", CodeOrNull(job.exit_code)},
      {"reason", ScrubPaths(job.reason, hidden_paths)},
      {"createdAt", FormatRfc3339(job.created_at)},
      {"startedAt", TimeOrNull(job.started_at)},
      {"finishedAt", TimeOrNull(job.finished_at)},
      {"attempts", job.attempts},
      {"image", job.spec.image},
      {"cancelRequested", job.cancel_requested},
      {"history", history},
  };
  if (!job.node.empty()) j["node"] = job.node;  // the node that runs (or ran) it
  if (!job.parent_id.empty()) {
    j["parentId"] = job.parent_id;
    j["arrayIndex"] = job.array_index ? json(*job.array_index) : json(nullptr);
  }
  if (job.spec.count > 0) {
    json children = json::object();
    for (JobState s : {JobState::kQueued, JobState::kPending, JobState::kRunning,
                       JobState::kSucceeded, JobState::kFailed, JobState::kCanceled}) {
      auto it = job.children.find(s);
      children[std::string(ToString(s))] = it == job.children.end() ? 0 : it->second;
    }
    j["array"] = {{"count", job.spec.count},
                  {"parallelism", job.spec.parallelism > 0 ? job.spec.parallelism : job.spec.count},
                  {"completionPolicy", ToString(job.spec.completion_policy)},
                  {"children", children}};
  }
  if (!job.spec.callback_url.empty()) {
    json cb = {{"url", job.spec.callback_url}, {"state", "AwaitingJobEnd"}, {"attempts", 0}};
    if (job.callback) {
      cb["state"] = ToString(job.callback->state);
      cb["attempts"] = job.callback->attempts;
      cb["lastError"] = job.callback->last_error;
      cb["nextAttemptAt"] = TimeOrNull(job.callback->next_attempt_at);
      cb["deliveredAt"] = TimeOrNull(job.callback->delivered_at);
    }
    j["callback"] = cb;
  }
  if (!job.schedule.empty()) {
    j["schedule"] = job.schedule;
    j["scheduledAt"] = TimeOrNull(job.scheduled_at);
  }
  return j;
}

HttpResponse JsonResponse(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

int StatusCodeOf(JobState state) {
  if (state == JobState::kSucceeded) return 200;
  return IsTerminal(state) ? 500 : 202;
}

}  // namespace berth
