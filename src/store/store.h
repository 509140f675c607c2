// Store: durable jobs and queue messages. One interface, several engines (SqliteStore now,
// PostgresStore later); the conformance tests in store_conformance_test.cc run against each.
//
// Queue semantics follow the Azure Functions queue trigger: at-least-once delivery; a claimed
// message is invisible for its lease (visibility timeout) and carries a fresh pop receipt; every
// claim counts one dequeue; the holder deletes it when done, or releases it to be seen again;
// a message that failed too often moves to the poison queue (`<queue>-poison`).
//
// Every method is thread-safe. No method holds in-process state another node would need.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "job/job.h"

namespace berth {

struct QueueMessage {
  int64_t id = 0;
  std::string queue;
  std::string job_id;
  int dequeue_count = 0;    // claims so far, this one included
  std::string pop_receipt;  // proves the current claim; stale after the lease is lost
  TimePoint inserted_at;
  TimePoint next_visible;  // while claimed: when the lease ends
};

// The part of a job that changes as it runs. An optional left empty keeps the stored value.
struct JobStatusUpdate {
  JobState state = JobState::kQueued;
  std::optional<int> exit_code;
  std::string reason;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
  int attempts = 0;
  std::optional<std::vector<AttemptRecord>> history = std::nullopt;  // replaces it when set
  std::optional<std::string> node = std::nullopt;  // the owning node; kept when unset
  // A compare-and-set on the owner as well: the write applies only while the stored node is
  // this one (FailedPrecondition otherwise). A node writes about its jobs with its own id, so
  // that a job another node took over (its loss handled) is never touched by it again.
  std::optional<std::string> expect_node = std::nullopt;
};

// How ClaimJobs moves the job of each message it claims to Pending, in the claim's transaction.
struct PendingClaim {
  std::string reason;                              // the job's reason while Pending
  std::optional<std::string> node = std::nullopt;  // its owner from now on; kept when unset
};

// A message ClaimJobs claimed. `pending` holds its job as stored after the claim moved it from
// Queued to Pending; it is empty when the claim left the job alone (any other case: a retry, a
// cancel requested, a job of another state), and the claimer then reads the job and decides.
struct ClaimedJob {
  QueueMessage msg;
  std::optional<JobRecord> pending;
};

// A berth node as the store knows it: what its last heartbeat said.
struct NodeRecord {
  std::string id;    // NodeId
  std::string role;  // all, api, worker
  std::string version;
  TimePoint started_at;
  TimePoint heartbeat_at;
  TimePoint lease_until;  // the node counts as lost once this passes without a heartbeat
  int jobs_running = 0;
  int capacity = 0;                  // MaxConcurrentJobs (0 for an api node)
  std::optional<TimePoint> lost_at;  // when another node handled its loss
};

// The FailedPrecondition a store answers when a write of job `id` expected owner `expected`
// (JobStatusUpdate::expect_node) and the job belongs to `stored` ("" = no node).
Status NotOwner(std::string_view id, std::string_view expected, std::string_view stored);

class Store {
 public:
  virtual ~Store() = default;

  // Durably records `job` (state Queued) and one message for it on `queue`, in one transaction.
  // Returns at once; `done` runs (on a store thread) after the commit is on disk (fsync'd), or
  // with the error. Concurrent submissions share commits (group commit); a submission whose id
  // exists already fails alone with AlreadyExists.
  virtual void SubmitJob(JobRecord job, std::string queue, std::function<void(Status)> done) = 0;

  // SubmitJob, waiting for the commit.
  Status SubmitJobAndWait(JobRecord job, std::string queue);

  // The job with `id`; NotFound when there is none.
  virtual Result<JobRecord> GetJob(std::string_view id) = 0;

  // Jobs in any of `states` (every state when empty), newest first, at most `limit`.
  Result<std::vector<JobRecord>> ListJobs(const std::vector<JobState>& states, int limit) {
    return ListJobsPage(states, limit, INT64_MAX);
  }

  // ListJobs restricted to jobs submitted before the one with sequence number `before_seq`
  // (JobRecord::seq): the next page after a page whose last job had that seq.
  virtual Result<std::vector<JobRecord>> ListJobsPage(const std::vector<JobState>& states,
                                                      int limit, int64_t before_seq) = 0;

  // ListJobsPage for a listing: each job's spec carries only what a list shows of it (image,
  // callbackUrl, and an array's count, parallelism and completionPolicy); its command,
  // environment and the rest stay in the store. A page of 1,000 jobs then costs their
  // summaries, not their specs (up to 1 MiB each).
  virtual Result<std::vector<JobRecord>> ListJobSummaries(const std::vector<JobState>& states,
                                                          int limit, int64_t before_seq) = 0;

  // The job submitted with `idempotency_key`; NotFound when there is none.
  virtual Result<JobRecord> FindJobByIdempotencyKey(std::string_view idempotency_key) = 0;

  // Asks to cancel a job, in one transaction: a Queued job becomes Canceled at once (its
  // messages are deleted); a Pending or Running job gets cancel_requested (the worker running it
  // stops it); a terminal job is left alone. Returns the job as it is afterwards.
  virtual Result<JobRecord> RequestCancel(std::string_view id) = 0;

  // In one transaction: sets the job's status and puts a new message for it on `queue`,
  // visible after `delay` (a retry). FailedPrecondition when the job is terminal.
  virtual Status RequeueJob(std::string_view id, std::string_view queue, milliseconds delay,
                            const JobStatusUpdate& update) = 0;

  // Ids of terminal jobs that finished before `cutoff`, oldest first, at most `limit`.
  virtual Result<std::vector<std::string>> ListFinishedBefore(TimePoint cutoff, int limit) = 0;

