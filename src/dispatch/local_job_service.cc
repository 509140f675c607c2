#include "dispatch/local_job_service.h"

#include "common/files.h"
#include "common/random.h"
#include "job/job_files.h"

namespace berth {

LocalJobService::LocalJobService(Store& store, Dispatcher* dispatcher, Clock& clock,
                                 std::string queue, std::filesystem::path jobs_root)
    : store_(store),
      dispatcher_(dispatcher),
      clock_(clock),
      queue_(std::move(queue)),
      jobs_root_(std::move(jobs_root)) {}

void LocalJobService::Submit(JobSpec spec, std::function<void(Result<std::string>)> done) {
  JobRecord job;
  job.id = NewUuidV4();
  job.spec = std::move(spec);
  job.state = JobState::kQueued;
  job.created_at = clock_.Now();
  std::string id = job.id;
  store_.SubmitJob(std::move(job), queue_, [this, id, done = std::move(done)](Status st) {
    if (!st.ok()) {
      done(st);
      return;
    }
    if (dispatcher_ != nullptr) dispatcher_->Wake();
    done(id);
  });
}

Result<JobRecord> LocalJobService::Get(std::string_view id) { return store_.GetJob(id); }

Result<JobLog> LocalJobService::ReadLog(std::string_view id, size_t max_bytes) {
  JobFiles files(jobs_root_, id);
  auto tail = ReadFileTail(files.log(), max_bytes);
  if (!tail.ok()) {
    if (tail.status().IsNotFound()) return JobLog{};
    return tail.status();
  }
  return JobLog{std::move(tail->data), tail->truncated};
}

}  // namespace berth
