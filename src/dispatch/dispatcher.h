// Dispatcher: the queue trigger. Claims messages from the store's job queue, starts each job's
// container through the Runtime, and records how it ended.
//
// Delivery is at-least-once: a message is deleted only once its container runs; a failed start
// releases it (its dequeue count already counts the attempt) and after `max_dequeue_count`
// attempts it moves to the poison queue and the job fails. At most `max_concurrent` jobs hold a
// slot (starting or running).
//
// At most one container per job, by construction rather than timing:
// - a claimed message's lease is renewed from the moment of the claim until it is deleted or
//   released, so it is not delivered again while its start waits or runs;
// - every status write is a compare-and-set in the store (job/job.h AllowedSources): a job moves
//   to Pending only while Queued (or Pending) and not cancel-requested, and the container is
//   started only after that move succeeded; a Running job never goes back;
// - one start per job at a time in this process (`starting_`), and the runtime's per-job claim
//   (an flock held by the monitor) across processes on the node;
// - a redelivered message whose job already has a monitor adopts it instead of starting again.
// Every store write on the job path is checked; transient failures are retried, the rest logged.
//
// A job whose image is not on the node is pulled on the pull threads before its start, so that
// a slow registry never holds the start threads.
//
// It also supervises the jobs it runs: a cancel stops the container (SIGTERM, SIGKILL after a
// grace period), `timeoutSeconds` kills it, and an OnFailure job that failed is queued again
// with exponential backoff until its retries are spent. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/crash_points.h"
#include "common/mutex.h"
#include "common/scheduler.h"
#include "common/thread_pool.h"
#include "runtime/runtime.h"
#include "store/store.h"

