// JobApi: the job routes of the HTTP API, in the shape of the HTTP-triggered function pattern.
//
//   POST /api/jobs                 function key; empty body = the default job; 202 + Location
//   GET  /api/jobs/{id}            anonymous unless configured; 202 / 200 / 500 by state
//   GET  /api/jobs/{id}/logs       the log as text/plain
//   GET  /healthz                  200 while serving
//
// Handlers parse, call the JobService, and map the result to a status code; this is the only
// place a Status becomes an HTTP code. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "api/router.h"
#include "job/job_service.h"

namespace berth {

struct JobApiOptions {
  std::vector<std::string> function_keys;  // any of these authorizes; compared in constant time
  bool status_requires_key = false;        // GET routes need a key too
  JobSpec default_job;                     // what an empty POST runs
  size_t max_status_log_bytes = 4 << 20;   // `logs` in the status body: at most its last 4 MiB
};

class JobApi {
 public:
  JobApi(JobService& jobs, JobApiOptions opts);

  // Adds the routes to `router`; `this` must outlive it.
  void Register(Router& router);

 private:
  bool Authorized(const HttpRequest& req) const;
  void HandleSubmit(const HttpRequest& req, Respond respond);
  void HandleStatus(const HttpRequest& req, const std::string& id, Respond respond);
  void HandleLogs(const HttpRequest& req, const std::string& id, Respond respond);

  JobService& jobs_;
  JobApiOptions opts_;
};

// The HTTP code for a Status (4xx for the caller's mistakes, 5xx for ours).
int HttpCodeFor(const berth::Status& st);

// The last `n` lines of `text` (a trailing newline does not start a line).
std::string LastLines(const std::string& text, size_t n);

}  // namespace berth