  // Removes a job and its messages. NotFound when there is no such job.
  virtual Status DeleteJob(std::string_view id) = 0;

  // Sets a job's status. FailedPrecondition when the job is already terminal (a terminal
  // state is never left); NotFound when there is no such job.
  virtual Status UpdateJobStatus(std::string_view id, const JobStatusUpdate& update) = 0;

  // In one transaction: moves job `msg.job_id` to Running with `update` (a compare-and-set, see
  // AllowedSources in job/job.h) and deletes `msg` if its pop receipt is still current (a lost
  // lease does not undo the Running; the message's next holder finds the job Running). Returns
  // the job's move: FailedPrecondition (and no change at all) when it cannot move to Running.
  virtual Status RecordRunning(const QueueMessage& msg, const JobStatusUpdate& update) = 0;

  // Claims up to `max` visible messages of `queue`, oldest first: each becomes invisible until
  // now + `lease`, its dequeue count goes up by one, and it gets a new pop receipt.
  virtual Result<std::vector<QueueMessage>> ClaimMessages(std::string_view queue, int max,
                                                          milliseconds lease) = 0;

  // ClaimMessages, and in the same transaction the first start's move of each claimed job to
  // Pending: a job that is Queued, has no earlier run and no cancel requested becomes Pending
  // with `pending`'s reason and owner and attempts = its message's dequeue count (the
  // compare-and-set that UpdateJobStatus to Pending makes). One commit where the claim and the
  // move took two. This default moves nothing (every `pending` empty); engines override it.
  virtual Result<std::vector<ClaimedJob>> ClaimJobs(std::string_view queue, int max,
                                                    milliseconds lease,
                                                    const PendingClaim& pending) {
    (void)pending;
    ASSIGN_OR_RETURN(std::vector<QueueMessage> msgs, ClaimMessages(queue, max, lease));
    std::vector<ClaimedJob> claimed;
    claimed.reserve(msgs.size());
    for (QueueMessage& m : msgs) claimed.push_back({std::move(m), std::nullopt});
    return claimed;
  }

  // Extends a claim to now + `lease`. FailedPrecondition when the pop receipt is stale.
  virtual Status RenewLease(const QueueMessage& msg, milliseconds lease) = 0;

  // Deletes a claimed message. FailedPrecondition when the pop receipt is stale.
  virtual Status DeleteMessage(const QueueMessage& msg) = 0;

  // Makes a claimed message visible again after `delay` (its dequeue count stays).
  // FailedPrecondition when the pop receipt is stale.
  virtual Status ReleaseMessage(const QueueMessage& msg, milliseconds delay) = 0;

  // In one transaction: moves a claimed message to `poison_queue` (visible there, never
  // claimed by the dispatcher of the source queue) and sets its job's status to `job_update`.
  virtual Status PoisonMessage(const QueueMessage& msg, std::string_view poison_queue,
                               const JobStatusUpdate& job_update) = 0;

  // Every message on `queue`, claimed or not, oldest first (for the API and tests).
  virtual Result<std::vector<QueueMessage>> PeekMessages(std::string_view queue, int limit) = 0;

  // The earliest time a message of `queue` becomes visible; nullopt when the queue is empty.
  virtual Result<std::optional<TimePoint>> NextVisibleAt(std::string_view queue) = 0;

  // Many nodes (issue 11). Records `node`'s heartbeat: its row is created or updated, its lease
  // runs to now + `lease`, and a loss recorded before is cleared (the node is back).
  virtual Status Heartbeat(const NodeRecord& node, milliseconds lease) {
    (void)node, (void)lease;
    return NoNodes();
  }

  // Every node that ever heartbeated, by id.
  virtual Result<std::vector<NodeRecord>> ListNodes() { return NoNodes(); }

  // Records the loss of node `id`, a compare-and-set that exactly one caller wins: true when its
  // lease has passed, no loss was recorded yet, and this call recorded it (lost_at = now); false
  // otherwise (alive, unknown, or handled by another node). In the same transaction the node's
  // Pending jobs (claimed, not started) go back to Queued with `pending_reason`, no owner, and
  // their messages visible at once (the next claim counts one more dequeue).
  virtual Result<bool> MarkNodeLost(std::string_view id, std::string_view pending_reason) {
    (void)id, (void)pending_reason;
    return NoNodes();
  }

  // The jobs owned by `node` in any of `states`, oldest first.
  virtual Result<std::vector<JobRecord>> ListNodeJobs(std::string_view node,
                                                      const std::vector<JobState>& states) {
    (void)node, (void)states;
    return NoNodes();
  }

  // Settles job `id` of lost node `node` in one transaction, only while the node is still
  // recorded lost (a heartbeat that came back first wins) and the job is still the node's (a
  // compare-and-set on state and owner): with an empty `requeue_queue` its status becomes
  // `update`; else, as RequeueJob, its status becomes `update` and a new message goes on
  // `requeue_queue`, visible after `delay`. FailedPrecondition when the node or the job moved on.
  virtual Status SettleLostJob(std::string_view node, std::string_view id,
                               const JobStatusUpdate& update, std::string_view requeue_queue,
                               milliseconds delay) {
    (void)node, (void)id, (void)update, (void)requeue_queue, (void)delay;
    return NoNodes();
  }

  // Ids of `node`'s Pending and Running jobs whose cancel was requested (one indexed query:
  // each worker polls it so that a cancel made through any node reaches it).
  virtual Result<std::vector<std::string>> ListCancelRequested(std::string_view node) {
    (void)node;
    return NoNodes();
  }

 private:
  static Status NoNodes() { return Status::FailedPrecondition("this store keeps no nodes"); }
};

}  // namespace berth
