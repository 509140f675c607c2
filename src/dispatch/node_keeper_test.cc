// Two nodes on one store (issue 11): each a Dispatcher, a FakeRuntime (its own machine) and a
// NodeKeeper driven round by round on a FakeClock. Runs against SQLite and a real PostgreSQL.
// Ownership, a lost node's claimed and running jobs, fencing, the rule that keeps a node from
// handling others' loss right after a store outage, and cancels that reach the owning node.
#include "dispatch/node_keeper.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "common/random.h"
#include "dispatch/dispatcher.h"
#include "runtime/fake_runtime.h"
#include "store/faulty_store.h"
#include "tests/support/test_stores.h"

namespace berth {
namespace {

using std::chrono::seconds;

constexpr milliseconds kNodeLease{10'000};

// One node: its own runtime (machine), its view of the shared store (which a test may cut off),
// its dispatcher and keeper.
struct TestNode {
  TestNode(std::string name, Store& shared) : name(std::move(name)), store(shared) {}
  std::string name;
  FaultyStore store;
  FakeRuntime runtime;
  std::unique_ptr<Dispatcher> dispatcher;
  std::unique_ptr<NodeKeeper> keeper;
  std::atomic<bool> cut_off{false};
};

class NodeKeeperTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    stores_ = std::make_unique<TestStores>(GetParam());
    Status st = stores_->Open(clock_);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    for (auto& n : nodes_) {
      if (n->keeper) n->keeper->Stop();
      if (n->dispatcher) n->dispatcher->Stop();
    }
    nodes_.clear();
    stores_.reset();
  }

  Store& store() { return *stores_->store(); }

  // Starts node `name`: its keeper's first round holds the lease, then the dispatcher starts.
  TestNode& StartNode(const std::string& name) {
    nodes_.push_back(std::make_unique<TestNode>(name, store()));
    TestNode& n = *nodes_.back();
    n.store.set_hook([&n](std::string_view, std::string_view, JobState) {
      return n.cut_off ? Status::Unavailable("cut off from the store") : Status::Ok();
    });
    DispatcherOptions d;
    d.idle_poll = milliseconds(10);
    d.start_backoff = milliseconds(0);
    d.retry_backoff = milliseconds(0);
    d.node = name;
    d.shared_store = true;
    d.store_write_attempts = 1;
    n.dispatcher = std::make_unique<Dispatcher>(d, n.store, n.runtime, clock_);
    NodeKeeperOptions k;
    k.node = name;
    k.role = "worker";
    k.capacity = d.max_concurrent;
    k.lease = kNodeLease;
    k.max_retries = 2;
    k.retry_backoff = milliseconds(0);
    n.keeper = std::make_unique<NodeKeeper>(k, n.store, clock_, n.dispatcher.get());
    n.keeper->Tick();
    EXPECT_TRUE(n.keeper->lease_held());
    EXPECT_TRUE(n.dispatcher->Start().ok());
    return n;
  }

  // Node `n` stops as if its machine froze: no more rounds, and its dispatcher claims nothing
  // (what its keeper would have told it had it run). Its containers and starts go on.
  static void Freeze(TestNode& n) { n.dispatcher->SetLeaseHeld(false); }

  // Moves time on by `total` in steps of one second, a round of each of `live` after each.
  void Pass(milliseconds total, std::initializer_list<TestNode*> live) {
    for (milliseconds t(0); t < total; t += seconds(1)) {
      clock_.Advance(seconds(1));
      for (TestNode* n : live) n->keeper->Tick();
    }
  }

  std::string Submit(JobSpec spec) {
    JobRecord job;
    job.id = NewUuidV4();
    job.spec = std::move(spec);
    job.created_at = clock_.Now();
    EXPECT_TRUE(store().SubmitJobAndWait(job, "jobs").ok());
    for (auto& n : nodes_) n->dispatcher->Wake();
    return job.id;
  }
  static JobSpec Spec(RestartPolicy policy = RestartPolicy::kNever) {
    JobSpec s;
    s.image = "busybox";
    s.command = {"sleep", "1000"};
    s.restart_policy = policy;
    return s;
  }

  template <typename Pred>
  bool Eventually(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return pred();
  }
  JobRecord Job(const std::string& id) { return store().GetJob(id).value(); }

  FakeClock clock_;
  std::unique_ptr<TestStores> stores_;
  std::vector<std::unique_ptr<TestNode>> nodes_;
};

TEST_P(NodeKeeperTest, ANodeHeartbeatsAndOwnsTheJobsItRuns) {
  TestNode& a = StartNode("node-a");
  std::string id = Submit(Spec());
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kRunning; }));
  EXPECT_EQ(Job(id).node, "node-a");
  clock_.Advance(seconds(4));
  a.keeper->Tick();
  auto nodes = store().ListNodes();
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].id, "node-a");
  EXPECT_EQ((*nodes)[0].role, "worker");
  EXPECT_EQ((*nodes)[0].jobs_running, 1);
  EXPECT_EQ((*nodes)[0].lease_until, clock_.Now() + kNodeLease);
}

