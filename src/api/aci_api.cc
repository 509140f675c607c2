#include "api/aci_api.h"

#include <nlohmann/json.hpp>

#include "api/arm_error.h"
#include "api/job_api.h"
#include "api/job_json.h"
#include "common/random.h"
#include "common/url_encoding.h"

namespace berth {
namespace {

using json = nlohmann::json;

constexpr char kGroups[] =
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerInstance/"
    "containerGroups";
constexpr size_t kMaxLogBytes = 4 << 20;  // ACI's logs answer at most 4 MB

std::string BearerToken(const HttpRequest& req) {
  std::string auth = req.Header("authorization");
  constexpr std::string_view kBearer = "bearer ";
  if (auth.size() <= kBearer.size()) return "";
  for (size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(auth[i])) != kBearer[i]) return "";
  }
  return auth.substr(kBearer.size());
}

// A Host header fit to build URLs from: a name or address and an optional port.
bool UsableHost(const std::string& host) {
  if (host.empty() || host.size() > 255) return false;
  return host.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
             ".-:[]") == std::string::npos;
}

ArmError GroupNotFound(const AciGroupRef& ref) {
  return {404, "ResourceNotFound",
          "The Resource '" + std::string(kAciGroupType) + "/" + ref.name +
              "' under resource group '" + ref.resource_group + "' was not found."};
}

}  // namespace

AciApi::AciApi(JobService& jobs, AciApiOptions opts)
    : jobs_(jobs), opts_(std::move(opts)), poller_(std::make_unique<Scheduler>(clock_)) {}

AciApi::~AciApi() = default;

void AciApi::Register(Router& router) {
  router.IgnoreCase();
  const std::string groups = kGroups;
  const std::string group = groups + "/{name}";
  auto ref_of = [](const Params& p) { return AciGroupRef{p[0], p[1], p[2]}; };
  router.Add("PUT", group, [this, ref_of](const HttpRequest& req, const Params& p, Respond r) {
    if (Check(req, p, 3, r)) HandlePut(req, ref_of(p), std::move(r));
  });
  router.Add("GET", group, [this, ref_of](const HttpRequest& req, const Params& p, Respond r) {
    if (Check(req, p, 3, r)) HandleGet(req, ref_of(p), std::move(r));
  });
  router.Add("DELETE", group, [this, ref_of](const HttpRequest& req, const Params& p, Respond r) {
    if (Check(req, p, 3, r)) HandleDelete(req, ref_of(p), std::move(r));
  });
  router.Add("GET", groups, [this](const HttpRequest& req, const Params& p, Respond r) {
    if (Check(req, p, 2, r)) HandleList(req, p[0], p[1], std::move(r));
  });
  router.Add("GET", "/subscriptions/{sub}/providers/Microsoft.ContainerInstance/containerGroups",
             [this](const HttpRequest& req, const Params& p, Respond r) {
               if (Check(req, p, 1, r)) HandleList(req, p[0], "", std::move(r));
             });
  router.Add("GET", group + "/containers/{container}/logs",
             [this, ref_of](const HttpRequest& req, const Params& p, Respond r) {
               if (Check(req, p, 3, r)) HandleLogs(req, ref_of(p), p[3], std::move(r));
             });
  router.Add("POST", group + "/stop",
             [this, ref_of](const HttpRequest& req, const Params& p, Respond r) {
               if (Check(req, p, 3, r)) HandleStop(req, ref_of(p), std::move(r));
             });
  for (bool restart : {false, true}) {
    router.Add("POST", group + (restart ? "/restart" : "/start"),
               [this, ref_of, restart](const HttpRequest& req, const Params& p, Respond r) {
                 if (Check(req, p, 3, r)) HandleStart(req, ref_of(p), restart, std::move(r));
               });
  }
  router.Add("GET", "/subscriptions/{sub}/providers/Microsoft.ContainerInstance/operations/{id}",
             [this](const HttpRequest& req, const Params& p, Respond r) {
               if (Check(req, p, 1, r)) HandleOperation(req, p[0], p[1], std::move(r));
             });
}

