// AzureQueueStore: a Store whose job queue lives in an Azure Storage queue (AzureWebJobsStorage),
// consumed the way the Functions queue trigger consumes it. It decorates the real store: every
// job method forwards to it; the queue methods for the job queue (and its "-poison" queue) go to
// Azure through a QueueService.
//
// - Submits stay durable: SubmitJob forwards unchanged (the job and a local message in one
//   commit: the local queue is the outbox) and a relay thread puts each local message's job id
//   on the Azure queue, deleting the local message only once Azure acknowledged it. An
//   unreachable Azure delays jobs, never loses them; a retry's delayed local message waits
//   until it is visible.
// - ClaimMessages is Get Messages (at most `batch_size`, the message's own DequeueCount); a lease
//   renewal or a release is an Update Message (which answers a new pop receipt: this store keeps
//   the current one per claimed message, since the dispatcher holds the first); RecordRunning is
//   the inner compare-and-set to Running, then the Azure delete; PoisonMessage puts a copy on
//   "<queue>-poison" in the same account, deletes the original and records the job's end.
// - Any producer may write to the queue: a message whose text is the id of a stored job runs that
//   job; a JSON job spec becomes a new job whose idempotency key is derived from the Azure
//   message id (a redelivered message makes no second job, and such a job gets no relay message:
//   the Azure message is its message); anything else is moved to the poison queue with the
//   reason in the log.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "azure/queue_client.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "store/store.h"

namespace berth {

// QueueMessageEncoding: how a message's text carries a job id or spec.
enum class MessageEncoding { kBase64, kNone };
// "base64" or "none"; InvalidArgument otherwise.
Result<MessageEncoding> ParseMessageEncoding(std::string_view name);

struct AzureQueueStoreOptions {
  std::string queue = "jobs";                           // JobQueueName: in the Azure account
  MessageEncoding encoding = MessageEncoding::kBase64;  // QueueMessageEncoding
  int batch_size = 16;                                  // messages per Get Messages (1..32)
  std::chrono::milliseconds relay_poll{500};            // how often the outbox is looked at unwoken
  std::chrono::milliseconds relay_backoff_max{5'000};   // pause cap while Azure is unreachable
  // Accepts or refuses a spec read from the queue (the API's policy: host network, callback
  // URLs). Null accepts every spec ParseJobSpec accepts.
  std::function<Status(const JobSpec&)> check_spec;
};

class AzureQueueStore : public Store {
 public:
  // `inner` and `azure` must outlive this store.
  AzureQueueStore(AzureQueueStoreOptions opts, Store& inner, QueueService& azure,
                  const Clock& clock);
  ~AzureQueueStore() override;

  // Creates the queue and its poison queue (a failure is logged: the relay retries), then
  // starts the relay.
  void Start();
  // Stops the relay (what it has not relayed stays in the outbox).
  void Stop();
  // Looks at the outbox now.
  void WakeRelay();
  // `wake` runs after the relay put messages on the Azure queue (the dispatcher's Wake).
  void SetOnRelayed(std::function<void()> wake);

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
  Result<JobRecord> RequestCancel(std::string_view id) override { return inner_.RequestCancel(id); }
  Status RequeueJob(std::string_view id, std::string_view queue, milliseconds delay,
                    const JobStatusUpdate& update) override;
  Result<std::vector<std::string>> ListFinishedBefore(TimePoint cutoff, int limit) override {
    return inner_.ListFinishedBefore(cutoff, limit);
  }
  Status DeleteJob(std::string_view id) override { return inner_.DeleteJob(id); }
  Status UpdateJobStatus(std::string_view id, const JobStatusUpdate& update) override {
    return inner_.UpdateJobStatus(id, update);
  }
  Status RecordRunning(const QueueMessage& msg, const JobStatusUpdate& update) override;
  Result<std::vector<QueueMessage>> ClaimMessages(std::string_view queue, int max,
                                                  milliseconds lease) override;
  Status RenewLease(const QueueMessage& msg, milliseconds lease) override;
  Status DeleteMessage(const QueueMessage& msg) override;
  Status ReleaseMessage(const QueueMessage& msg, milliseconds delay) override;
  Status PoisonMessage(const QueueMessage& msg, std::string_view poison_queue,
                       const JobStatusUpdate& job_update) override;
  Result<std::vector<QueueMessage>> PeekMessages(std::string_view queue, int limit) override;
  Result<std::optional<TimePoint>> NextVisibleAt(std::string_view queue) override;
  // Nodes live in the inner store.
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
                       std::string_view requeue_queue, milliseconds delay) override {
    return inner_.SettleLostJob(node, id, update, requeue_queue, delay);
  }
  Result<std::vector<std::string>> ListCancelRequested(std::string_view node) override {
    return inner_.ListCancelRequested(node);
  }

  // One pass of the relay (what its thread runs): relays every visible outbox message, and
  // answers how many it took from the outbox, or the Azure error that stopped it.
  Result<int> RelayOnce();

  // The local queue the jobs made from queued specs are submitted on (their local message is
  // dropped at once: the Azure message is theirs).
  std::string InboxQueue() const { return opts_.queue + "-azure-inbox"; }

 private:
  // A message claimed from Azure: its id and the current pop receipt (renewals change it).
  struct Held {
    std::string message_id;
    std::string pop_receipt;
    std::string text;           // as received (what a poison copy carries)
    std::shared_ptr<Mutex> op;  // one Azure operation at a time per message
  };
  // What a received message means: a job to run, nothing (it was handled: poisoned, or an
  // array's parent made), or an error that leaves it for a later delivery.
  struct Resolved {
    std::string job_id;  // empty: nothing to hand to the dispatcher
  };

  bool Ours(std::string_view queue) const { return queue == opts_.queue; }
  bool OursOrPoison(std::string_view queue) const {
    return queue == opts_.queue || queue == opts_.queue + "-poison";
  }
  Result<Resolved> Resolve(const AzureMessage& m);
  // Creates (or finds, for a redelivery) the job of spec message `m`.
  Result<Resolved> JobFromSpec(const AzureMessage& m, JobSpec spec);
  // Moves a message nobody can run to the poison queue, logging why.
  void PoisonUnrunnable(const AzureMessage& m, const std::string& reason);
  std::string Encode(std::string_view text) const;
  Result<std::string> Decode(std::string_view text) const;
  // Takes the entry of a claimed message; FailedPrecondition when this store does not hold it.
  Result<Held> Find(const QueueMessage& msg);
  void Forget(int64_t id);
  Status EnsureQueues();
  // Runs an Azure call; a missing queue is created and the call tried once more.
  Status WithQueue(const std::function<Status()>& call);

  void RelayLoop();
  void DropInbox();

  const AzureQueueStoreOptions opts_;
  Store& inner_;
  QueueService& azure_;
  const Clock& clock_;

  Mutex mu_;
  std::map<int64_t, Held> held_ GUARDED_BY(mu_);
  int64_t next_id_ GUARDED_BY(mu_) = 1;
  bool queues_ready_ GUARDED_BY(mu_) = false;
  bool woken_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::function<void()> on_relayed_ GUARDED_BY(mu_);
  std::condition_variable_any cv_;
  std::thread relay_;
};

}  // namespace berth
