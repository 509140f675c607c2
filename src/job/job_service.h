// JobService: what the HTTP API (and any other front end) asks of the job system. The API
// layer sees only this interface, never the store or the runtime. Implementations are
// thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "job/job.h"

namespace berth {

struct JobLog {
  std::string text;        // the newest part of the combined stdout/stderr
  bool truncated = false;  // older output exists beyond `text`
};

class JobService {
 public:
  virtual ~JobService() = default;

  // Queues a job durably. `done` runs (on any thread) with the new job's id once the job and
  // its queue message are on disk, or with the error.
  virtual void Submit(JobSpec spec, std::function<void(Result<std::string>)> done) = 0;

  // The job's record; NotFound for an unknown id.
  virtual Result<JobRecord> Get(std::string_view id) = 0;

  // At most the last `max_bytes` of the job's log (empty before any output).
  virtual Result<JobLog> ReadLog(std::string_view id, size_t max_bytes) = 0;
};

}  // namespace berth
