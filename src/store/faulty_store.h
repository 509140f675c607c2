// FaultyStore: a Store wrapper for tests that injects faults the way LevelDB's EnvWrapper does:
// every call is forwarded to the wrapped store unless the test's hook answers for it first.
// Header-only and included only by tests: no production library contains it.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/mutex.h"
#include "store/store.h"

namespace berth {

class FaultyStore : public Store {
 public:
  // Decides, before a call is forwarded, whether it fails: returns the Status to answer instead
  // (non-OK), or OK to forward. `op` is the method's name ("UpdateJobStatus"), `id` the job id
  // it concerns (empty when none), `state` the target state of a status write (else kQueued).
  using Hook = std::function<Status(std::string_view op, std::string_view id, JobState state)>;

  explicit FaultyStore(Store& inner) : inner_(inner) {}

  void set_hook(Hook hook) {
    MutexLock lock(mu_);
    hook_ = std::move(hook);
  }
  // Runs after a GetJob was answered (e.g. to land a cancel right after the read).
  void set_after_get(std::function<void(std::string_view id)> after) {
    MutexLock lock(mu_);
    after_get_ = std::move(after);
  }

  // Whether ClaimJobs forwards to the inner store's (which may move first starts to Pending) or
  // claims only, as the Store default does (the caller then reads and settles every job).
  void set_claims_move_jobs(bool move) {
    MutexLock lock(mu_);
    claims_move_jobs_ = move;
  }
  // Runs after a ReleaseMessage was answered, on the caller's thread, with its arguments (e.g.
  // to hold the caller there while the message is claimed again).
  void set_after_release(std::function<void(const QueueMessage&, milliseconds)> after) {
    MutexLock lock(mu_);
    after_release_ = std::move(after);
  }
  // Runs after a ClaimJobs committed, with what it claimed (e.g. to land a cancel right after).
  void set_after_claim(std::function<void(const std::vector<ClaimedJob>&)> after) {
    MutexLock lock(mu_);
    after_claim_ = std::move(after);
  }

