// FakeJobService: a JobService that keeps jobs and logs in memory, for tests of the API layer
// (unit tests and the HTTP fuzzer). Submit answers synchronously; a repeated Idempotency-Key
// answers the first job's id, as the real service does. Not thread-safe, except that logs may
// be read (ReadLogFrom, Get) by a follower's thread while AppendLog adds to them.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/random.h"
#include "job/job_service.h"

namespace berth {

class FakeJobService : public JobService {
 public:
  // Like the real service: a repeated Idempotency-Key answers the first job's id.
  void Submit(JobSpec spec, const SubmitOptions& opts,
              std::function<void(Result<std::string>)> done) override {
    submitted_.push_back(spec);
    if (!fail_with_.ok()) {
      done(fail_with_);
      return;
    }
    if (!opts.idempotency_key.empty()) {
      auto it = by_idempotency_key_.find(opts.idempotency_key);
      if (it != by_idempotency_key_.end()) {
        done(it->second);
        return;
      }
    }
    JobRecord rec;
    rec.id = NewUuidV4();
    rec.spec = std::move(spec);
    rec.created_at = created_at_;
    rec.idempotency_key = opts.idempotency_key;
    if (!opts.idempotency_key.empty()) by_idempotency_key_[opts.idempotency_key] = rec.id;
    jobs_[rec.id] = rec;
    done(rec.id);
  }

  Result<JobRecord> Get(std::string_view id) override {
    auto it = jobs_.find(std::string(id));
    if (it == jobs_.end()) return Status::NotFound("job " + std::string(id) + " does not exist");
    return it->second;
  }

  Result<CancelResult> Cancel(std::string_view id) override {
    auto it = jobs_.find(std::string(id));
    if (it == jobs_.end()) return Status::NotFound("no such job");
    CancelResult result;
    result.already_ended = IsTerminal(it->second.state);
    if (!result.already_ended) it->second.state = JobState::kCanceled;
    result.job = it->second;
    return result;
  }

  // What a listing carries (JobService::List): the spec cut to what a list shows.
  static JobRecord Summary(JobRecord rec) {
    JobSpec summary;
    summary.image = rec.spec.image;
    summary.callback_url = rec.spec.callback_url;
    summary.count = rec.spec.count;
    summary.parallelism = rec.spec.parallelism;
    summary.completion_policy = rec.spec.completion_policy;
    rec.spec = std::move(summary);
    return rec;
  }

  Result<JobPage> List(std::optional<JobState> state, int limit, std::string_view) override {
    JobPage page;
    for (const auto& [id, rec] : jobs_) {
      if (state && rec.state != *state) continue;
      if (static_cast<int>(page.jobs.size()) >= limit) break;
      page.jobs.push_back(Summary(rec));
    }
    return page;
  }

  Result<LogChunk> ReadLogFrom(std::string_view id, uint64_t offset, size_t max_bytes) override {
    MutexLock lock(log_mu_);
    if (!jobs_.contains(std::string(id))) return Status::NotFound("no such job");
    const std::string& text = logs_[std::string(id)];
    LogChunk chunk;
    if (offset < text.size()) chunk.text = text.substr(offset, max_bytes);
    chunk.next_offset = offset + chunk.text.size();
    return chunk;
  }

  Result<JobLog> ReadLog(std::string_view id, size_t max_bytes) override {
    largest_read_log_ = std::max(largest_read_log_, max_bytes);
    if (!jobs_.contains(std::string(id))) return Status::NotFound("no such job");
    const std::string& text = logs_[std::string(id)];
    JobLog log;
    if (text.size() > max_bytes) {
      log.text = text.substr(text.size() - max_bytes);
      log.truncated = true;
    } else {
      log.text = text;
    }
    return log;
  }

  Result<JobRecord> FindByIdempotencyKey(std::string_view key) override {
    auto it = by_idempotency_key_.find(std::string(key));
    if (it == by_idempotency_key_.end()) return Status::NotFound("no job with that key");
    return Get(it->second);
  }

  // Like the real service: only an ended job is deleted, and its key is free again.
  Status Delete(std::string_view id) override {
    auto it = jobs_.find(std::string(id));
    if (it == jobs_.end()) return Status::NotFound("no such job");
    if (!IsTerminal(it->second.state)) return Status::FailedPrecondition("job has not ended");
    by_idempotency_key_.erase(it->second.idempotency_key);
    logs_.erase(it->first);
    jobs_.erase(it);
    return Status::Ok();
  }

  // Watches of a job's log: AppendLog calls them, as the real service's file watcher does.
  // Only when enabled (watch_logs); otherwise null, like a log on another node.
  std::unique_ptr<Watch> WatchLog(std::string_view id, std::function<void()> grew) override {
    if (!watch_logs_) return nullptr;
    MutexLock lock(log_mu_);
    uint64_t key = next_watch_++;
    log_watches_[key] = {std::string(id), std::move(grew)};
    return std::make_unique<LogWatch>(this, key);
  }
  void set_watch_logs(bool on) { watch_logs_ = on; }
  // Adds output to a job's log and wakes its watches.
  void AppendLog(const std::string& id, const std::string& text) {
    std::vector<std::function<void()>> wake;
    {
      MutexLock lock(log_mu_);
      logs_[id] += text;
      for (const auto& [key, w] : log_watches_)
        if (w.first == id) wake.push_back(w.second);
    }
    for (const auto& fn : wake) fn();
  }

  // Makes every later Submit fail with `st` (Ok() to succeed again).
  void FailSubmitWith(Status st) { fail_with_ = std::move(st); }

  // Adds a job directly, as if it had been submitted and progressed.
  void Put(JobRecord rec, std::string log = "") {
    if (!rec.idempotency_key.empty()) by_idempotency_key_[rec.idempotency_key] = rec.id;
    logs_[rec.id] = std::move(log);
    jobs_[rec.id] = std::move(rec);
  }

  const std::vector<JobSpec>& submitted() const { return submitted_; }
  // The largest `max_bytes` ReadLog was asked for (what one request may hold in memory).
  size_t largest_read_log() const { return largest_read_log_; }
  const std::map<std::string, JobRecord>& jobs() const { return jobs_; }

  // Forgets every job, log and submit (a fuzzer starts each input from the same state).
  void Clear() {
    submitted_.clear();
    jobs_.clear();
    logs_.clear();
    by_idempotency_key_.clear();
  }
  // The creation time new jobs get.
  void set_created_at(TimePoint t) { created_at_ = t; }

 private:
  class LogWatch : public Watch {
   public:
    LogWatch(FakeJobService* owner, uint64_t key) : owner_(owner), key_(key) {}
    ~LogWatch() override {
      MutexLock lock(owner_->log_mu_);
      owner_->log_watches_.erase(key_);
    }

   private:
    FakeJobService* owner_;
    uint64_t key_;
  };

  Mutex log_mu_;
  bool watch_logs_ = false;
  uint64_t next_watch_ = 1;
  std::map<uint64_t, std::pair<std::string, std::function<void()>>> log_watches_;
  Status fail_with_;
  std::vector<JobSpec> submitted_;
  std::map<std::string, JobRecord> jobs_;
  std::map<std::string, std::string> logs_;
  std::map<std::string, std::string> by_idempotency_key_;
  size_t largest_read_log_ = 0;
  TimePoint created_at_ = FromUnixMillis(1'700'000'000'000);
};

}  // namespace berth
