// JobService: what the HTTP API (and any other front end) asks of the job system. The API
// layer sees only this interface, never the store or the runtime. Implementations are
// thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_watcher.h"
#include "common/status.h"
#include "job/job.h"

namespace berth {

struct JobLog {
  std::string text;        // the newest part of the combined stdout/stderr
  bool truncated = false;  // older output exists beyond `text`
};

// A piece of a job's log from a byte offset (for following it live).
struct LogChunk {
  std::string text;
  uint64_t next_offset = 0;  // where the next read continues
};

struct SubmitOptions {
  // The client's Idempotency-Key: a second submit with the same key (while the first job is
  // kept) creates nothing and answers the first job's id. Empty: none.
  std::string idempotency_key;
};

struct CancelResult {
  JobRecord job;               // as it is after the request
  bool already_ended = false;  // it had ended before the cancel arrived
};

struct JobPage {
  std::vector<JobRecord> jobs;  // newest first
  std::string next_cursor;      // empty on the last page
};

class JobService {
 public:
  virtual ~JobService() = default;

  // Queues a job durably. `done` runs (on any thread) with the new job's id once the job and
  // its queue message are on disk, or with the error.
  virtual void Submit(JobSpec spec, const SubmitOptions& opts,
                      std::function<void(Result<std::string>)> done) = 0;

  // Cancels a job: a queued one never starts, a running one is stopped (it ends Canceled).
  virtual Result<CancelResult> Cancel(std::string_view id) = 0;

  // Jobs newest first, optionally only those in `state`; `cursor` continues a listing. Each
  // job's spec carries only what a listing shows (Store::ListJobSummaries); Get has the rest.
  virtual Result<JobPage> List(std::optional<JobState> state, int limit,
                               std::string_view cursor) = 0;

  // The log from byte `offset` on, at most `max_bytes`.
  virtual Result<LogChunk> ReadLogFrom(std::string_view id, uint64_t offset, size_t max_bytes) = 0;

  // Calls `grew` (on any thread; it must be quick) each time the job's log grows, and when it
  // appears (a queued job's log is not there yet), until the watch is destroyed. Null when this
  // service cannot watch it (a log kept elsewhere): its readers poll (a watch wakes them sooner).
  // Pure: a service that wraps another must forward it (a default "cannot watch" once let a
  // wrapper drop every watch silently, and followers polled).
  virtual std::unique_ptr<Watch> WatchLog(std::string_view id, std::function<void()> grew) = 0;

  // The job's record; NotFound for an unknown id.
  virtual Result<JobRecord> Get(std::string_view id) = 0;

  // At most the last `max_bytes` of the job's log (empty before any output).
  virtual Result<JobLog> ReadLog(std::string_view id, size_t max_bytes) = 0;

  // The job submitted with `idempotency_key`; NotFound when there is none. A service that
  // cannot look jobs up this way answers FailedPrecondition.
  virtual Result<JobRecord> FindByIdempotencyKey(std::string_view idempotency_key) {
    (void)idempotency_key;
    return Status::FailedPrecondition("this node does not look jobs up by idempotency key");
  }

  // Removes an ended job: its record, log and files (its idempotency key is free again).
  // FailedPrecondition while it has not ended (cancel it first) or is a job array; NotFound for
  // an unknown id.
  virtual Status Delete(std::string_view id) {
    (void)id;
    return Status::FailedPrecondition("this node does not delete jobs");
  }

  // The children of job array `parent` by index, optionally only those in `state`; `cursor`
  // continues a listing; summaries, as List. NotFound for an unknown parent. A service without
  // arrays answers InvalidArgument.
  virtual Result<JobPage> ListChildren(std::string_view parent, std::optional<JobState> state,
                                       int limit, std::string_view cursor) {
    (void)parent, (void)state, (void)limit, (void)cursor;
    return Status::InvalidArgument("this node does not list job arrays");
  }
};

}  // namespace berth