namespace berth {

struct DispatcherOptions {
  std::string queue = "jobs";   // JobQueueName
  int max_concurrent = 16;      // MaxConcurrentJobs
  int max_dequeue_count = 5;    // MaxDequeueCount: attempts before the poison queue
  milliseconds lease{60'000};   // visibility timeout of a claimed message while it starts
  milliseconds retry_delay{0};  // a failed start's message is visible again after this
  // Back-off between failed start attempts (Kubernetes' ImagePullBackOff): after attempt n the
  // message waits start_backoff * 2^(n-1), at most start_backoff_max (and at least retry_delay).
  // An unreachable registry then costs 1+2+4+8 s before the poison queue, not milliseconds.
  milliseconds start_backoff{1'000};       // StartBackoffMs
  milliseconds start_backoff_max{60'000};  // StartBackoffMaxMs
  milliseconds idle_poll{1'000};           // how often the queue is checked with no local wake-up
  int start_threads = 4;                   // containers started in parallel
  // Image pulls run on their own threads (at most this many at once), off the start threads: a
  // slow registry holds its own jobs back, not the jobs whose images are here.
  int pull_threads = 4;
  bool paused = false;                     // DispatchPaused: claim nothing (jobs stay queued)
  milliseconds cancel_grace{10'000};       // SIGTERM, then SIGKILL after this
  int max_retries = 3;                     // OnFailure: runs after the first one
  milliseconds retry_backoff{1'000};       // first retry delay; doubles for each retry
  milliseconds retry_backoff_max{60'000};  // the delay never exceeds this
  // Transient store failures on the job path are retried this many times (with a doubling
  // pause from 10 ms) before they are logged as lost.
  int store_write_attempts = 8;
  // NodeId: recorded in the store as the owner of every job this dispatcher claims; "" = none.
  std::string node;
  // Whether other nodes share the store (PostgreSQL; needs `node`). Then every status write of
  // a job is a compare-and-set on its owner too (a job whose loss another node handled is never
  // written again by this one), start-up adopts only this node's jobs (and those that have no
  // owner, from before owners were recorded), and Fence runs first. Off (one node on SQLite):
  // every unfinished job in the store is this node's, as before.
  bool shared_store = false;
  // Start returns at once and the jobs left by the last daemon are adopted on the claim loop's
  // thread, before it claims anything. Off: Start returns once every job is adopted. (A daemon
  // serves its API while it adopts.)
  bool reconcile_in_background = false;
  // Told, once start-up's adoption is done, the jobs whose running monitors were adopted.
  std::function<void(const std::vector<std::string>& adopted)> on_reconciled;
};

class Dispatcher {
 public:
  // `crash_points` (tests only; null in production) is told each step of the job path.
  Dispatcher(DispatcherOptions opts, Store& store, Runtime& runtime, Clock& clock,
             CrashPoints* crash_points = nullptr);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Re-attaches to the jobs that were starting or running (monitors outlive daemons), then
  // starts the claim loop (both on the loop's thread with `reconcile_in_background`).
  Status Start();

  // Stops claiming, waits for starts in progress, and cancels the runtime's watches (no exit
  // callback reaches this dispatcher afterwards). Running jobs keep running.
  void Stop();

  // Checks the queue now (called after a local enqueue).
  void Wake();

  // Jobs holding a slot: starting or running.
  int active();

  // Stops job `id` if this node runs it (or is starting it): the job ends Canceled. Call after
  // Store::RequestCancel said the job is Pending or Running. Calling it again for a job being
  // stopped does nothing more.
  void Cancel(const std::string& id);

  // Whether this node's lease in the store is held (NodeKeeper). While it is not (true at first),
  // the dispatcher claims nothing and starts no container: its jobs may be another node's by now.
  void SetLeaseHeld(bool held);

  // Fencing: kills (SIGKILL) the container of every job on this node that the store no longer
  // gives to it (another node's, Queued again, ended, or gone), and records nothing for them.
  // Runs at Start (shared_store) and when a lapsed lease is held again, before any claim.
  void Fence();

  // Self-fencing, when this node's lease lapsed (NodeKeeper; it needs no store): kills (SIGKILL)
  // the containers of this node's OnFailure jobs, which another node may run again as soon as it
  // records this node lost, and those of OnFailure jobs whose start ends before the lease is
  // held again. Their ends are recorded (when the store can be reached) with a reason starting
  // "NodeLost:", so that a job still this node's is retried as usual. The other jobs keep
  // running: nobody else runs them again. Nothing on a store no other node shares.
  void StopRerunnable();

  // After a lapse, once the lease is held again (after Fence): watches again this node's
  // Running jobs that nobody watches — their end came while the store could not take it — so
  // that the end their monitor recorded reaches the store (and an OnFailure job is retried).
  void RecoverExits();

 private:
  // A claimed message and its lease: renewed until `held` turns false.
  struct Claim {
    QueueMessage msg;
    std::shared_ptr<std::atomic<bool>> held;
    // The job as the claim's own transaction moved it to Pending (a first start); empty when
    // the claim left it alone and Settle decides.
    std::optional<JobRecord> pending;
  };

  void Loop();
  void RenewWhileHeld(Claim claim);
  void Launch(const Claim& claim);
  // A delivery of job `id` is done with: launches a delivery that waited for it, if any.
  void EndStart(const std::string& id);
  // Decides what a delivered message means for its job and acts; false when the job still
  // needs a start (it is then Pending, recorded by this call).
  bool Settle(const QueueMessage& msg, JobRecord& job);
  // Starts a Pending job, or hands it to the pull threads when its image is not here.
  // `in_flight` lives as long as the start (or the pull before it) is under way.
  void StartOrPull(const QueueMessage& msg, JobRecord job, std::shared_ptr<void> in_flight);
  void StartJob(const QueueMessage& msg, JobRecord job);
  // On a pull thread: brings the job's image, then starts it (or fails the attempt).
  void PullAndStart(const QueueMessage& msg, const JobRecord& job);
  // Records what a start of `job` is busy with as its Pending detail.
  StartProgress ProgressOf(const JobRecord& job);
  void LaunchFailed(const QueueMessage& msg, const JobRecord& job, const Status& why);
  void Adopt(const QueueMessage& msg, const JobRecord& job);
  // Runs a store write, retrying transient failures; logs a failure that remains. `what` names
  // the write for the log.
  Status Write(const std::string& id, const char* what, const std::function<Status()>& write);
  Result<JobRecord> ReadJob(const std::string& id);
  Status WatchJob(const std::string& id);
  void OnExit(const std::string& id, const Outcome& outcome);
  // Queues an OnFailure job again; false when it has no retries left or the requeue failed.
  bool Retry(const JobRecord& job, const std::vector<AttemptRecord>& history,
             const OutcomeVerdict& verdict);
  void Supervise(const JobRecord& job);
  void StopJob(const std::string& id);
  void ReleaseSlot();
  // Adopts this node's unfinished jobs; the ids of those whose monitors run.
  std::vector<std::string> Reconcile();
  // The owner a status write expects (shared_store), and the owner a claim records.
  std::optional<std::string> ExpectOwner() const;
  std::optional<std::string> RecordOwner() const;
  // Whether the store gives `job` to this node: Pending or Running, and this node's (or no
  // node's, from before owners were recorded).
  bool Owns(const JobRecord& job) const;

  DispatcherOptions opts_;
  Store& store_;
  Runtime& runtime_;
  Clock& clock_;
  CrashPoints* crash_points_;  // tests only; null in production

  Mutex mu_;
  std::condition_variable_any cv_;
  int active_ GUARDED_BY(mu_) = 0;
  bool woken_ GUARDED_BY(mu_) = true;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::set<std::string> starting_ GUARDED_BY(mu_);  // jobs a Launch is deciding or starting
  // Deliveries of jobs in starting_, claimed meanwhile: each is launched when the one before
  // it is done (EndStart).
  std::multimap<std::string, Claim> waiting_starts_ GUARDED_BY(mu_);
  std::set<std::string> watching_ GUARDED_BY(mu_);    // jobs whose exit we wait for
  std::set<std::string> canceling_ GUARDED_BY(mu_);   // cancel asked, exit not seen yet
  std::set<std::string> timed_out_ GUARDED_BY(mu_);   // killed for their timeout
  std::set<std::string> stop_sent_ GUARDED_BY(mu_);   // a cancel's SIGTERM went out
  std::set<std::string> fenced_ GUARDED_BY(mu_);      // killed by Fence: nothing is recorded
  std::set<std::string> rerunnable_ GUARDED_BY(mu_);  // watched OnFailure jobs
  std::set<std::string> lease_lost_ GUARDED_BY(mu_);  // killed by StopRerunnable
  // StopRerunnable ran and the lease is not back (Fence clears it): an OnFailure job whose
  // start ends meanwhile is stopped as it is supervised.
  bool rerunnable_stopped_ GUARDED_BY(mu_) = false;
  std::atomic<bool> lease_held_{true};
  std::atomic<bool> reconciled_{false};  // Start adopted this node's jobs (RecoverExits waits)
  std::map<std::string, uint64_t> timeout_timers_ GUARDED_BY(mu_);  // scheduler handles
  Scheduler scheduler_;
  std::unique_ptr<ThreadPool> starters_;
  std::unique_ptr<ThreadPool> enders_;   // records exits (OnExit), start_threads of them
  std::unique_ptr<ThreadPool> pullers_;  // image pulls; posted to only while !stopping_
  std::thread loop_;
};

}  // namespace berth
