#include "api/job_api.h"

#include <nlohmann/json.hpp>

#include "api/job_json.h"
#include "api/key_api.h"
#include "common/random.h"

namespace berth {
namespace {

using json = nlohmann::json;

bool IsBlank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

}  // namespace

int HttpCodeFor(const berth::Status& st) {
  switch (st.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kIoError:
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

std::string LastLines(const std::string& text, size_t n) {
  if (n == 0) return "";
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;
  size_t pos = end;
  size_t found = 0;
  while (pos > 0) {
    if (text[pos - 1] == '\n' && ++found == n) break;
    --pos;
  }
  return text.substr(pos);
}

JobApi::JobApi(JobService& jobs, JobApiOptions opts)
    : jobs_(jobs), opts_(std::move(opts)), poller_(std::make_unique<Scheduler>(clock_)) {
  MutexLock lock(waker_->mu);
  waker_->api = this;
}

JobApi::~JobApi() {
  // Log watches outlive the API when a follower's stream does: from here they reach nothing.
  MutexLock lock(waker_->mu);
  waker_->api = nullptr;
}

void JobApi::Register(Router& router) {
  router.Add("POST", "/api/jobs",
             [this](const HttpRequest& req, const std::vector<std::string>&, Respond respond) {
               HandleSubmit(req, std::move(respond));
             });
  router.Add("GET", "/api/jobs/{id}",
             [this](const HttpRequest& req, const std::vector<std::string>& p, Respond respond) {
               HandleStatus(req, p[0], std::move(respond));
             });
  router.Add("GET", "/api/jobs/{id}/logs",
             [this](const HttpRequest& req, const std::vector<std::string>& p, Respond respond) {
               HandleLogs(req, p[0], std::move(respond));
             });
  router.Add("GET", "/api/jobs",
             [this](const HttpRequest& req, const std::vector<std::string>&, Respond respond) {
               HandleList(req, std::move(respond));
             });
  router.Add("DELETE", "/api/jobs/{id}",
             [this](const HttpRequest& req, const std::vector<std::string>& p, Respond respond) {
               HandleCancel(req, p[0], std::move(respond));
             });
  router.Add("GET", "/healthz",
             [](const HttpRequest&, const std::vector<std::string>&, Respond respond) {
               respond(JsonResponse(200, {{"status", "ok"}}));
             });
}

bool JobApi::Authorized(const HttpRequest& req) const {
  return opts_.keys && opts_.keys->Check("jobs", PresentedKey(req)) != KeyAccess::kNone;
}

bool JobApi::CheckJobRequest(const HttpRequest& req, const std::string& id, bool need_key,
                             const Respond& respond) const {
  if (need_key && !Authorized(req)) {
    respond(JsonError(401, "a valid function key is required (?code= or x-functions-key)"));
    return false;
  }
  if (!IsCanonicalUuid(id)) {
    respond(JsonError(400, "malformed job id: expected a UUID"));
    return false;
  }
  return true;
}

void JobApi::HandleSubmit(const HttpRequest& req, Respond respond) {
  if (!Authorized(req)) {
    respond(JsonError(401, "a valid function key is required (?code= or x-functions-key)"));
    return;
  }
  JobSpec spec = opts_.default_job;
  if (!IsBlank(req.body)) {
    auto parsed = ParseJobSpec(req.body);
    if (!parsed.ok()) {
      respond(JsonError(400, parsed.status().message()));
      return;
    }
    spec = std::move(parsed).value();
  }
  if (spec.network == NetworkMode::kHost && !opts_.allow_host_network) {
    respond(JsonError(400, "field 'network': \"host\" is not allowed (AllowHostNetwork is off)"));
    return;
  }
  if (opts_.check_spec) {
    if (Status st = opts_.check_spec(spec); !st.ok()) {
      respond(JsonError(HttpCodeFor(st), st.message()));
      return;
    }
  }
  std::string host = req.Header("host");
  SubmitOptions submit;
  submit.idempotency_key = req.Header("idempotency-key");
  if (submit.idempotency_key.size() > 256) {
    respond(JsonError(400, "Idempotency-Key is longer than 256 characters"));
    return;
  }
  // With an Idempotency-Key the answer may be an earlier job: it must have been asked with the
  // same spec (compared in canonical form), else 422 as in the IETF idempotency-key draft.
  std::string canonical = submit.idempotency_key.empty() ? "" : JobSpecToJson(spec, true);
  jobs_.Submit(std::move(spec), submit, [this, respond, host, canonical](Result<std::string> id) {
    if (!id.ok()) {
      respond(JsonError(HttpCodeFor(id.status()), "job not queued: " + id.status().message()));
      return;
    }
    if (!canonical.empty()) {
      auto job = jobs_.Get(*id);
      if (job.ok() && JobSpecToJson(job->spec, true) != canonical) {
        respond(JsonError(422,
                          "Idempotency-Key was already used with a different request body "
                          "(job " +
                              *id + "); use a new key for a new job"));
        return;
      }
    }
    std::string location = "/api/jobs/" + *id;
    std::string url = host.empty() ? location : "http://" + host + location;
    HttpResponse r = JsonResponse(202, {{"id", *id}, {"statusUrl", url}});
    r.headers.emplace_back("Location", location);
    r.headers.emplace_back("Retry-After", "1");
    respond(std::move(r));
  });
}

void JobApi::HandleStatus(const HttpRequest& req, const std::string& id, Respond respond) {
  if (!CheckJobRequest(req, id, opts_.status_requires_key, respond)) return;
  auto job = jobs_.Get(id);
  if (!job.ok()) {
    respond(JsonError(HttpCodeFor(job.status()), job.status().message()));
    return;
  }
  // A finished job's answer never changes: reuse it while the record says the same finish.
  std::string cache_key = id + "?" + req.Query("tail").value_or("*");
  int64_t finished_ms = job->finished_at ? ToUnixMillis(*job->finished_at) : -1;
  // (A callback still being delivered changes the answer: not cached until it is settled.)
  bool cacheable = IsTerminal(job->state) && job->finished_at.has_value() &&
                   (job->spec.callback_url.empty() ||
                    (job->callback && job->callback->state != CallbackState::kPending));
  if (cacheable) {
    if (auto body = rendered_.Get(cache_key, finished_ms)) {
      HttpResponse r;
      r.status = StatusCodeOf(job->state);
      r.body = std::move(*body);
      respond(std::move(r));
      return;
    }
  }
  auto log = jobs_.ReadLog(id, opts_.max_status_log_bytes);
  std::string logs = log.ok() ? log->text : "";
  if (auto tail = req.Query("tail")) {
    char* end = nullptr;
    unsigned long long n = std::strtoull(tail->c_str(), &end, 10);
    if (tail->empty() || tail->size() > 9 ||
        tail->find_first_not_of("0123456789") != std::string::npos || *end != '\0') {
      respond(JsonError(400, "tail must be a non-negative whole number"));
      return;
    }
    logs = LastLines(logs, n);
  }
  int code = StatusCodeOf(job->state);
  json body = JobToJson(*job, opts_.hidden_paths);
  body["logs"] = logs;
  body["logsTruncated"] = log.ok() && log->truncated;
  HttpResponse r = JsonResponse(code, body);
  if (code == 202) r.headers.emplace_back("Retry-After", "1");
  if (cacheable && log.ok()) rendered_.Put(cache_key, finished_ms, r.body);
  respond(std::move(r));
}

void JobApi::HandleLogs(const HttpRequest& req, const std::string& id, Respond respond) {
  if (!CheckJobRequest(req, id, opts_.status_requires_key, respond)) return;
  auto job = jobs_.Get(id);
  if (!job.ok()) {
    respond(JsonError(HttpCodeFor(job.status()), job.status().message()));
    return;
  }
  // Streamed in bounded chunks as the client takes them: a reader of a big log never makes the
  // daemon hold the whole log (anyone may ask, many at once).
  HttpResponse r;
  r.content_type = "text/plain; charset=utf-8";
  r.stream = StreamLog(id, req.Query("follow").value_or("") == "true");
  respond(std::move(r));
}

}  // namespace berth
