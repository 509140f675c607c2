#include "dispatch/dispatcher.h"

#include <algorithm>
#include <cstdio>

#include "common/log.h"
#include "dispatch/retry_marker.h"

namespace berth {
namespace {

// Store failures worth trying again: the engine was busy or briefly unable to write.
bool Transient(const Status& st) {
  return st.code() == StatusCode::kUnavailable || st.code() == StatusCode::kIoError ||
         st.code() == StatusCode::kResourceExhausted || st.code() == StatusCode::kInternal;
}

// A claimed job's reason while Pending, until its start reports something else.
constexpr std::string_view kClaimedReason = "claimed; preparing its container";

// A job being launched: while it lives, the job stays in the set of in-flight ids and its
// message's lease is renewed. Shared by the start and (when there is one) the pull before it.
class InFlight {
 public:
  InFlight(std::function<void()> on_end, std::shared_ptr<std::atomic<bool>> held)
      : on_end_(std::move(on_end)), held_(std::move(held)) {}
  ~InFlight() {
    held_->store(false);
    on_end_();
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  std::function<void()> on_end_;
  std::shared_ptr<std::atomic<bool>> held_;
};

}  // namespace

Dispatcher::Dispatcher(DispatcherOptions opts, Store& store, Runtime& runtime, Clock& clock,
                       CrashPoints* crash_points)
    : opts_(std::move(opts)),
      store_(store),
      runtime_(runtime),
      clock_(clock),
      crash_points_(crash_points),
      scheduler_(clock, milliseconds(20)) {}

Dispatcher::~Dispatcher() { Stop(); }

Status Dispatcher::Start() {
  starters_ = std::make_unique<ThreadPool>(opts_.start_threads);
  enders_ = std::make_unique<ThreadPool>(opts_.start_threads);
  pullers_ = std::make_unique<ThreadPool>(opts_.pull_threads);
  auto adopt = [this] {
    std::vector<std::string> adopted = Reconcile();
    reconciled_.store(true);
    if (opts_.on_reconciled) opts_.on_reconciled(adopted);
  };
  if (!opts_.reconcile_in_background) adopt();
  loop_ = std::thread([this, adopt] {
    if (opts_.reconcile_in_background) adopt();
    Loop();
  });
  return Status::Ok();
}

void Dispatcher::Stop() {
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  // Nothing is posted to the pullers once stopping_ is set; queued pulls release their
  // messages, a pull in progress runs to its end (or its deadline).
  pullers_.reset();
  starters_.reset();  // finishes the starts in progress
  // No exit callback may reach this object once it is gone.
  runtime_.StopWatching();
  enders_.reset();  // records the exits the last callbacks handed on
}

void Dispatcher::Wake() {
  {
    MutexLock lock(mu_);
    // Already woken: the loop has yet to claim, or it waits for a free slot or the node's
    // lease, which notify on their own (or dispatch is paused). A wake per submit then was a
    // thread wake-up per job for nothing.
    if (woken_) return;
    woken_ = true;
  }
  cv_.notify_all();
}

int Dispatcher::active() {
  MutexLock lock(mu_);
  return active_;
}

Status Dispatcher::Write(const std::string& id, const char* what,
                         const std::function<Status()>& write) {
  Status st = write();
  milliseconds pause(10);
  for (int attempt = 1; !st.ok() && Transient(st) && attempt < opts_.store_write_attempts;
       ++attempt) {
    LogWarn(std::string(what) + " failed; trying again",
            {{"job", id}, {"error", st.ToString()}, {"retry_ms", std::to_string(pause.count())}});
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, milliseconds(1000));
    st = write();
  }
  if (!st.ok() && st.code() != StatusCode::kFailedPrecondition) {
    LogError(std::string(what) + " failed", {{"job", id}, {"error", st.ToString()}});
  }
  return st;
}

Result<JobRecord> Dispatcher::ReadJob(const std::string& id) {
  Result<JobRecord> job = store_.GetJob(id);
  milliseconds pause(10);
  for (int attempt = 1;
       !job.ok() && Transient(job.status()) && attempt < opts_.store_write_attempts; ++attempt) {
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, milliseconds(1000));
    job = store_.GetJob(id);
  }
  return job;
}

std::optional<std::string> Dispatcher::ExpectOwner() const {
  if (!opts_.shared_store || opts_.node.empty()) return std::nullopt;
  return opts_.node;
}