TEST_P(NodeKeeperTest, ALostNodesRunningJobEndsNodeLostAndItsContainerIsKilledWhenItReturns) {
  TestNode& a = StartNode("node-a");
  std::string id = Submit(Spec());
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kRunning; }));
  TestNode& b = StartNode("node-b");
  // node-a stops heartbeating (its process frozen, its machine gone); node-b carries on.
  Freeze(a);
  Pass(kNodeLease + seconds(2), {&b});
  JobRecord lost = Job(id);
  EXPECT_EQ(lost.state, JobState::kFailed);
  EXPECT_TRUE(lost.reason.starts_with("NodeLost: node 'node-a'")) << lost.reason;
  ASSERT_EQ(lost.history.size(), 1u);
  EXPECT_EQ(b.runtime.containers(id), 0) << "not run again (restartPolicy Never)";
  // node-a comes back: it kills the container of the job it no longer owns, records nothing.
  a.keeper->Tick();
  EXPECT_TRUE(a.keeper->lease_held());
  EXPECT_EQ(a.runtime.stops(), std::vector<std::string>{"KILL " + id});
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(Job(id).state, JobState::kFailed);
  EXPECT_EQ(Job(id).reason, lost.reason) << "the fenced exit is not recorded";
}

// A claim under way when the node's lease is withdrawn takes nothing: the job is left as it was
// (not Pending on a node that may be lost) and its message is visible again at once. (Under load
// a lapsed node's claim once took a lost node's retry, set the retry up against its own runtime,
// and kept the message away from the live node for the retry delay.)
TEST_P(NodeKeeperTest, AClaimUnderWayWhenTheLeaseLapsesTakesNothing) {
  TestNode& a = StartNode("node-a");
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool armed = true, in_claim = false, go = false, released = false;
  };
  auto gate = std::make_shared<Gate>();
  a.store.set_hook([gate](std::string_view op, std::string_view, JobState) {
    std::unique_lock<std::mutex> lock(gate->mu);
    if (op == "ReleaseMessage" && gate->go) {
      gate->released = true;  // what the claim took is handed back
      gate->cv.notify_all();
    }
    if (op != "ClaimMessages" || !gate->armed) return Status::Ok();
    gate->armed = false;
    gate->in_claim = true;
    gate->cv.notify_all();
    gate->cv.wait(lock, [&] { return gate->go; });
    return Status::Ok();
  });
  {
    std::unique_lock<std::mutex> lock(gate->mu);
    ASSERT_TRUE(gate->cv.wait_for(lock, seconds(10), [&] { return gate->in_claim; }));
  }
  Freeze(a);  // the keeper withdraws the lease while the claim is under way
  std::string id = Submit(Spec());
  {
    std::lock_guard<std::mutex> lock(gate->mu);
    gate->go = true;
  }
  gate->cv.notify_all();
  {
    std::unique_lock<std::mutex> lock(gate->mu);
    ASSERT_TRUE(gate->cv.wait_for(lock, seconds(10), [&] { return gate->released; }));
  }
  // The message came back without delay (the clock does not move): claimable right away.
  std::vector<QueueMessage> claimed;
  ASSERT_TRUE(Eventually([&] {
    auto c = store().ClaimMessages("jobs", 10, seconds(30));
    if (c.ok()) claimed.insert(claimed.end(), c->begin(), c->end());
    return !claimed.empty();
  })) << "the message is held back; job "
      << static_cast<int>(Job(id).state);
  EXPECT_EQ(claimed[0].job_id, id);
  JobRecord job = Job(id);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.node, "");
  EXPECT_EQ(a.runtime.containers(id), 0);
}

TEST_P(NodeKeeperTest, ALostNodesOnFailureJobRunsAgainOnAnotherNode) {
  TestNode& a = StartNode("node-a");
  std::string id = Submit(Spec(RestartPolicy::kOnFailure));
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kRunning; }));
  TestNode& b = StartNode("node-b");
  Freeze(a);
  Pass(kNodeLease + seconds(2), {&b});
  b.dispatcher->Wake();
  ASSERT_TRUE(Eventually([&] {
    JobRecord j = Job(id);
    return j.state == JobState::kRunning && j.node == "node-b";
  })) << Job(id).reason;
  JobRecord j = Job(id);
  ASSERT_EQ(j.history.size(), 1u);
  EXPECT_TRUE(j.history[0].reason.starts_with("NodeLost: node 'node-a'")) << j.history[0].reason;
  EXPECT_EQ(b.runtime.containers(id), 1);
}

