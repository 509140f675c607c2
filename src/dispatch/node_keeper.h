// NodeKeeper: this node's life among many (issue 11). It heartbeats in the store, holds or
// drops the dispatcher's right to claim as its lease holds or lapses (fencing first when the
// lease is held again), passes cancels made through any node to the dispatcher, and handles
// the loss of other nodes.
//
// - Heartbeat: every lease/3, with role, version, jobs running and capacity.
// - Lapse: when no heartbeat succeeded for 5/6 of the lease, the dispatcher stops claiming and
//   starting (another node may handle this node's loss at any moment after the lease).
//   When a heartbeat succeeds again: Dispatcher::Fence, then claims resume. A watchdog thread
//   of its own (a round may hang on an unreachable store) kills, at the lapse, the containers
//   of this node's OnFailure jobs (Dispatcher::StopRerunnable): another node runs them again
//   once it records this node lost, and a job never runs on two nodes at once.
// - Cancels: each round, the ids of this node's jobs whose cancel was requested (through any
//   node) go to Dispatcher::Cancel.
// - Node loss: a node whose lease passed is recorded lost by exactly one node
//   (Store::MarkNodeLost, a compare-and-set; its Pending jobs go back to the queue); then each
//   of its Running jobs ends Failed with a reason starting "NodeLost:", or, restartPolicy
//   OnFailure with retries left, is queued again as a new attempt (the dispatcher's retry
//   rules; its history keeps the lost run). Every such write is a compare-and-set on the job's
//   state and owner (Store::SettleLostJob). A node handles others' loss only after its own
//   heartbeats have succeeded without a gap for one whole lease: when the store itself was out
//   (every lease lapses at once), the others get the time to heartbeat again first.
//
// Tick() is one round; Start() runs rounds on a thread every `tick`. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/mutex.h"
#include "store/store.h"

namespace berth {

class Dispatcher;

struct NodeKeeperOptions {
  std::string node;            // NodeId (required)
  std::string role = "all";    // Role: all, api, worker
  std::string version;         // this build's version, shown in GET /api/nodes
  int capacity = 0;            // MaxConcurrentJobs (0 on an api node)
  milliseconds lease{30'000};  // NodeLeaseSeconds: lost once this passes without a heartbeat
  // How often a round runs: polls cancels and looks for lost nodes. Default 500 ms: a cancel
  // reaches the worker within a second.
  milliseconds tick{500};
  // A lost node's OnFailure jobs: the dispatcher's retry rules (MaxRetries, RetryBackoffMs,
  // RetryBackoffMaxMs) and the queue they go back to.
  std::string queue = "jobs";
  int max_retries = 3;
  milliseconds retry_backoff{1'000};
  milliseconds retry_backoff_max{60'000};
};

class NodeKeeper {
 public:
  // `dispatcher` is null on a node that runs no jobs (role api): it only heartbeats and
  // handles other nodes' loss.
  NodeKeeper(NodeKeeperOptions opts, Store& store, Clock& clock, Dispatcher* dispatcher);
  ~NodeKeeper();
  NodeKeeper(const NodeKeeper&) = delete;
  NodeKeeper& operator=(const NodeKeeper&) = delete;

  // Runs a first round now (its heartbeat's failure is returned; the keeper keeps trying),
  // then starts the rounds' thread.
  Status Start();
  // Stops the rounds (the node's row stays: it is lost once its lease passes).
  void Stop();

  // One round: the heartbeat when due, lapse or recovery, cancels, other nodes' loss.
  void Tick();

  // Whether the lease is held (the last heartbeat is recent enough).
  bool lease_held();

 private:
  void Beat(TimePoint now) REQUIRES(mu_);
  // Whether no heartbeat succeeded for most of the lease (5/6 of it) by `now`.
  bool Lapsed(TimePoint now) REQUIRES(mu_);
  void PollCancels();
  void HandleLostNodes(TimePoint now);
  void SettleRunning(const NodeRecord& node, const JobRecord& job);
  // The watchdog's check: the lapse, measured from the last good heartbeat, needing no store.
  void Watch();

  NodeKeeperOptions opts_;
  Store& store_;
  Clock& clock_;
  Dispatcher* dispatcher_;
  TimePoint started_at_;

  Mutex mu_;                                               // one round at a time
  std::optional<TimePoint> last_attempt_ GUARDED_BY(mu_);  // when the last heartbeat began
  std::optional<TimePoint> last_ok_ GUARDED_BY(mu_);       // when the last good heartbeat began
  // Since when heartbeats have succeeded without a gap; empty after a failure.
  std::optional<TimePoint> healthy_since_ GUARDED_BY(mu_);
  bool held_ GUARDED_BY(mu_) = false;
  bool beat_failing_ GUARDED_BY(mu_) = false;  // logged once per outage

  Mutex stop_mu_;
  std::condition_variable_any stop_cv_;
  bool stopping_ GUARDED_BY(stop_mu_) = false;
  std::thread thread_;
  std::thread watchdog_;
  // When the last good heartbeat began (ms since the epoch; 0 before the first), and whether
  // the watchdog acted on its lapse already. Read without mu_: a round may hold it for long.
  std::atomic<int64_t> last_ok_ms_{0};
  std::atomic<bool> watchdog_fired_{false};
  std::atomic<bool> lapse_pending_{false};  // the watchdog saw a lapse the rounds must act on
};

}  // namespace berth