bool AciApi::Check(const HttpRequest& req, const Params& params, size_t parts,
                   const Respond& respond) const {
  std::string token = BearerToken(req);
  if (!opts_.keys || opts_.keys->Check("", token) == KeyAccess::kNone) {
    respond(ArmErrorResponse(AuthenticationFailed(
        token.empty() ? "Authentication failed. The 'Authorization' header is missing or is not "
                        "'Bearer <token>' (the token is a berth host key or the master key)."
                      : "Authentication failed. The bearer token is not a berth host key or the "
                        "master key.")));
    return false;
  }
  if (!req.Query("api-version")) {
    respond(ArmErrorResponse(MissingApiVersion()));
    return false;
  }
  std::optional<ArmError> bad = CheckSubscription(params[0]);
  if (!bad && parts >= 2) bad = CheckResourceGroup(params[1]);
  if (!bad && parts >= 3) bad = CheckGroupName(params[2], "containerGroupName");
  if (bad) {
    respond(ArmErrorResponse(*bad));
    return false;
  }
  return true;
}

Result<JobRecord> AciApi::FindGroup(const AciGroupRef& ref) {
  ASSIGN_OR_RETURN(JobRecord job, jobs_.FindByIdempotencyKey(ref.Key()));
  if (!IsContainerGroup(job)) return Status::NotFound("not a container group");
  return job;
}

void AciApi::RespondError(const Status& st, const AciGroupRef& ref, const Respond& respond) const {
  respond(ArmErrorResponse(st.IsNotFound() ? GroupNotFound(ref) : ArmErrorFor(st)));
}

std::string AciApi::BaseUrl(const HttpRequest& req) const {
  std::string host = req.Header("host");
  return UsableHost(host) ? "https://" + host : opts_.base_url;
}

std::string AciApi::OperationUrl(const HttpRequest& req, const AciGroupRef& ref,
                                 const std::string& job_id) const {
  return BaseUrl(req) + "/subscriptions/" + ref.subscription +
         "/providers/Microsoft.ContainerInstance/operations/" + job_id +
         "?api-version=" + PercentEncode(req.Query("api-version").value_or(""));
}

void AciApi::HandlePut(const HttpRequest& req, const AciGroupRef& ref, Respond respond) {
  auto parsed = ParseContainerGroup(req.body, ref, opts_.default_location);
  if (auto* err = std::get_if<ArmError>(&parsed)) {
    respond(ArmErrorResponse(*err));
    return;
  }
  JobSpec spec = std::move(std::get<JobSpec>(parsed));
  auto existing = FindGroup(ref);
  if (!existing.ok() && !existing.status().IsNotFound()) {
    respond(ArmErrorResponse(ArmErrorFor(existing.status())));
    return;
  }
  if (!existing.ok()) {
    Create(req, ref, std::move(spec), 201, std::move(respond));
    return;
  }
  if (SameGroupSpec(existing->spec, spec)) {
    HttpResponse r = JsonResponse(200, ContainerGroupToJson(*existing, opts_.hidden_paths));
    if (!IsTerminal(existing->state)) {
      r.headers.emplace_back("Azure-AsyncOperation", OperationUrl(req, ref, existing->id));
      r.headers.emplace_back("Retry-After", "1");
    }
    respond(std::move(r));
    return;
  }
  if (!IsTerminal(existing->state)) {
    respond(ArmErrorResponse(
        {409, "ContainerGroupUpdateConflict",
         "Container group '" + ref.name + "' is " + GroupState(*existing) +
             " with another spec: berth cannot update a running group (stop or delete it, or "
             "wait for it to end)."}));
    return;
  }
  // An ended group asked for with a new spec is replaced, as an update re-creates it in ACI.
  if (Status st = jobs_.Delete(existing->id); !st.ok() && !st.IsNotFound()) {
    respond(ArmErrorResponse(ArmErrorFor(st)));
    return;
  }
  Create(req, ref, std::move(spec), 200, std::move(respond));
}

void AciApi::Create(const HttpRequest& req, const AciGroupRef& ref, JobSpec spec, int status,
                    Respond respond) {
  SubmitOptions submit;
  submit.idempotency_key = ref.Key();
  JobSpec asked = spec;
  std::string op_base = OperationUrl(req, ref, "");
  jobs_.Submit(
      std::move(spec), submit,
      [this, ref, asked = std::move(asked), op_base, status,
       respond = std::move(respond)](Result<std::string> id) {
        if (!id.ok()) {
          respond(ArmErrorResponse(ArmErrorFor(id.status())));
          return;
        }
        auto job = jobs_.Get(*id);
        if (!job.ok()) {
          RespondError(job.status(), ref, respond);
          return;
        }
        // A concurrent PUT of the same name may have won with another spec.
        if (!SameGroupSpec(job->spec, asked)) {
          respond(
              ArmErrorResponse({409, "ContainerGroupUpdateConflict",
                                "Container group '" + ref.name +
                                    "' was just created by another request with another spec."}));
          return;
        }
        HttpResponse r = JsonResponse(status, ContainerGroupToJson(*job, opts_.hidden_paths));
        size_t q = op_base.find('?');
        r.headers.emplace_back("Azure-AsyncOperation",
                               op_base.substr(0, q) + *id + op_base.substr(q));
        r.headers.emplace_back("Retry-After", "1");
        respond(std::move(r));
      });
}

