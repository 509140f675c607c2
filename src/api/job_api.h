// JobApi: the job routes of the HTTP API, in the shape of the HTTP-triggered function pattern.
//
//   POST /api/jobs                 function key; empty body = the default job; 202 + Location
//   GET  /api/jobs/{id}            anonymous unless configured; 202 / 200 / 500 by state
//   GET  /api/jobs                 function key; ?state=&limit=&cursor=, newest first
//   DELETE /api/jobs/{id}          function key; cancel: 202 stopping, 200 canceled, 410 ended
//   GET  /api/jobs/{id}/logs       the log as text/plain; ?follow=true streams it live
//   GET  /healthz                  200 while serving
//
// Handlers parse, call the JobService, and map the result to a status code; this is the only
// place a Status becomes an HTTP code. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/keys.h"
#include "api/render_cache.h"
#include "api/router.h"
#include "common/mutex.h"
#include "common/scheduler.h"
#include "job/job_service.h"

namespace berth {

struct JobApiOptions {
  std::shared_ptr<const KeyStore> keys;  // who may call function "jobs"; null: nobody
  bool status_requires_key = false;      // GET routes need a key too
  JobSpec default_job;                   // what an empty POST runs
  bool allow_host_network = false;       // AllowHostNetwork: a spec may ask for "host"
  // `logs` in the status body: at most its last 64 KiB. Anyone may read a status, many at once:
  // a body stays small (the whole log streams from /logs in bounded chunks).
  size_t max_status_log_bytes = 64 << 10;
  // How often a followed log is checked for growth (and the job for its end). A log the job
  // service can watch (of a job on this node, queued too) wakes its followers when it grows.
  milliseconds follow_poll{25};
  // Host paths a caller never sees (the data dir, as given and resolved): in a job's reason
  // they are shown as "<data>".
  std::vector<std::string> hidden_paths;
  // Extra checks of a submitted spec (the daemon's callback allow-list); an error answers 400
  // (InvalidArgument) or 403 (PermissionDenied). Null: none.
  std::function<Status(const JobSpec&)> check_spec;
};

class JobApi {
 public:
  JobApi(JobService& jobs, JobApiOptions opts);
  ~JobApi();

  // Adds the routes to `router`; `this` must outlive it.
  void Register(Router& router);

 private:
  bool Authorized(const HttpRequest& req) const;
  // Answers 401 (when `need_key` and no valid key) or 400 (malformed id) and returns false
  // when the request may not go on.
  bool CheckJobRequest(const HttpRequest& req, const std::string& id, bool need_key,
                       const Respond& respond) const;
  void HandleSubmit(const HttpRequest& req, Respond respond);
  void HandleStatus(const HttpRequest& req, const std::string& id, Respond respond);
  void HandleLogs(const HttpRequest& req, const std::string& id, Respond respond);
  void HandleList(const HttpRequest& req, Respond respond);
  void HandleCancel(const HttpRequest& req, const std::string& id, Respond respond);
  // A chunked body that follows the job's log until the job ends (`follow`), or streams the
  // log as it is now, in bounded chunks, never the whole file in memory.
  ChunkSource StreamLog(const std::string& id, bool follow);
  struct Follow;
  void Pump(std::shared_ptr<Follow> follow, ChunkSink sink);
  // Waits for the log to grow (or for the next poll), then pumps again.
  void AwaitGrowth(const std::shared_ptr<Follow>& follow, ChunkSink sink);
  // Pumps the waiting follower, once, whichever of its growth and its poll comes first.
  void Wake(const std::shared_ptr<Follow>& follow);

  // What log watches call: the API while it lives (the destructor detaches it first), so a
  // watch's late call never reaches a destroyed API.
  struct Waker {
    Mutex mu;
    JobApi* api GUARDED_BY(mu) = nullptr;
  };

  JobService& jobs_;
  JobApiOptions opts_;
  SystemClock clock_;
  std::unique_ptr<Scheduler> poller_;  // wakes log followers
  RenderCache rendered_;               // status bodies of finished jobs
  std::shared_ptr<Waker> waker_ = std::make_shared<Waker>();
};

// The HTTP code for a Status (4xx for the caller's mistakes, 5xx for ours).
int HttpCodeFor(const berth::Status& st);

// The last `n` lines of `text` (a trailing newline does not start a line).
std::string LastLines(const std::string& text, size_t n);

}  // namespace berth
