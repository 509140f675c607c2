#include "dispatch/local_job_service.h"

#include "common/files.h"
#include "common/random.h"
#include "job/job_files.h"
#include "job/job_log.h"

namespace berth {

LocalJobService::LocalJobService(Store& store, Dispatcher* dispatcher, Clock& clock,
                                 std::string queue, std::filesystem::path jobs_root,
                                 FileRemover remove_files, LogArchive* logs)
    : store_(store),
      dispatcher_(dispatcher),
      clock_(clock),
      queue_(std::move(queue)),
      jobs_root_(std::move(jobs_root)),
      remove_files_(std::move(remove_files)),
      logs_(logs) {}

void LocalJobService::Submit(JobSpec spec, const SubmitOptions& opts,
                             std::function<void(Result<std::string>)> done) {
  const std::string& key = opts.idempotency_key;
  if (!key.empty()) {
    auto existing = store_.FindJobByIdempotencyKey(key);
    if (existing.ok()) {
      done(existing->id);
      return;
    }
    if (!existing.status().IsNotFound()) {
      done(existing.status());
      return;
    }
  }
  JobRecord job;
  job.id = NewUuidV4();
  job.spec = std::move(spec);
  job.state = JobState::kQueued;
  job.created_at = clock_.Now();
  job.idempotency_key = key;
  std::string id = job.id;
  store_.SubmitJob(std::move(job), queue_, [this, id, key, done = std::move(done)](Status st) {
    if (st.code() == StatusCode::kAlreadyExists && !key.empty()) {
      // A concurrent submit with the same key won the race: answer its job.
      auto winner = store_.FindJobByIdempotencyKey(key);
      if (winner.ok()) {
        done(winner->id);
        return;
      }
    }
    if (!st.ok()) {
      done(st);
      return;
    }
    if (dispatcher_ != nullptr) dispatcher_->Wake();
    done(id);
  });
}

Result<CancelResult> LocalJobService::Cancel(std::string_view id) {
  ASSIGN_OR_RETURN(JobRecord before, store_.GetJob(id));
  if (IsTerminal(before.state)) return CancelResult{std::move(before), true};
  ASSIGN_OR_RETURN(JobRecord after, store_.RequestCancel(id));
  if (!IsTerminal(after.state) && dispatcher_ != nullptr) dispatcher_->Cancel(after.id);
  return CancelResult{std::move(after), false};
}

Result<JobPage> LocalJobService::List(std::optional<JobState> state, int limit,
                                      std::string_view cursor) {
  int64_t before = INT64_MAX;
  if (!cursor.empty()) {
    if (cursor.size() > 18 || cursor.find_first_not_of("0123456789") != std::string_view::npos) {
      return Status::InvalidArgument("malformed cursor");
    }
    before = std::stoll(std::string(cursor));
  }
  std::vector<JobState> states;
  if (state) states.push_back(*state);
  ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, store_.ListJobSummaries(states, limit + 1, before));
  JobPage page;
  if (static_cast<int>(jobs.size()) > limit) {
    jobs.resize(static_cast<size_t>(limit));
    page.next_cursor = std::to_string(jobs.back().seq);
  }
  page.jobs = std::move(jobs);
  return page;
}

Result<LogChunk> LocalJobService::ReadLogFrom(std::string_view id, uint64_t offset,
                                              size_t max_bytes) {
  std::filesystem::path file = JobFiles(jobs_root_, id).log();
  // The job's own file when it runs (or ran) here; else what its node shipped. Both are read
  // by stream offset, and a job ends only once its whole log is shipped (ShipOnExitRuntime).
  if (logs_ != nullptr && !std::filesystem::exists(file)) {
    return logs_->ReadLogFrom(id, offset, max_bytes);
  }
  return ReadLogChunk(file, offset, max_bytes);
}

std::unique_ptr<Watch> LocalJobService::WatchLog(std::string_view id, std::function<void()> grew) {
  return log_watcher_.WatchFile(JobFiles(jobs_root_, id).log(), std::move(grew));
}

Result<JobRecord> LocalJobService::Get(std::string_view id) { return store_.GetJob(id); }

Result<JobLog> LocalJobService::ReadLog(std::string_view id, size_t max_bytes) {
  JobFiles files(jobs_root_, id);
  if (logs_ != nullptr && !std::filesystem::exists(files.log())) {
    return logs_->ReadLogTail(id, max_bytes);
  }
  auto tail = ReadFileTail(files.log(), max_bytes);
  if (!tail.ok()) {
    if (tail.status().IsNotFound()) return JobLog{};
    return tail.status();
  }
  // The monitor dropped older output past JobLogMaxBytes (the log's first line says how much).
  bool dropped = std::filesystem::exists(files.dir() / "log.dropped");
  return JobLog{std::move(tail->data), tail->truncated || dropped};
}

Result<JobRecord> LocalJobService::FindByIdempotencyKey(std::string_view idempotency_key) {
  return store_.FindJobByIdempotencyKey(idempotency_key);
}

Status LocalJobService::Delete(std::string_view id) {
  ASSIGN_OR_RETURN(JobRecord job, store_.GetJob(id));
  if (!IsTerminal(job.state)) {
    return Status::FailedPrecondition("job " + job.id + " has not ended (cancel it first)");
  }
  if (job.spec.count > 0 || !job.parent_id.empty()) {
    return Status::FailedPrecondition("job " + job.id +
                                      " is (part of) a job array: retention removes those");
  }
  // Files first, as the retention sweeper does: a crash in between leaves a record without
  // files, never an orphan dir.
  if (remove_files_) RETURN_IF_ERROR(remove_files_(job.id));
  return store_.DeleteJob(job.id);
}

}  // namespace berth
