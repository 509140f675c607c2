// The supervising half of the Dispatcher: cancel, timeouts, recording exits, and retries.
#include <algorithm>
#include <cstdio>

#include "common/log.h"
#include "dispatch/dispatcher.h"
#include "dispatch/retry_marker.h"

namespace berth {
namespace {

// At a lapse of the node's lease another node may run an OnFailure job again: its container
// here goes.
void KillAtLapse(Runtime& runtime, const std::string& id) {
  LogWarn("node lease lapsed: killing an OnFailure job's container (another node may run it)",
          {{"job", id}});
  if (Status st = runtime.Stop(id, /*force=*/true); !st.ok() && !st.IsNotFound()) {
    LogError("kill", {{"job", id}, {"error", st.ToString()}});
  }
}

}  // namespace

void Dispatcher::Supervise(const JobRecord& job) {
  if (job.spec.timeout_seconds > 0 && job.started_at) {
    TimePoint deadline = *job.started_at + std::chrono::seconds(job.spec.timeout_seconds);
    uint64_t handle = scheduler_.At(deadline, [this, id = job.id] {
      {
        MutexLock lock(mu_);
        timeout_timers_.erase(id);
        if (!watching_.count(id)) return;
        timed_out_.insert(id);
      }
      LogWarn("job timed out, killing it", {{"job", id}});
      if (Status st = runtime_.Stop(id, /*force=*/true); !st.ok()) {
        LogError("kill", {{"job", id}, {"error", st.ToString()}});
      }
    });
    MutexLock lock(mu_);
    timeout_timers_[job.id] = handle;
  }
  bool cancel;
  bool lapsed = false;
  {
    MutexLock lock(mu_);
    cancel = job.cancel_requested || canceling_.count(job.id);
    if (job.spec.restart_policy == RestartPolicy::kOnFailure) {
      rerunnable_.insert(job.id);
      // The lease lapsed while the job started: StopRerunnable went by before the job was in
      // rerunnable_.
      lapsed = rerunnable_stopped_ && watching_.count(job.id) && lease_lost_.insert(job.id).second;
    }
  }
  if (lapsed) KillAtLapse(runtime_, job.id);
  if (cancel) Cancel(job.id);
}

void Dispatcher::StopRerunnable() {
  // Alone on its store, nobody else runs this node's jobs: nothing to fence against.
  if (!opts_.shared_store) return;
  std::vector<std::string> ids;
  {
    MutexLock lock(mu_);
    rerunnable_stopped_ = true;
    for (const std::string& id : rerunnable_) {
      if (watching_.count(id) && lease_lost_.insert(id).second) ids.push_back(id);
    }
  }
  for (const std::string& id : ids) KillAtLapse(runtime_, id);
}

void Dispatcher::Cancel(const std::string& id) {
  bool stop;
  {
    MutexLock lock(mu_);
    canceling_.insert(id);
    // A job still starting is stopped by Supervise once its container runs; one being stopped
    // already is not stopped again (workers poll the store for cancels).
    stop = watching_.count(id) > 0 && stop_sent_.insert(id).second;
  }
  if (stop) StopJob(id);
}

void Dispatcher::StopJob(const std::string& id) {
  Status st = runtime_.Stop(id, /*force=*/false);
  if (!st.ok()) LogError("stop", {{"job", id}, {"error", st.ToString()}});
  scheduler_.After(opts_.cancel_grace, [this, id] {
    {
      MutexLock lock(mu_);
      if (!watching_.count(id)) return;
    }
    LogWarn("still running after the grace period, killing it", {{"job", id}});
    if (Status st = runtime_.Stop(id, /*force=*/true); !st.ok()) {
      LogError("kill", {{"job", id}, {"error", st.ToString()}});
    }
  });
}

void Dispatcher::OnExit(const std::string& id, const Outcome& outcome) {
  CrashPoint(crash_points_, "exited");
  bool fenced = false;
  {
    MutexLock lock(mu_);
    if (fenced_.erase(id) > 0) {
      fenced = true;
      // Killed by Fence: the job is another node's (or gone); its end is not this node's to say.
      canceling_.erase(id);
      stop_sent_.erase(id);
      timed_out_.erase(id);
      lease_lost_.erase(id);
      rerunnable_.erase(id);
      if (auto it = timeout_timers_.find(id); it != timeout_timers_.end()) {
        scheduler_.Cancel(it->second);
        timeout_timers_.erase(it);
      }
      watching_.erase(id);
    }
  }
  if (fenced) {
    ReleaseSlot();
    return;
  }
  auto job = ReadJob(id);
  bool canceled, timed_out, lease_lost;
  {
    MutexLock lock(mu_);
    canceled = canceling_.erase(id) > 0 || (job.ok() && job->cancel_requested);
    stop_sent_.erase(id);
    timed_out = timed_out_.erase(id) > 0;
    lease_lost = lease_lost_.erase(id) > 0;
    rerunnable_.erase(id);
    if (auto it = timeout_timers_.find(id); it != timeout_timers_.end()) {
      scheduler_.Cancel(it->second);
      timeout_timers_.erase(it);
    }
  }
  if (!job.ok()) {
    LogError("exit not recorded: the job cannot be read",
             {{"job", id}, {"error", job.status().ToString()}});
    // RecoverExits reports it once the store is back: with the same reason.
    MutexLock lock(mu_);
    if (lease_lost) lease_lost_.insert(id);
  }
  OutcomeVerdict v = Judge(outcome);
  if (canceled) {
    v = {JobState::kCanceled, v.exit_code, "Canceled"};
  } else if (lease_lost) {
    v = {JobState::kFailed, v.exit_code,
         "NodeLost: node '" + opts_.node +
             "' lost its lease in the store and stopped the run, so that no other node runs "
             "the job while it does"};
  } else if (timed_out) {
    v = {JobState::kFailed, v.exit_code,
         "Timeout: ran longer than timeoutSeconds=" +
             std::to_string(job.ok() ? job->spec.timeout_seconds : 0)};
  }
  TimePoint now = clock_.Now();
  bool retried = false;
  if (job.ok() && !IsTerminal(job->state)) {
    std::vector<AttemptRecord> history = job->history;
    history.push_back({job->attempts, v.exit_code, v.reason, job->started_at, now});
    if (v.state == JobState::kFailed) retried = Retry(*job, history, v);
    if (!retried) {
      JobStatusUpdate done{v.state, v.exit_code, v.reason, job->started_at, now, job->attempts};
      done.history = history;
      done.expect_node = ExpectOwner();
      (void)Write(id, "record exit", [&] { return store_.UpdateJobStatus(id, done); });
    }
  }
  {
    MutexLock lock(mu_);
    watching_.erase(id);
  }
  ReleaseSlot();
}

bool Dispatcher::Retry(const JobRecord& job, const std::vector<AttemptRecord>& history,
                       const OutcomeVerdict& verdict) {
  if (job.spec.restart_policy != RestartPolicy::kOnFailure) return false;
  int runs = static_cast<int>(history.size());
  int max_retries = job.spec.max_retries.value_or(opts_.max_retries);  // the job's own wins
  if (runs > max_retries) return false;
  milliseconds delay = RetryDelay(runs, opts_.retry_backoff, opts_.retry_backoff_max);
  // The store first: once the retry is queued with the finished run in its history, a crash at
  // any later step loses nothing (the next start sets the run's records aside if this did not).
  JobStatusUpdate queued{JobState::kQueued,
                         verdict.exit_code,
                         "Retrying: attempt " + std::to_string(runs) + " failed (" +
                             verdict.reason + "); next attempt in " +
                             std::to_string(delay.count()) + " ms",
                         job.started_at,
                         std::nullopt,
                         job.attempts};
  queued.history = history;
  queued.expect_node = ExpectOwner();
  if (opts_.shared_store) queued.node = std::string();  // any node may run the next attempt
  Status st = Write(job.id, "queue a retry",
                    [&] { return store_.RequeueJob(job.id, opts_.queue, delay, queued); });
  if (!st.ok()) return false;
  CrashPoint(crash_points_, "requeued");
  std::string marker = RetryMarker(runs, verdict.reason, max_retries + 1, delay);
  st = runtime_.PrepareRetry(job.id, job.attempts, marker);
  if (!st.ok()) {
    // The next start tries again before it runs anything.
    LogError("set the finished run aside", {{"job", job.id}, {"error", st.ToString()}});
  }
  scheduler_.After(delay, [this] { Wake(); });
  return true;
}

}  // namespace berth
