// LocalJobService: the JobService of one node: jobs go into the Store's queue (waking the local
// Dispatcher), status comes from the Store, logs from the job's log file when it is on this node,
// else (with a shared store) from the store's LogArchive, where the node that runs the job ships
// it (dispatch/log_shipper.h). Thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "common/clock.h"
#include "dispatch/dispatcher.h"
#include "job/job_service.h"
#include "store/log_archive.h"
#include "store/store.h"

namespace berth {

class LocalJobService : public JobService {
 public:
  // Removes job `id`'s files on this node (Runtime::Remove); FailedPrecondition while its
  // monitor runs.
  using FileRemover = std::function<Status(const std::string& id)>;

  // `dispatcher` may be null (a node that only accepts jobs); `remove_files` may be null (Delete
  // then removes the record only: the next start's orphan sweep removes the files); `logs` may
  // be null (a single node: every log is a local file).
  LocalJobService(Store& store, Dispatcher* dispatcher, Clock& clock, std::string queue,
                  std::filesystem::path jobs_root, FileRemover remove_files = nullptr,
                  LogArchive* logs = nullptr);

  void Submit(JobSpec spec, const SubmitOptions& opts,
              std::function<void(Result<std::string>)> done) override;
  Result<CancelResult> Cancel(std::string_view id) override;
  Result<JobPage> List(std::optional<JobState> state, int limit, std::string_view cursor) override;
  Result<LogChunk> ReadLogFrom(std::string_view id, uint64_t offset, size_t max_bytes) override;
  std::unique_ptr<Watch> WatchLog(std::string_view id, std::function<void()> grew) override;
  Result<JobRecord> Get(std::string_view id) override;
  Result<JobLog> ReadLog(std::string_view id, size_t max_bytes) override;
  Result<JobRecord> FindByIdempotencyKey(std::string_view idempotency_key) override;
  Status Delete(std::string_view id) override;

 private:
  Store& store_;
  Dispatcher* dispatcher_;
  Clock& clock_;
  std::string queue_;
  std::filesystem::path jobs_root_;
  FileRemover remove_files_;
  LogArchive* logs_;         // may be null
  FileWatcher log_watcher_;  // wakes followers of the logs of this node's jobs
};

}  // namespace berth
