// ObservedStore: a Store that forwards every call to another one and tells the rest of the node
// what changed: each job state change the inner store accepted is counted in the metrics
// (submitted, started, finished by state and reason, start latency, run duration, commit
// latency) and published as a JobEvent. It observes from the outside, so the dispatcher and the
// store engines stay unaware of metrics. Thread-safe as the inner store is.
#pragma once

#include "common/clock.h"
#include "common/metrics.h"
#include "job/job_events.h"
#include "store/store.h"

namespace berth {

class ObservedStore : public Store {
 public:
  // Every reference must outlive this store.
  ObservedStore(Store& inner, const Clock& clock, Metrics& metrics, JobEventHub& events);

  void SubmitJob(JobRecord job, std::string queue, std::function<void(Status)> done) override;
  Result<JobRecord> GetJob(std::string_view id) override { return inner_.GetJob(id); }
  Result<std::vector<JobRecord>> ListJobsPage(const std::vector<JobState>& states, int limit,
                                              int64_t before_seq) override {
    return inner_.ListJobsPage(states, limit, before_seq);
  }
  Result<std::vector<JobRecord>> ListJobSummaries(const std::vector<JobState>& states, int limit,
                                                  int64_t before_seq) override {
    return inner_.ListJobSummaries(states, limit, before_seq);
  }
  Result<JobRecord> FindJobByIdempotencyKey(std::string_view key) override {
    return inner_.FindJobByIdempotencyKey(key);
  }
  Result<JobRecord> RequestCancel(std::string_view id) override;
  Status RequeueJob(std::string_view id, std::string_view queue, milliseconds delay,
                    const JobStatusUpdate& update) override;
  Result<std::vector<std::string>> ListFinishedBefore(TimePoint cutoff, int limit) override {
    return inner_.ListFinishedBefore(cutoff, limit);
  }
  Status DeleteJob(std::string_view id) override { return inner_.DeleteJob(id); }
  Status UpdateJobStatus(std::string_view id, const JobStatusUpdate& update) override;
  Status RecordRunning(const QueueMessage& msg, const JobStatusUpdate& update) override;
  Result<std::vector<QueueMessage>> ClaimMessages(std::string_view queue, int max,
                                                  milliseconds lease) override {
    return inner_.ClaimMessages(queue, max, lease);
  }
  Result<std::vector<ClaimedJob>> ClaimJobs(std::string_view queue, int max, milliseconds lease,
                                            const PendingClaim& pending) override;
  Status RenewLease(const QueueMessage& msg, milliseconds lease) override {
    return inner_.RenewLease(msg, lease);
  }
  Status DeleteMessage(const QueueMessage& msg) override { return inner_.DeleteMessage(msg); }
  Status ReleaseMessage(const QueueMessage& msg, milliseconds delay) override {
    return inner_.ReleaseMessage(msg, delay);
  }
  Status PoisonMessage(const QueueMessage& msg, std::string_view poison_queue,
                       const JobStatusUpdate& job_update) override;
  Result<std::vector<QueueMessage>> PeekMessages(std::string_view queue, int limit) override {
    return inner_.PeekMessages(queue, limit);
  }
  Result<std::optional<TimePoint>> NextVisibleAt(std::string_view queue) override {
    return inner_.NextVisibleAt(queue);
  }
  Status Heartbeat(const NodeRecord& node, milliseconds lease) override {
    return inner_.Heartbeat(node, lease);
  }
  Result<std::vector<NodeRecord>> ListNodes() override { return inner_.ListNodes(); }
  Result<bool> MarkNodeLost(std::string_view id, std::string_view pending_reason) override {
    return inner_.MarkNodeLost(id, pending_reason);
  }
  Result<std::vector<JobRecord>> ListNodeJobs(std::string_view node,
                                              const std::vector<JobState>& states) override {
    return inner_.ListNodeJobs(node, states);
  }
  Status SettleLostJob(std::string_view node, std::string_view id, const JobStatusUpdate& update,
                       std::string_view requeue_queue, milliseconds delay) override;
  Result<std::vector<std::string>> ListCancelRequested(std::string_view node) override {
    return inner_.ListCancelRequested(node);
  }

  // Registers the values read at scrape time: jobs by live state, and each of `queues`' depth
  // and oldest message age.
  void AddGauges(const std::vector<std::string>& queues);

 private:
  // Records a change the inner store accepted. `before` is the job as it was, when known.
  void Changed(std::string_view id, const JobStatusUpdate& update, const JobRecord* before);
  void ObserveCommit(const char* op, TimePoint start);

  Store& inner_;
  const Clock& clock_;
  Metrics& metrics_;
  JobEventHub& events_;
};

}  // namespace berth