void AciApi::HandleGet(const HttpRequest&, const AciGroupRef& ref, Respond respond) {
  auto job = FindGroup(ref);
  if (!job.ok()) {
    RespondError(job.status(), ref, respond);
    return;
  }
  respond(JsonResponse(200, ContainerGroupToJson(*job, opts_.hidden_paths)));
}

void AciApi::DeleteWhenEnded(std::string id, TimePoint deadline,
                             std::function<void(Result<JobRecord>)> then) {
  auto job = jobs_.Get(id);
  if (!job.ok()) {
    then(job.status());
    return;
  }
  if (IsTerminal(job->state)) {
    Status st = jobs_.Delete(id);
    if (st.ok() || st.IsNotFound()) {
      then(std::move(job).value());
      return;
    }
    // FailedPrecondition: its monitor is still finishing; look again.
    if (st.code() != StatusCode::kFailedPrecondition) {
      then(st);
      return;
    }
  }
  if (clock_.Now() >= deadline) {
    then(Status::FailedPrecondition("container group is still stopping; try again"));
    return;
  }
  poller_->After(opts_.poll, [this, id = std::move(id), deadline, then = std::move(then)] {
    DeleteWhenEnded(id, deadline, then);
  });
}

void AciApi::HandleDelete(const HttpRequest&, const AciGroupRef& ref, Respond respond) {
  auto job = FindGroup(ref);
  if (!job.ok()) {
    if (job.status().IsNotFound()) {
      HttpResponse r;
      r.status = 204;
      respond(std::move(r));
    } else {
      RespondError(job.status(), ref, respond);
    }
    return;
  }
  if (!IsTerminal(job->state)) {
    auto canceled = jobs_.Cancel(job->id);
    if (!canceled.ok() && !canceled.status().IsNotFound()) {
      RespondError(canceled.status(), ref, respond);
      return;
    }
  }
  DeleteWhenEnded(job->id, clock_.Now() + opts_.stop_wait,
                  [this, ref, respond = std::move(respond)](Result<JobRecord> last) {
                    if (!last.ok()) {
                      RespondError(last.status(), ref, respond);
                      return;
                    }
                    respond(JsonResponse(200, ContainerGroupToJson(*last, opts_.hidden_paths)));
                  });
}

void AciApi::HandleList(const HttpRequest& req, const std::string& sub, const std::string& rg,
                        Respond respond) {
  std::string prefix = AciKeyPrefix(sub, rg);
  std::string cursor = req.Query("$skipToken").value_or("");
  json value = json::array();
  int scanned = 0;
  constexpr int kBatch = 200;
  for (;;) {
    auto page = jobs_.List(std::nullopt, kBatch, cursor);
    if (!page.ok()) {
      respond(ArmErrorResponse(ArmErrorFor(page.status())));
      return;
    }
    for (const JobRecord& listed : page->jobs) {
      // A listing carries summaries: a group's name, location and tags live in its whole spec.
      if (!listed.idempotency_key.starts_with(prefix)) continue;
      auto job = jobs_.Get(listed.id);
      if (job.ok() && IsContainerGroup(*job)) {
        value.push_back(ContainerGroupToJson(*job, opts_.hidden_paths));
      }
    }
    scanned += static_cast<int>(page->jobs.size());
    cursor = page->next_cursor;
    if (cursor.empty() || static_cast<int>(value.size()) >= opts_.list_page_size ||
        scanned >= opts_.list_scan_limit) {
      break;
    }
  }
  json body = {{"value", std::move(value)}};
  if (!cursor.empty()) {
    std::string path = "/subscriptions/" + sub + (rg.empty() ? "" : "/resourceGroups/" + rg) +
                       "/providers/Microsoft.ContainerInstance/containerGroups";
    body["nextLink"] = BaseUrl(req) + path +
                       "?api-version=" + PercentEncode(req.Query("api-version").value_or("")) +
                       "&$skipToken=" + PercentEncode(cursor);
  }
  respond(JsonResponse(200, body));
}