TEST_P(NodeKeeperTest, ALostNodesClaimedJobRunsOnAnotherNodeAndTheLateStartIsKilled) {
  TestNode& a = StartNode("node-a");
  std::atomic<bool> release{false};
  std::atomic<bool> in_start{false};
  a.runtime.set_start_hook([&](const std::string&) {
    in_start = true;
    while (!release) std::this_thread::sleep_for(milliseconds(2));
  });
  std::string id = Submit(Spec());
  ASSERT_TRUE(Eventually([&] { return in_start.load(); }));
  EXPECT_EQ(Job(id).state, JobState::kPending);
  EXPECT_EQ(Job(id).node, "node-a");
  TestNode& b = StartNode("node-b");
  Freeze(a);
  Pass(kNodeLease + seconds(2), {&b});
  b.dispatcher->Wake();
  ASSERT_TRUE(Eventually([&] {
    JobRecord j = Job(id);
    return j.state == JobState::kRunning && j.node == "node-b";
  })) << Job(id).reason;
  auto msgs = store().PeekMessages("jobs", 10);
  EXPECT_TRUE(msgs->empty());
  // node-a's start goes on late: the store refuses its Running, and it kills what it started.
  release = true;
  ASSERT_TRUE(Eventually([&] { return a.runtime.stops().size() == 1; }));
  EXPECT_EQ(a.runtime.stops(), std::vector<std::string>{"KILL " + id});
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(Job(id).state, JobState::kRunning);
  EXPECT_EQ(Job(id).node, "node-b");
}

TEST_P(NodeKeeperTest, AReturningNodeKillsWhatItLostAndKeepsWhatItStillOwns) {
  TestNode& a = StartNode("node-a");
  std::string taken = Submit(Spec());
  std::string kept = Submit(Spec());
  ASSERT_TRUE(Eventually([&] {
    return Job(taken).state == JobState::kRunning && Job(kept).state == JobState::kRunning;
  }));
  // node-a's lease passes; its loss is handled for one job when it comes back.
  clock_.Advance(kNodeLease + seconds(1));
  ASSERT_TRUE(store().MarkNodeLost("node-a", "").value());
  JobStatusUpdate failed{JobState::kFailed, std::nullopt, "NodeLost: test",
                         std::nullopt,      clock_.Now(), 1};
  ASSERT_TRUE(store().SettleLostJob("node-a", taken, failed, "", milliseconds(0)).ok());
  a.keeper->Tick();
  EXPECT_TRUE(a.keeper->lease_held());
  EXPECT_EQ(a.runtime.stops(), std::vector<std::string>{"KILL " + taken});
  // The kept one is still watched: its end is recorded.
  a.runtime.Finish(kept, Exited{0});
  ASSERT_TRUE(Eventually([&] { return Job(kept).state == JobState::kSucceeded; }));
  EXPECT_EQ(Job(taken).reason, "NodeLost: test");
}

TEST_P(NodeKeeperTest, StartUpLeavesAnotherNodesRunningJobAlone) {
  StartNode("node-b");
  std::string id = Submit(Spec());
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kRunning; }));
  // node-a starts: the job has no monitor here, and it is node-b's, not a lost one of ours.
  StartNode("node-a");
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(Job(id).state, JobState::kRunning);
  EXPECT_EQ(Job(id).node, "node-b");
}

TEST_P(NodeKeeperTest, NoNodeHandlesOthersLossRightAfterTheStoreWasOutForEveryone) {
  TestNode& a = StartNode("node-a");
  std::string id = Submit(Spec());
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kRunning; }));
  TestNode& b = StartNode("node-b");
  Pass(kNodeLease + seconds(1), {&a, &b});  // both healthy for a whole lease
  // The store is out for both (a PostgreSQL restart) for longer than a lease.
  a.cut_off = true;
  b.cut_off = true;
  Pass(kNodeLease + seconds(5), {&a, &b});
  EXPECT_FALSE(a.keeper->lease_held());
  EXPECT_FALSE(b.keeper->lease_held());
  // Back. node-b happens to get there first: node-a's lease has passed, but node-b must give it
  // a whole lease to heartbeat again.
  b.cut_off = false;
  b.keeper->Tick();
  EXPECT_TRUE(b.keeper->lease_held());
  EXPECT_EQ(Job(id).state, JobState::kRunning);
  a.cut_off = false;
  Pass(kNodeLease + seconds(3), {&b, &a});
  EXPECT_EQ(Job(id).state, JobState::kRunning);
  EXPECT_EQ(Job(id).node, "node-a");
  EXPECT_TRUE(a.runtime.stops().empty()) << "nothing was fenced";
}