  void SubmitJob(JobRecord job, std::string queue, std::function<void(Status)> done) override {
    if (Status st = Check("SubmitJob", job.id); !st.ok()) return done(st);
    inner_.SubmitJob(std::move(job), std::move(queue), std::move(done));
  }
  Result<JobRecord> GetJob(std::string_view id) override {
    if (Status st = Check("GetJob", id); !st.ok()) return st;
    Result<JobRecord> job = inner_.GetJob(id);
    std::function<void(std::string_view)> after;
    {
      MutexLock lock(mu_);
      after = after_get_;
    }
    if (after) after(id);
    return job;
  }
  Result<std::vector<JobRecord>> ListJobsPage(const std::vector<JobState>& states, int limit,
                                              int64_t before_seq) override {
    if (Status st = Check("ListJobsPage", ""); !st.ok()) return st;
    return inner_.ListJobsPage(states, limit, before_seq);
  }
  Result<std::vector<JobRecord>> ListJobSummaries(const std::vector<JobState>& states, int limit,
                                                  int64_t before_seq) override {
    if (Status st = Check("ListJobSummaries", ""); !st.ok()) return st;
    return inner_.ListJobSummaries(states, limit, before_seq);
  }
  Result<JobRecord> FindJobByIdempotencyKey(std::string_view key) override {
    if (Status st = Check("FindJobByIdempotencyKey", ""); !st.ok()) return st;
    return inner_.FindJobByIdempotencyKey(key);
  }
  Result<JobRecord> RequestCancel(std::string_view id) override {
    if (Status st = Check("RequestCancel", id); !st.ok()) return st;
    return inner_.RequestCancel(id);
  }
  Status RequeueJob(std::string_view id, std::string_view queue, milliseconds delay,
                    const JobStatusUpdate& update) override {
    if (Status st = Check("RequeueJob", id, update.state); !st.ok()) return st;
    return inner_.RequeueJob(id, queue, delay, update);
  }
  Result<std::vector<std::string>> ListFinishedBefore(TimePoint cutoff, int limit) override {
    if (Status st = Check("ListFinishedBefore", ""); !st.ok()) return st;
    return inner_.ListFinishedBefore(cutoff, limit);
  }
  Status DeleteJob(std::string_view id) override {
    if (Status st = Check("DeleteJob", id); !st.ok()) return st;
    return inner_.DeleteJob(id);
  }
  Status UpdateJobStatus(std::string_view id, const JobStatusUpdate& update) override {
    if (Status st = Check("UpdateJobStatus", id, update.state); !st.ok()) return st;
    return inner_.UpdateJobStatus(id, update);
  }
  Status RecordRunning(const QueueMessage& msg, const JobStatusUpdate& update) override {
    if (Status st = Check("RecordRunning", msg.job_id, update.state); !st.ok()) return st;
    return inner_.RecordRunning(msg, update);
  }
  Result<std::vector<QueueMessage>> ClaimMessages(std::string_view queue, int max,
                                                  milliseconds lease) override {
    if (Status st = Check("ClaimMessages", ""); !st.ok()) return st;
    return inner_.ClaimMessages(queue, max, lease);
  }
  Result<std::vector<ClaimedJob>> ClaimJobs(std::string_view queue, int max, milliseconds lease,
                                            const PendingClaim& pending) override {
    if (Status st = Check("ClaimMessages", ""); !st.ok()) return st;
    bool move;
    std::function<void(const std::vector<ClaimedJob>&)> after;
    {
      MutexLock lock(mu_);
      move = claims_move_jobs_;
      after = after_claim_;
    }
    Result<std::vector<ClaimedJob>> claimed = std::vector<ClaimedJob>();
    if (move) {
      claimed = inner_.ClaimJobs(queue, max, lease, pending);
    } else {
      ASSIGN_OR_RETURN(std::vector<QueueMessage> msgs, inner_.ClaimMessages(queue, max, lease));
      for (QueueMessage& m : msgs) claimed->push_back({std::move(m), std::nullopt});
    }
    if (claimed.ok() && after) after(*claimed);
    return claimed;
  }
  Status RenewLease(const QueueMessage& msg, milliseconds lease) override {
    if (Status st = Check("RenewLease", msg.job_id); !st.ok()) return st;
    return inner_.RenewLease(msg, lease);
  }
  Status DeleteMessage(const QueueMessage& msg) override {
    if (Status st = Check("DeleteMessage", msg.job_id); !st.ok()) return st;
    return inner_.DeleteMessage(msg);
  }
  Status ReleaseMessage(const QueueMessage& msg, milliseconds delay) override {
    if (Status st = Check("ReleaseMessage", msg.job_id); !st.ok()) return st;
    Status st = inner_.ReleaseMessage(msg, delay);
    std::function<void(const QueueMessage&, milliseconds)> after;
    {
      MutexLock lock(mu_);
      after = after_release_;
    }
    if (after) after(msg, delay);
    return st;
  }
  Status PoisonMessage(const QueueMessage& msg, std::string_view poison_queue,
                       const JobStatusUpdate& job_update) override {
    if (Status st = Check("PoisonMessage", msg.job_id, job_update.state); !st.ok()) return st;
    return inner_.PoisonMessage(msg, poison_queue, job_update);
  }
  Result<std::vector<QueueMessage>> PeekMessages(std::string_view queue, int limit) override {
    return inner_.PeekMessages(queue, limit);
  }
  Result<std::optional<TimePoint>> NextVisibleAt(std::string_view queue) override {
    return inner_.NextVisibleAt(queue);
  }
  Status Heartbeat(const NodeRecord& node, milliseconds lease) override {
    if (Status st = Check("Heartbeat", ""); !st.ok()) return st;
    return inner_.Heartbeat(node, lease);
  }
  Result<std::vector<NodeRecord>> ListNodes() override {
    if (Status st = Check("ListNodes", ""); !st.ok()) return st;
    return inner_.ListNodes();
  }
  Result<bool> MarkNodeLost(std::string_view id, std::string_view pending_reason) override {
    if (Status st = Check("MarkNodeLost", ""); !st.ok()) return st;
    return inner_.MarkNodeLost(id, pending_reason);
  }
  Result<std::vector<JobRecord>> ListNodeJobs(std::string_view node,
                                              const std::vector<JobState>& states) override {
    if (Status st = Check("ListNodeJobs", ""); !st.ok()) return st;
    return inner_.ListNodeJobs(node, states);
  }
  Status SettleLostJob(std::string_view node, std::string_view id, const JobStatusUpdate& update,
                       std::string_view requeue_queue, milliseconds delay) override {
    if (Status st = Check("SettleLostJob", id, update.state); !st.ok()) return st;
    return inner_.SettleLostJob(node, id, update, requeue_queue, delay);
  }
  Result<std::vector<std::string>> ListCancelRequested(std::string_view node) override {
    if (Status st = Check("ListCancelRequested", ""); !st.ok()) return st;
    return inner_.ListCancelRequested(node);
  }

 private:
  Status Check(std::string_view op, std::string_view id, JobState state = JobState::kQueued) {
    Hook hook;
    {
      MutexLock lock(mu_);
      hook = hook_;
    }
    return hook ? hook(op, id, state) : Status::Ok();
  }

  Store& inner_;
  Mutex mu_;
  Hook hook_ GUARDED_BY(mu_);
  std::function<void(std::string_view)> after_get_ GUARDED_BY(mu_);
  bool claims_move_jobs_ GUARDED_BY(mu_) = true;
  std::function<void(const std::vector<ClaimedJob>&)> after_claim_ GUARDED_BY(mu_);
  std::function<void(const QueueMessage&, milliseconds)> after_release_ GUARDED_BY(mu_);
};

}  // namespace berth