void AciApi::HandleLogs(const HttpRequest& req, const AciGroupRef& ref,
                        const std::string& container, Respond respond) {
  auto job = FindGroup(ref);
  if (!job.ok()) {
    RespondError(job.status(), ref, respond);
    return;
  }
  if (container != ContainerName(*job)) {
    respond(ArmErrorResponse(
        {404, "ContainerNotFound",
         "Container '" + container + "' was not found in container group '" + ref.name + "'."}));
    return;
  }
  if (req.Query("timestamps").value_or("false") == "true") {
    respond(ArmErrorResponse({400, "UnsupportedFeature",
                              "'timestamps' is not supported by berth: its logs carry none"}));
    return;
  }
  std::optional<size_t> tail;
  if (auto t = req.Query("tail")) {
    if (t->empty() || t->size() > 9 || t->find_first_not_of("0123456789") != std::string::npos) {
      respond(ArmErrorResponse(
          {400, "InvalidRequestContent", "'tail' must be a non-negative whole number"}));
      return;
    }
    tail = std::stoul(*t);
  }
  auto log = jobs_.ReadLog(job->id, kMaxLogBytes);
  if (!log.ok()) {
    RespondError(log.status(), ref, respond);
    return;
  }
  std::string content = tail ? LastLines(log->text, *tail) : log->text;
  respond(JsonResponse(200, {{"content", content}}));
}

void AciApi::HandleStop(const HttpRequest&, const AciGroupRef& ref, Respond respond) {
  auto job = FindGroup(ref);
  if (!job.ok()) {
    RespondError(job.status(), ref, respond);
    return;
  }
  if (!IsTerminal(job->state)) {
    auto canceled = jobs_.Cancel(job->id);
    if (!canceled.ok()) {
      RespondError(canceled.status(), ref, respond);
      return;
    }
  }
  HttpResponse r;
  r.status = 204;
  respond(std::move(r));
}

void AciApi::HandleStart(const HttpRequest& req, const AciGroupRef& ref, bool restart,
                         Respond respond) {
  auto job = FindGroup(ref);
  if (!job.ok()) {
    RespondError(job.status(), ref, respond);
    return;
  }
  auto accepted = [](HttpResponse r) {
    r.status = 202;
    r.body.clear();
    return r;
  };
  if (!IsTerminal(job->state) && !restart) {
    // Start of a group that runs: nothing to do; its create operation tells how it goes.
    HttpResponse r;
    r.status = 202;
    r.headers.emplace_back("Azure-AsyncOperation", OperationUrl(req, ref, job->id));
    r.headers.emplace_back("Retry-After", "1");
    respond(std::move(r));
    return;
  }
  if (!IsTerminal(job->state)) {
    auto canceled = jobs_.Cancel(job->id);
    if (!canceled.ok() && !canceled.status().IsNotFound()) {
      RespondError(canceled.status(), ref, respond);
      return;
    }
  }
  // The group runs again as a new job under the same name (a job never leaves an end state).
  DeleteWhenEnded(job->id, clock_.Now() + opts_.stop_wait,
                  [this, req, ref, accepted, respond = std::move(respond)](Result<JobRecord> last) {
                    if (!last.ok()) {
                      RespondError(last.status(), ref, respond);
                      return;
                    }
                    Create(req, ref, last->spec, 202, [accepted, respond](HttpResponse r) {
                      respond(r.status == 202 ? accepted(std::move(r)) : std::move(r));
                    });
                  });
}

void AciApi::HandleOperation(const HttpRequest&, const std::string& sub, const std::string& id,
                             Respond respond) {
  ArmError not_found{404, "OperationNotFound", "Operation '" + id + "' was not found."};
  if (!IsCanonicalUuid(id)) {
    respond(ArmErrorResponse(not_found));
    return;
  }
  auto job = jobs_.Get(id);
  if (!job.ok() || !IsContainerGroup(*job) ||
      !job->idempotency_key.starts_with(AciKeyPrefix(sub, ""))) {
    if (job.ok() || job.status().IsNotFound()) {
      respond(ArmErrorResponse(not_found));
    } else {
      respond(ArmErrorResponse(ArmErrorFor(job.status())));
    }
    return;
  }
  HttpResponse r = JsonResponse(200, OperationStatusJson(*job, opts_.hidden_paths));
  r.headers.emplace_back("Retry-After", "1");
  respond(std::move(r));
}

}  // namespace berth