TEST_P(NodeKeeperTest, ANodeWhoseLeaseLapsedClaimsNothingUntilItHeartbeatsAgain) {
  TestNode& a = StartNode("node-a");
  a.store.set_hook([](std::string_view op, std::string_view, JobState) {
    return op == "Heartbeat" ? Status::Unavailable("cut off") : Status::Ok();
  });
  Pass(kNodeLease, {&a});
  EXPECT_FALSE(a.keeper->lease_held());
  std::string id = Submit(Spec());
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(Job(id).state, JobState::kQueued);
  a.store.set_hook(nullptr);
  a.keeper->Tick();
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kRunning; }));
  EXPECT_EQ(Job(id).node, "node-a");
}

// The store is out for everyone longer than the lease: the node stops its OnFailure job at the
// lapse (another node could have run it again), and the store cannot take that end. Once the
// store is back and the node holds its lease again, the end reaches the store and the job is
// retried: it is not left Running with no container.
TEST_P(NodeKeeperTest, AnOnFailureJobStoppedAtALapseIsRetriedOnceTheStoreIsBack) {
  TestNode& a = StartNode("node-a");
  std::string id = Submit(Spec(RestartPolicy::kOnFailure));
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kRunning; }));
  a.cut_off = true;
  Pass(kNodeLease, {&a});
  EXPECT_FALSE(a.keeper->lease_held());
  ASSERT_TRUE(Eventually([&] { return a.runtime.stops().size() == 1; }));
  EXPECT_EQ(a.runtime.stops()[0], "KILL " + id);
  EXPECT_EQ(Job(id).state, JobState::kRunning) << "the store could not take the end";
  a.cut_off = false;
  a.keeper->Tick();
  ASSERT_TRUE(a.keeper->lease_held());
  ASSERT_TRUE(Eventually([&] { return Job(id).history.size() == 1; }));
  JobRecord job = Job(id);
  EXPECT_NE(job.state, JobState::kFailed);
  EXPECT_NE(job.history[0].reason.find("NodeLost"), std::string::npos) << job.history[0].reason;
}

// The lease lapses between a start's Running commit and the job's supervision (the store took
// the commit, then went away): the lapse's stop of the OnFailure jobs must reach this one too,
// or another node may run it again while its container runs on here.
TEST_P(NodeKeeperTest, AnOnFailureJobStartedAsTheLeaseLapsesIsStoppedToo) {
  TestNode& a = StartNode("node-a");
  std::atomic<bool> running_recorded{false};
  std::atomic<bool> lapsed{false};
  a.store.set_hook([&a, &running_recorded](std::string_view op, std::string_view, JobState) {
    if (op == "RecordRunning") running_recorded = true;
    return a.cut_off ? Status::Unavailable("cut off from the store") : Status::Ok();
  });
  // The read that follows the Running commit: the keeper acts on a lapse right then (what its
  // round or its watchdog does: claim nothing, stop the OnFailure jobs).
  a.store.set_after_get([&a, &running_recorded, &lapsed](std::string_view) {
    if (!running_recorded || lapsed.exchange(true)) return;
    a.cut_off = true;
    a.dispatcher->SetLeaseHeld(false);
    a.dispatcher->StopRerunnable();
  });
  std::string id = Submit(Spec(RestartPolicy::kOnFailure));
  ASSERT_TRUE(Eventually([&] { return lapsed.load(); }));
  ASSERT_TRUE(Eventually([&] { return a.runtime.stops().size() == 1; }))
      << "the container of a job started as the lease lapsed was left running";
  EXPECT_EQ(a.runtime.stops()[0], "KILL " + id);
}

TEST_P(NodeKeeperTest, ACancelWrittenToTheStoreReachesTheNodeThatRunsTheJob) {
  TestNode& a = StartNode("node-a");
  a.runtime.set_jobs_obey_sigterm(false);
  std::string id = Submit(Spec());
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kRunning; }));
  // An api node only writes cancel_requested.
  ASSERT_TRUE(store().RequestCancel(id).ok());
  a.keeper->Tick();
  ASSERT_TRUE(Eventually([&] { return a.runtime.stops().size() == 1; }));
  EXPECT_EQ(a.runtime.stops(), std::vector<std::string>{"TERM " + id});
  a.keeper->Tick();  // polled again while it stops: not stopped twice
  EXPECT_EQ(a.runtime.stops().size(), 1u);
  a.runtime.Finish(id, Signaled{15});
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kCanceled; }));
}

INSTANTIATE_TEST_SUITE_P(Engines, NodeKeeperTest, ::testing::Values("Sqlite", "Postgres"),
                         EngineName);

}  // namespace
}  // namespace berth
