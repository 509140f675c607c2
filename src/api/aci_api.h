// AciApi: the Azure Container Instances REST shape over the JobService, so the Azure SDKs
// (@azure/arm-containerinstance, azure-mgmt-containerinstance) drive berth as they drive the
// cloud. Served on its own HTTPS listener (ArmListen; TLS is the transport's business). With
// G = /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerInstance/
// containerGroups:
//
//   PUT    G/{name}                 create (long-running: 201 + Azure-AsyncOperation); the same
//                                   spec again answers the group as it is; another spec while
//                                   it runs 409, after it ended replaces it
//   GET    G/{name}                 the group with its instance view
//   DELETE G/{name}                 stops it if it runs, then removes it (the name is free)
//   GET    G, /subscriptions/{sub}/providers/Microsoft.ContainerInstance/containerGroups
//                                   {"value": [...], "nextLink"} (scans the job list: O(jobs))
//   GET    G/{name}/containers/{container}/logs?tail=N      {"content": ...}
//   POST   G/{name}/stop            204; the group ends Stopped
//   POST   G/{name}/start|restart   202: the group runs again (a new job under the same name)
//   GET    /subscriptions/{sub}/providers/Microsoft.ContainerInstance/operations/{id}
//                                   {"status": "InProgress"|"Succeeded"|"Failed", "error"?}
//
// Every route needs `Authorization: Bearer <host key or master key>` (else 401) and an
// `api-version` (any; else 400). Errors are ARM's {"error": {"code", "message"}}. A group is a
// job whose idempotency key is its lower-cased resource id (see aci_json.h); it shows under
// /api/jobs too. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/aci_json.h"
#include "api/keys.h"
#include "api/router.h"
#include "common/scheduler.h"
#include "job/job_service.h"

namespace berth {

struct AciApiOptions {
  std::shared_ptr<const KeyStore> keys;  // bearer tokens: host keys and the master key
  // Where this listener answers ("https://127.0.0.1:7443"): the base of operation URLs and
  // nextLinks when a request has no usable Host header.
  std::string base_url;
  std::string default_location = "local";  // a PUT without `location`
  // DELETE and restart of a running group wait this long for its job to stop (cancel grace
  // plus slack) before answering 409.
  milliseconds stop_wait{60'000};
  milliseconds poll{100};  // how often a waiting DELETE or restart looks again
  // Host paths a caller never sees (the data dir): shown as "<data>" in reasons.
  std::vector<std::string> hidden_paths;
  int list_page_size = 100;      // groups per page of a listing
  int list_scan_limit = 10'000;  // jobs scanned per listing request (then a nextLink follows)
};

class AciApi {
 public:
  AciApi(JobService& jobs, AciApiOptions opts);
  ~AciApi();

  // Sets AciApiOptions::base_url (once the listener's port is known). Call before serving.
  void SetBaseUrl(std::string url) { opts_.base_url = std::move(url); }

  // Adds the routes to `router` (and makes its literal segments case-insensitive, as ARM's
  // are); `this` must outlive it.
  void Register(Router& router);

 private:
  using Params = std::vector<std::string>;
  // Answers 401 (no valid bearer token) or 400 (no api-version, a malformed path part) and
  // returns false when the request may not go on. `params` start with sub[, rg[, name]].
  bool Check(const HttpRequest& req, const Params& params, size_t parts,
             const Respond& respond) const;
  // The group `ref` names; NotFound (as ARM's ResourceNotFound) when there is none.
  Result<JobRecord> FindGroup(const AciGroupRef& ref);
  // `respond` with `err`, or with ResourceNotFound for group `ref` when `st` is NotFound.
  void RespondError(const Status& st, const AciGroupRef& ref, const Respond& respond) const;
  std::string BaseUrl(const HttpRequest& req) const;
  std::string OperationUrl(const HttpRequest& req, const AciGroupRef& ref,
                           const std::string& job_id) const;

  void HandlePut(const HttpRequest& req, const AciGroupRef& ref, Respond respond);
  void HandleGet(const HttpRequest& req, const AciGroupRef& ref, Respond respond);
  void HandleDelete(const HttpRequest& req, const AciGroupRef& ref, Respond respond);
  void HandleList(const HttpRequest& req, const std::string& sub, const std::string& rg,
                  Respond respond);
  void HandleLogs(const HttpRequest& req, const AciGroupRef& ref, const std::string& container,
                  Respond respond);
  void HandleStop(const HttpRequest& req, const AciGroupRef& ref, Respond respond);
  void HandleStart(const HttpRequest& req, const AciGroupRef& ref, bool restart, Respond respond);
  void HandleOperation(const HttpRequest& req, const std::string& sub, const std::string& id,
                       Respond respond);

  // Submits `spec` as group `ref` and answers 201 (or `status`) with the group and its
  // operation headers; 409 when a concurrent PUT made the group with another spec.
  void Create(const HttpRequest& req, const AciGroupRef& ref, JobSpec spec, int status,
              Respond respond);
  // Calls `then` once job `id` has ended and been deleted (polling on the scheduler), with the
  // job as it was last seen; with an error when it did not end before `deadline`.
  void DeleteWhenEnded(std::string id, TimePoint deadline,
                       std::function<void(Result<JobRecord>)> then);

  JobService& jobs_;
  AciApiOptions opts_;
  SystemClock clock_;
  std::unique_ptr<Scheduler> poller_;  // waits of DELETE and restart
};

}  // namespace berth
