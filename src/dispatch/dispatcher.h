// Dispatcher: the queue trigger. Claims messages from the store's job queue, starts each job's
// container through the Runtime, and records how it ended.
//
// Delivery is at-least-once: a message is deleted only once its container runs; a failed start
// releases it (its dequeue count already counts the attempt) and after `max_dequeue_count`
// attempts it moves to the poison queue and the job fails. A redelivered message whose job
// already has a monitor adopts it instead of starting a second container. At most
// `max_concurrent` jobs hold a slot (starting or running).
//
// It also supervises the jobs it runs: a cancel stops the container (SIGTERM, SIGKILL after a
// grace period), `timeoutSeconds` kills it, and an OnFailure job that failed is queued again
// with exponential backoff until its retries are spent. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/scheduler.h"
#include "common/thread_pool.h"
#include "runtime/runtime.h"
#include "store/store.h"

namespace berth {

struct DispatcherOptions {
  std::string queue = "jobs";         // JobQueueName
  int max_concurrent = 16;            // MaxConcurrentJobs
  int max_dequeue_count = 5;          // MaxDequeueCount: attempts before the poison queue
  milliseconds lease{60'000};         // visibility timeout of a claimed message while it starts
  milliseconds retry_delay{0};        // a failed start's message is visible again after this
  milliseconds idle_poll{1'000};      // how often the queue is checked with no local wake-up
  int start_threads = 4;              // containers started in parallel
  bool paused = false;                // DispatchPaused: claim nothing (jobs stay queued)
  milliseconds cancel_grace{10'000};  // SIGTERM, then SIGKILL after this
  int max_retries = 3;                // OnFailure: runs after the first one
  milliseconds retry_backoff{1'000};  // first retry delay; doubles for each retry
  milliseconds retry_backoff_max{60'000};  // the delay never exceeds this
  // Test-only fault injection: "after-start-before-delete" kills this process (SIGKILL) after a
  // container started and before its queue message is deleted.
  std::string fault_point;
};

class Dispatcher {
 public:
  Dispatcher(DispatcherOptions opts, Store& store, Runtime& runtime, Clock& clock);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Re-attaches to the jobs that were starting or running (monitors outlive daemons), then
  // starts the claim loop.
  Status Start();

  // Stops claiming and waits for starts in progress. Running jobs keep running.
  void Stop();

  // Checks the queue now (called after a local enqueue).
  void Wake();

  // Jobs holding a slot: starting or running.
  int active();

  // Stops job `id` if this node runs it (or is starting it): the job ends Canceled. Call after
  // Store::RequestCancel said the job is Pending or Running.
  void Cancel(const std::string& id);

 private:
  void Loop();
  void Launch(const QueueMessage& msg);
  void LaunchFailed(const QueueMessage& msg, const JobRecord& job, const Status& why);
  void Adopt(const QueueMessage& msg, const JobRecord& job);
  Status WatchJob(const std::string& id);
  void OnExit(const std::string& id, const Outcome& outcome);
  // Queues an OnFailure job again; false when it has no retries left or the requeue failed.
  bool Retry(const JobRecord& job, const std::vector<AttemptRecord>& history,
             const OutcomeVerdict& verdict);
  void Supervise(const JobRecord& job);
  void StopJob(const std::string& id);
  void RenewWhileStarting(const QueueMessage& msg, std::shared_ptr<std::atomic<bool>> starting);
  void ReleaseSlot();
  void Reconcile();

  DispatcherOptions opts_;
  Store& store_;
  Runtime& runtime_;
  Clock& clock_;

  std::mutex mu_;
  std::condition_variable cv_;
  int active_ = 0;                   // GUARDED_BY(mu_)
  bool woken_ = true;                // GUARDED_BY(mu_)
  bool stopping_ = false;            // GUARDED_BY(mu_)
  std::set<std::string> watching_;   // GUARDED_BY(mu_): jobs whose exit we wait for
  std::set<std::string> canceling_;  // GUARDED_BY(mu_): cancel asked, exit not seen yet
  std::set<std::string> timed_out_;  // GUARDED_BY(mu_): killed for their timeout
  std::map<std::string, uint64_t> timeout_timers_;  // GUARDED_BY(mu_): scheduler handles
  Scheduler scheduler_;
  std::unique_ptr<ThreadPool> starters_;
  std::thread loop_;
};

}  // namespace berth
