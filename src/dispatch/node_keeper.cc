#include "dispatch/node_keeper.h"

#include "common/log.h"
#include "dispatch/dispatcher.h"
#include "dispatch/retry_marker.h"

namespace berth {

NodeKeeper::NodeKeeper(NodeKeeperOptions opts, Store& store, Clock& clock, Dispatcher* dispatcher)
    : opts_(std::move(opts)),
      store_(store),
      clock_(clock),
      dispatcher_(dispatcher),
      started_at_(clock.Now()) {
  // Nothing is claimed until the first heartbeat holds the lease.
  if (dispatcher_ != nullptr) dispatcher_->SetLeaseHeld(false);
}

NodeKeeper::~NodeKeeper() { Stop(); }

Status NodeKeeper::Start() {
  Tick();
  Status first = lease_held() ? Status::Ok()
                              : Status::Unavailable("node '" + opts_.node +
                                                    "': the first heartbeat failed; trying again");
  thread_ = std::thread([this] {
    MutexLock lock(stop_mu_);
    while (!stopping_) {
      stop_cv_.wait_for(lock, opts_.tick);
      if (stopping_) break;
      lock.unlock();
      Tick();
      lock.lock();
    }
  });
  if (dispatcher_ != nullptr) {
    watchdog_ = std::thread([this] {
      MutexLock lock(stop_mu_);
      while (!stopping_) {
        stop_cv_.wait_for(lock, std::max(milliseconds(20), opts_.lease / 24));
        if (stopping_) break;
        lock.unlock();
        Watch();
        lock.lock();
      }
    });
  }
  return first;
}

void NodeKeeper::Watch() {
  int64_t last_ok = last_ok_ms_.load();
  if (last_ok == 0 || watchdog_fired_.load()) return;
  int64_t now = ToUnixMillis(clock_.Now());
  if (now - last_ok < (opts_.lease * 5 / 6).count()) return;
  watchdog_fired_.store(true);
  lapse_pending_.store(true);
  LogWarn(
      "node lease lapsed: no heartbeat got through; claiming nothing, and stopping the "
      "OnFailure jobs another node may run again",
      {{"node", opts_.node}});
  dispatcher_->SetLeaseHeld(false);
  dispatcher_->StopRerunnable();
}

void NodeKeeper::Stop() {
  {
    MutexLock lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (watchdog_.joinable()) watchdog_.join();
}

bool NodeKeeper::lease_held() {
  MutexLock lock(mu_);
  return held_;
}

void NodeKeeper::Tick() {
  MutexLock lock(mu_);
  TimePoint now = clock_.Now();
  // The lease is given up a little before it ends: past it, another node may take the jobs.
  // Checked before the heartbeat too: a round that comes late (the process was stopped, the
  // machine suspended) must not take a good heartbeat now for a lease held all along.
  if (lapse_pending_.exchange(false) && held_) {
    // The watchdog acted while a round hung: the lease is held again only through a fence.
    held_ = false;
    healthy_since_.reset();
  }
  if (held_ && Lapsed(now)) {
    held_ = false;
    healthy_since_.reset();
    if (dispatcher_ != nullptr) {
      dispatcher_->SetLeaseHeld(false);
      dispatcher_->StopRerunnable();
    }
    LogWarn("node lease lapsed: claiming nothing until a heartbeat succeeds",
            {{"node", opts_.node}});
  }
  if (!last_attempt_ || now - *last_attempt_ >= opts_.lease / 3 || !held_) Beat(now);
  if (!held_ && !Lapsed(now)) {
    // Back (or first start): containers of jobs taken meanwhile go before any claim.
    if (dispatcher_ != nullptr) {
      dispatcher_->Fence();
      dispatcher_->RecoverExits();
      dispatcher_->SetLeaseHeld(true);
    }
    held_ = true;
  }
  if (!held_) return;
  if (dispatcher_ != nullptr) PollCancels();
  if (healthy_since_ && now - *healthy_since_ >= opts_.lease) HandleLostNodes(now);
}

bool NodeKeeper::Lapsed(TimePoint now) {
  return !last_ok_ || now - *last_ok_ >= opts_.lease * 5 / 6;
}

void NodeKeeper::Beat(TimePoint now) {
  last_attempt_ = now;
  NodeRecord me;
  me.id = opts_.node;
  me.role = opts_.role;
  me.version = opts_.version;
  me.started_at = started_at_;
  me.jobs_running = dispatcher_ != nullptr ? dispatcher_->active() : 0;
  me.capacity = opts_.capacity;
  Status st = store_.Heartbeat(me, opts_.lease);
  if (!st.ok()) {
    healthy_since_.reset();
    if (!beat_failing_) {
      LogWarn("heartbeat failed", {{"node", opts_.node}, {"error", st.ToString()}});
    }
    beat_failing_ = true;
    return;
  }
  if (beat_failing_) LogInfo("heartbeat succeeds again", {{"node", opts_.node}});
  beat_failing_ = false;
  // A gap (a failure, or a round that came too late) restarts the healthy period.
  if (!healthy_since_ || !last_ok_ || now - *last_ok_ >= opts_.lease * 5 / 6) {
    healthy_since_ = now;
  }
  last_ok_ = now;
  last_ok_ms_.store(ToUnixMillis(now));
  watchdog_fired_.store(false);
}

void NodeKeeper::PollCancels() {
  Result<std::vector<std::string>> ids = store_.ListCancelRequested(opts_.node);
  if (!ids.ok()) return;  // the next round asks again
  for (const std::string& id : *ids) dispatcher_->Cancel(id);
}

void NodeKeeper::HandleLostNodes(TimePoint now) {
  Result<std::vector<NodeRecord>> nodes = store_.ListNodes();
  if (!nodes.ok()) return;
  for (const NodeRecord& n : *nodes) {
    if (n.id == opts_.node) continue;
    if (!n.lost_at) {
      if (n.lease_until >= now) continue;
      std::string reason = "NodeLost: node '" + n.id + "' (last heard " +
                           FormatRfc3339(n.heartbeat_at) +
                           ") was lost before it started the job; queued again";
      Result<bool> marked = store_.MarkNodeLost(n.id, reason);
      if (!marked.ok()) {
        LogWarn("record a lost node", {{"node", n.id}, {"error", marked.status().ToString()}});
        continue;
      }
      if (!*marked) continue;  // another node got there first (or it is back)
      LogWarn("node lost: its lease passed without a heartbeat",
              {{"node", n.id}, {"last_heartbeat", FormatRfc3339(n.heartbeat_at)}});
    }
    // Recorded lost (now or earlier, by any node): its running jobs, if any are left.
    Result<std::vector<JobRecord>> jobs = store_.ListNodeJobs(n.id, {JobState::kRunning});
    if (!jobs.ok()) continue;
    for (const JobRecord& job : *jobs) SettleRunning(n, job);
  }
}

void NodeKeeper::SettleRunning(const NodeRecord& node, const JobRecord& job) {
  TimePoint now = clock_.Now();
  std::string reason = "NodeLost: node '" + node.id + "' that ran the job was lost (last heard " +
                       FormatRfc3339(node.heartbeat_at) + ")";
  std::vector<AttemptRecord> history = job.history;
  history.push_back({job.attempts, std::nullopt, reason, job.started_at, now});
  int runs = static_cast<int>(history.size());
  int max_retries = job.spec.max_retries.value_or(opts_.max_retries);
  Status st;
  if (job.spec.restart_policy == RestartPolicy::kOnFailure && runs <= max_retries) {
    // The dispatcher's retry: a new attempt on any node, after the same back-off.
    milliseconds delay = RetryDelay(runs, opts_.retry_backoff, opts_.retry_backoff_max);
    JobStatusUpdate queued{JobState::kQueued,
                           std::nullopt,
                           "Retrying: attempt " + std::to_string(runs) + " failed (" + reason +
                               "); next attempt in " + std::to_string(delay.count()) + " ms",
                           job.started_at,
                           std::nullopt,
                           job.attempts};
    queued.history = history;
    queued.node = std::string();
    st = store_.SettleLostJob(node.id, job.id, queued, opts_.queue, delay);
  } else {
    JobStatusUpdate failed{JobState::kFailed, std::nullopt, reason,
                           job.started_at,    now,          job.attempts};
    failed.history = history;
    st = store_.SettleLostJob(node.id, job.id, failed, "", milliseconds(0));
  }
  if (st.ok()) {
    LogWarn("job of a lost node settled", {{"job", job.id}, {"node", node.id}, {"reason", reason}});
  } else if (st.code() != StatusCode::kFailedPrecondition) {
    LogWarn("settle a lost node's job", {{"job", job.id}, {"error", st.ToString()}});
  }
}

}  // namespace berth