std::optional<std::string> Dispatcher::RecordOwner() const {
  if (opts_.node.empty()) return std::nullopt;
  return opts_.node;
}

bool Dispatcher::Owns(const JobRecord& job) const {
  if (job.state != JobState::kPending && job.state != JobState::kRunning) return false;
  return job.node.empty() || job.node == opts_.node;
}

void Dispatcher::SetLeaseHeld(bool held) {
  lease_held_.store(held);
  if (!held) return;
  {
    MutexLock lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();  // even when already woken: the loop may be waiting for this lease
}

void Dispatcher::Fence() {
  if (!opts_.shared_store) return;  // alone on its store, every job there is this node's
  {
    // The lease is back (or first held): a start that ends from here is supervised as usual,
    // and so is a job RecoverExits watches again (its end keeps its own reason).
    MutexLock lock(mu_);
    rerunnable_stopped_ = false;
  }
  for (const std::string& id : runtime_.ListLocalJobs()) {
    Result<JobRecord> job = ReadJob(id);
    if (!job.ok() && !job.status().IsNotFound()) {
      LogWarn("fence: cannot read the job; left alone",
              {{"job", id}, {"error", job.status().ToString()}});
      continue;
    }
    if (job.ok() && Owns(*job)) continue;
    {
      // A watched one's exit then records nothing (the store refuses it anyway).
      MutexLock lock(mu_);
      if (watching_.count(id)) fenced_.insert(id);
    }
    Status st = runtime_.Stop(id, /*force=*/true);
    if (st.ok()) {
      LogWarn("fence: killed the container of a job this node no longer owns",
              {{"job", id},
               {"state", job.ok() ? std::string(ToString(job->state)) : "deleted"},
               {"owner", job.ok() ? job->node : ""}});
    } else if (!st.IsNotFound()) {
      LogError("fence: kill", {{"job", id}, {"error", st.ToString()}});
    }
  }
}

void Dispatcher::RecoverExits() {
  // Before Start, Reconcile adopts every job of this node.
  if (!opts_.shared_store || opts_.node.empty() || !reconciled_.load()) return;
  auto jobs = store_.ListNodeJobs(opts_.node, {JobState::kRunning});
  if (!jobs.ok()) {
    LogWarn("recover exits: list this node's running jobs", {{"error", jobs.status().ToString()}});
    return;
  }
  for (const JobRecord& job : *jobs) {
    {
      MutexLock lock(mu_);
      if (watching_.count(job.id) || starting_.count(job.id)) continue;
      ++active_;
    }
    LogInfo("recover exits: watching a running job again", {{"job", job.id}});
    if (Status st = WatchJob(job.id); st.ok()) {
      Supervise(job);
    } else {
      ReleaseSlot();
      LogWarn("recover exits: watch", {{"job", job.id}, {"error", st.ToString()}});
    }
  }
}

std::vector<std::string> Dispatcher::Reconcile() {
  std::vector<std::string> adopted_ids;
  if (opts_.shared_store) Fence();
  auto jobs = store_.ListJobs({JobState::kPending, JobState::kRunning}, 1'000'000);
  if (!jobs.ok()) {
    LogError("reconcile: list unfinished jobs", {{"error", jobs.status().ToString()}});
    return adopted_ids;
  }
  for (const JobRecord& job : *jobs) {
    // On a shared store another node's jobs are that node's business (or its loss's).
    if (opts_.shared_store && !Owns(job)) continue;
    {
      MutexLock lock(mu_);
      ++active_;
    }
    JobRecord adopted = job;
    Status st = WatchJob(job.id);
    if (st.ok()) {
      if (job.state == JobState::kPending) {
        // Its container started before the daemon stopped, but Running was not recorded.
        adopted.state = JobState::kRunning;
        adopted.started_at = clock_.Now();
        JobStatusUpdate running{JobState::kRunning, std::nullopt, "",
                                adopted.started_at, std::nullopt, job.attempts};
        running.node = RecordOwner();
        running.expect_node = ExpectOwner();
        (void)Write(job.id, "record Running (adopted)",
                    [&] { return store_.UpdateJobStatus(job.id, running); });
      }
      Supervise(adopted);
      MutexLock lock(mu_);
      // A monitor found dead had its end recorded already (and is watched no more).
      if (watching_.count(job.id)) adopted_ids.push_back(job.id);
      continue;
    }
    ReleaseSlot();
    if (job.state == JobState::kRunning) {
      JobStatusUpdate u{JobState::kFailed,
                        std::nullopt,
                        "MonitorLost: no monitor found for a running job after a restart",
                        job.started_at,
                        clock_.Now(),
                        job.attempts};
      u.expect_node = ExpectOwner();
      (void)Write(job.id, "record MonitorLost", [&] { return store_.UpdateJobStatus(job.id, u); });
    }
    // A Pending job without a monitor never started: its message is redelivered.
  }
  return adopted_ids;
}

void Dispatcher::Loop() {
  MutexLock lock(mu_);
  while (!stopping_) {
    int free = opts_.max_concurrent - active_;
    if (free <= 0 || !woken_ || opts_.paused || !lease_held_.load()) {
      cv_.wait_for(lock, opts_.idle_poll);
      woken_ = woken_ || free > 0;  // an idle poll also looks at the queue
      continue;
    }
    woken_ = false;
    int want = std::min(free, 64);
    lock.unlock();
    // A first start moves to Pending in the claim's commit (the compare-and-set Settle makes).
    PendingClaim pending{std::string(kClaimedReason), RecordOwner()};
    auto claimed = store_.ClaimJobs(opts_.queue, want, opts_.lease, pending);
    // The hint takes the runtime's own lock: given before the dispatcher's is taken again.
    if (claimed.ok() && !claimed->empty()) runtime_.StartsComing();
    lock.lock();
    if (!claimed.ok()) {
      LogError("claim messages", {{"error", claimed.status().ToString()}});
      continue;
    }
    active_ += static_cast<int>(claimed->size());
    for (auto& [msg, job] : *claimed) {
      // The lease is kept from the moment of the claim, however long the start waits.
      Claim claim{std::move(msg), std::make_shared<std::atomic<bool>>(true), std::move(job)};
      RenewWhileHeld(claim);
      starters_->Post([this, claim] { Launch(claim); });
    }
    // A full batch may mean more is waiting.
    if (static_cast<int>(claimed->size()) == want) woken_ = true;
  }
}

void Dispatcher::RenewWhileHeld(Claim claim) {
  scheduler_.After(opts_.lease / 2, [this, claim] {
    if (!claim.held->load()) return;
    Status st = store_.RenewLease(claim.msg, opts_.lease);
    if (st.ok() || Transient(st)) {
      RenewWhileHeld(claim);
      return;
    }
    if (claim.held->load()) {
      LogWarn("lease of the job's message lost",
              {{"job", claim.msg.job_id}, {"error", st.ToString()}});
    }
  });
}

void Dispatcher::Launch(const Claim& claim) {
  const QueueMessage& msg = claim.msg;
  if (!lease_held_.load()) {
    // Claimed as this node's lease lapsed: the job may be another node's by now (a lost node's
    // retry, set up by the node that declared it lost). Nothing of it is touched here; its
    // message is visible again at once, to the nodes that hold their leases. A job the claim
    // moved to Pending goes back to Queued (owned by no node) first.
    if (claim.pending) {
      JobStatusUpdate queued{
          JobState::kQueued, std::nullopt, "claimed as its node's lease lapsed; back in the queue",
          std::nullopt,      std::nullopt, claim.pending->attempts};
      queued.expect_node = ExpectOwner();
      if (opts_.shared_store) queued.node = std::string();
      // Refused when the job moved on meanwhile (this node's loss handled elsewhere).
      (void)Write(msg.job_id, "record Queued",
                  [&] { return store_.UpdateJobStatus(msg.job_id, queued); });
    }
    (void)Write(msg.job_id, "release message",
                [&] { return store_.ReleaseMessage(msg, milliseconds(0)); });
    claim.held->store(false);
    ReleaseSlot();
    return;
  }
  {
    MutexLock lock(mu_);
    if (starting_.count(msg.job_id) > 0) {
      // Another delivery of this job is being handled here (or has just released its message
      // for a retry and not yet finished): this one is launched once that one is done, its
      // lease renewed meanwhile. Released now, it would come back only a lease later.
      waiting_starts_.emplace(msg.job_id, claim);
      return;
    }
    starting_.insert(msg.job_id);
  }
  auto in_flight =
      std::make_shared<InFlight>([this, id = msg.job_id] { EndStart(id); }, claim.held);
  CrashPoint(crash_points_, "claimed");
  if (claim.pending) {
    // Pending already, in the claim's commit: nothing to settle.
    StartOrPull(msg, *claim.pending, in_flight);
    return;
  }
  auto job = ReadJob(msg.job_id);
  if (!job.ok() && !job.status().IsNotFound()) {
    LogError("read job", {{"job", msg.job_id}, {"error", job.status().ToString()}});
    (void)Write(msg.job_id, "release message",
                [&] { return store_.ReleaseMessage(msg, opts_.retry_delay); });
    ReleaseSlot();
    return;
  }
  if (!job.ok()) {
    // Removed since the claim (its message went with it: nothing to release).
    ReleaseSlot();
    return;
  }
  if (Settle(msg, *job)) return;
  StartOrPull(msg, std::move(*job), in_flight);
}

void Dispatcher::EndStart(const std::string& id) {
  std::optional<Claim> next;
  {
    MutexLock lock(mu_);
    starting_.erase(id);
    if (auto it = waiting_starts_.find(id); it != waiting_starts_.end()) {
      next = std::move(it->second);
      waiting_starts_.erase(it);
    }
  }
  // On the thread that ended the last delivery (a start or a pull thread).
  if (next) Launch(*next);
}

void Dispatcher::StartOrPull(const QueueMessage& msg, JobRecord job,
                             std::shared_ptr<void> in_flight) {
  if (runtime_.HasImage(job.spec.image)) {
    StartJob(msg, std::move(job));
    return;
  }
  // A pull may take minutes (a slow registry): it runs on the pull threads, so that the start
  // threads stay free for jobs whose images are here. The message's lease is renewed meanwhile.
  {
    MutexLock lock(mu_);
    if (!stopping_) {
      pullers_->Post(
          [this, msg, record = std::move(job), in_flight] { PullAndStart(msg, record); });
      return;
    }
  }
  (void)Write(msg.job_id, "release message",
              [&] { return store_.ReleaseMessage(msg, opts_.retry_delay); });
  ReleaseSlot();
}

void Dispatcher::PullAndStart(const QueueMessage& msg, const JobRecord& job) {
  bool stopping;
  {
    MutexLock lock(mu_);
    stopping = stopping_;
  }
  if (stopping) {
    // Queued behind other pulls when the dispatcher stopped: another run delivers it again.
    (void)Write(job.id, "release message",
                [&] { return store_.ReleaseMessage(msg, opts_.retry_delay); });
    ReleaseSlot();
    return;
  }
  if (Status pulled = runtime_.PullImage(job.spec.image, ProgressOf(job)); !pulled.ok()) {
    LaunchFailed(msg, job, pulled);
    return;
  }
  // A pull may take minutes: decide again from what is stored now (a cancel that came during
  // the pull means the container never starts).
  auto now = ReadJob(job.id);
  if (now.status().IsNotFound()) {
    ReleaseSlot();  // removed meanwhile, and its message with it
    return;
  }
  if (!now.ok()) {
    StartJob(msg, job);
    return;
  }
  if (Settle(msg, *now)) return;
  StartJob(msg, std::move(*now));
}

StartProgress Dispatcher::ProgressOf(const JobRecord& job) {
  return [this, id = job.id, attempts = job.attempts](const std::string& detail) {
    JobStatusUpdate pending{JobState::kPending, std::nullopt, detail,
                            std::nullopt,       std::nullopt, attempts};
    pending.expect_node = ExpectOwner();
    // A detail only; refused once the job moved on (e.g. its cancel was requested).
    Status st = store_.UpdateJobStatus(id, pending);
    if (!st.ok() && st.code() != StatusCode::kFailedPrecondition) {
      LogWarn("record detail", {{"job", id}, {"error", st.ToString()}});
    }
  };
}

bool Dispatcher::Settle(const QueueMessage& msg, JobRecord& job) {
  const std::string id = job.id;
  for (int round = 0; round < 3; ++round) {
    if (IsTerminal(job.state)) {
      // Nothing to run: the job ended (e.g. canceled) before its message was taken.
      (void)Write(id, "delete message", [&] { return store_.DeleteMessage(msg); });
      ReleaseSlot();
      return true;
    }
    if (job.cancel_requested && job.state != JobState::kRunning) {
      // Canceled while an earlier start attempt was under way: never start it.
      JobStatusUpdate canceled{JobState::kCanceled, std::nullopt, "Canceled before it started",
                               std::nullopt,        clock_.Now(), job.attempts};
      (void)Write(id, "record Canceled", [&] { return store_.UpdateJobStatus(id, canceled); });
      (void)Write(id, "delete message", [&] { return store_.DeleteMessage(msg); });
      ReleaseSlot();
      return true;
    }
    if (job.state == JobState::kRunning && opts_.shared_store && !Owns(job)) {
      // A stale message of a job another node runs: that node records its end.
      (void)Write(id, "delete message", [&] { return store_.DeleteMessage(msg); });
      ReleaseSlot();
      return true;
    }
    if (job.state == JobState::kRunning) {
      // A redelivery of a job whose container runs: adopt it (or keep watching it).
      Adopt(msg, job);
      return true;
    }
    if (!job.history.empty()) {
      // A retry: set the finished run's records aside (done already unless a crash came
      // between queueing the retry and this step).
      const AttemptRecord& last = job.history.back();
      int runs = static_cast<int>(job.history.size());
      std::string marker =
          RetryMarker(runs, last.reason, job.spec.max_retries.value_or(opts_.max_retries) + 1,
                      RetryDelay(runs, opts_.retry_backoff, opts_.retry_backoff_max));
      if (Status st = runtime_.PrepareRetry(id, last.number, marker); !st.ok()) {
        LaunchFailed(msg, job, st);
        return true;
      }
    }
    job.attempts = static_cast<int>(job.history.size()) + msg.dequeue_count;
    JobStatusUpdate pending{JobState::kPending, std::nullopt, std::string(kClaimedReason),
                            std::nullopt,       std::nullopt, job.attempts};
    pending.node = RecordOwner();  // in the same compare-and-set: the job is this node's now
    Status st = Write(id, "record Pending", [&] { return store_.UpdateJobStatus(id, pending); });
    if (st.ok()) {
      job.state = JobState::kPending;
      if (pending.node) job.node = *pending.node;
      return false;
    }
    if (st.code() != StatusCode::kFailedPrecondition) {
      // The store is not writable now: the message comes back later.
      (void)Write(id, "release message",
                  [&] { return store_.ReleaseMessage(msg, opts_.retry_delay); });
      ReleaseSlot();
      return true;
    }
    // The job moved meanwhile (a cancel, an adoption): decide again from what is stored.
    auto again = ReadJob(id);
    if (!again.ok()) break;
    job = std::move(*again);
  }
  (void)Write(id, "release message", [&] { return store_.ReleaseMessage(msg, opts_.retry_delay); });
  ReleaseSlot();
  return true;
}

void Dispatcher::StartJob(const QueueMessage& msg, JobRecord job) {
  CrashPoint(crash_points_, "pending");
  if (!lease_held_.load()) {
    // This node's lease lapsed meanwhile: the job may be another node's by now. Its message
    // comes back (to any node) instead.
    (void)Write(job.id, "release message",
                [&] { return store_.ReleaseMessage(msg, opts_.retry_delay); });
    ReleaseSlot();
    return;
  }
  auto started = runtime_.Start(job.id, job.spec, ProgressOf(job));
  if (started.ok() || started.status().code() == StatusCode::kAlreadyExists) {
    CrashPoint(crash_points_, "started");
    Adopt(msg, job);
    return;
  }
  LaunchFailed(msg, job, started.status());
}

void Dispatcher::Adopt(const QueueMessage& msg, const JobRecord& job) {
  JobRecord running = job;
  running.state = JobState::kRunning;
  // Adopting a container that was already running keeps its start; a new run starts now.
  running.started_at =
      job.state == JobState::kRunning && job.started_at ? *job.started_at : clock_.Now();
  JobStatusUpdate update{JobState::kRunning, std::nullopt, "",
                         running.started_at, std::nullopt, job.attempts};
  update.node = RecordOwner();
  update.expect_node = ExpectOwner();
  // Running and the message's delete in one commit.
  Status st = Write(job.id, "record Running", [&] { return store_.RecordRunning(msg, update); });
  if (!st.ok() && st.code() == StatusCode::kFailedPrecondition && opts_.shared_store) {
    // Refused: the job may have been taken from this node while it started (its loss handled).
    Result<JobRecord> now = ReadJob(job.id);
    if (now.status().IsNotFound() || (now.ok() && !Owns(*now))) {
      LogWarn("the job is no longer this node's: killing the container it just started",
              {{"job", job.id}, {"owner", now.ok() ? now->node : ""}});
      if (Status killed = runtime_.Stop(job.id, /*force=*/true); !killed.ok()) {
        LogError("kill", {{"job", job.id}, {"error", killed.ToString()}});
      }
      ReleaseSlot();
      return;
    }
  }
  if (!st.ok()) {
    // The container runs whatever the store says: keep watching it so its end is recorded.
    LogError("could not record Running", {{"job", job.id}, {"error", st.ToString()}});
    (void)Write(job.id, "delete message", [&] { return store_.DeleteMessage(msg); });
  }
  CrashPoint(crash_points_, "running");
  {
    MutexLock lock(mu_);
    if (watching_.count(job.id)) {
      // Already watched (adopted by reconciliation or an earlier delivery): this slot was
      // counted twice.
      --active_;
      return;
    }
  }
  // A cancel that arrived while the container started (possibly through another node).
  auto now = ReadJob(job.id);
  if (now.ok()) running.cancel_requested = running.cancel_requested || now->cancel_requested;
  Status watched = WatchJob(job.id);
  if (!watched.ok()) {
    OnExit(job.id, MonitorLost{watched.ToString()});
    return;
  }
  Supervise(running);
}

void Dispatcher::LaunchFailed(const QueueMessage& msg, const JobRecord& job, const Status& why) {
  LogWarn(
      "start attempt failed",
      {{"job", job.id}, {"attempt", std::to_string(msg.dequeue_count)}, {"error", why.ToString()}});
  // FailedPrecondition (or InvalidArgument): the runtime says no attempt can succeed.
  bool permanent =
      why.code() == StatusCode::kFailedPrecondition || why.code() == StatusCode::kInvalidArgument;
  if (permanent || msg.dequeue_count >= opts_.max_dequeue_count) {
    std::string poison = opts_.queue + "-poison";
    std::string reason = permanent ? why.message()
                                   : "Poison: the job could not be started in " +
                                         std::to_string(msg.dequeue_count) +
                                         " attempts and its message moved to queue '" + poison +
                                         "'; last error: " + why.message();
    JobStatusUpdate failed{JobState::kFailed, std::nullopt, reason,
                           std::nullopt,      clock_.Now(), job.attempts};
    failed.expect_node = ExpectOwner();
    Status st =
        Write(job.id, "poison message", [&] { return store_.PoisonMessage(msg, poison, failed); });
    // The job ended meanwhile (e.g. canceled): its message is simply done.
    if (st.code() == StatusCode::kFailedPrecondition) {
      (void)Write(job.id, "delete message", [&] { return store_.DeleteMessage(msg); });
    }
  } else {
    JobStatusUpdate queued{JobState::kQueued,
                           std::nullopt,
                           "start attempt " + std::to_string(msg.dequeue_count) + " of " +
                               std::to_string(opts_.max_dequeue_count) +
                               " failed: " + why.message(),
                           std::nullopt,
                           std::nullopt,
                           job.attempts};
    milliseconds delay =
        std::max(opts_.retry_delay,
                 RetryDelay(msg.dequeue_count, opts_.start_backoff, opts_.start_backoff_max));
    queued.reason += "; next attempt in " + std::to_string(delay.count()) + " ms";
    queued.expect_node = ExpectOwner();
    if (opts_.shared_store) queued.node = std::string();  // any node may take the next attempt
    (void)Write(job.id, "record Queued", [&] { return store_.UpdateJobStatus(job.id, queued); });
    (void)Write(job.id, "release message", [&] { return store_.ReleaseMessage(msg, delay); });
    if (delay.count() > 0) scheduler_.After(delay, [this] { Wake(); });
  }
  ReleaseSlot();
}

Status Dispatcher::WatchJob(const std::string& id) {
  {
    MutexLock lock(mu_);
    watching_.insert(id);
  }
  // The runtime reports the jobs that ended together one after the other, on its watcher
  // thread; recorded there, each exit's commit waited for the one before. On the enders' threads
  // their status writes arrive together and share a commit (SqliteStore groups them).
  Status st = runtime_.Watch(id, [this](const std::string& job_id, Outcome outcome) {
    enders_->Post([this, job_id, outcome = std::move(outcome)] { OnExit(job_id, outcome); });
  });
  if (!st.ok()) {
    MutexLock lock(mu_);
    watching_.erase(id);
  }
  return st;
}

void Dispatcher::ReleaseSlot() {
  {
    MutexLock lock(mu_);
    --active_;
    woken_ = true;
  }
  cv_.notify_all();
}

}  // namespace berth
