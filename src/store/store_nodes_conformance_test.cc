// Conformance tests for many nodes on one store (issue 11): heartbeats, the owner of a job
// recorded by compare-and-set, and a lost node's jobs handled exactly once, never after the node
// came back. Engine-independent; instantiated per engine (see store_conformance_test.h).
#include <gtest/gtest.h>

#include <algorithm>

#include "common/random.h"
#include "store/store_conformance_test.h"

namespace berth {
namespace {

using std::chrono::seconds;

constexpr milliseconds kNodeLease{10'000};

JobRecord NewJob(TimePoint created_at) {
  JobRecord job;
  job.id = NewUuidV4();
  job.spec.image = "busybox";
  job.spec.command = {"true"};
  job.created_at = created_at;
  return job;
}

NodeRecord Node(const std::string& id, TimePoint started_at) {
  NodeRecord n;
  n.id = id;
  n.role = "worker";
  n.version = "1.0.0";
  n.started_at = started_at;
  n.jobs_running = 1;
  n.capacity = 16;
  return n;
}

JobStatusUpdate To(JobState state, std::optional<std::string> node = std::nullopt) {
  JobStatusUpdate u;
  u.state = state;
  u.attempts = 1;
  u.node = std::move(node);
  return u;
}

TEST_P(StoreConformanceTest, AHeartbeatCreatesThenUpdatesTheNodesRow) {
  TimePoint start = clock_.Now();
  ASSERT_TRUE(store_->Heartbeat(Node("w-1", start), kNodeLease).ok());
  clock_.Advance(seconds(3));
  NodeRecord again = Node("w-1", start);
  again.jobs_running = 7;
  ASSERT_TRUE(store_->Heartbeat(again, kNodeLease).ok());
  ASSERT_TRUE(store_->Heartbeat(Node("a-1", start), kNodeLease).ok());
  auto nodes = store_->ListNodes();
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_EQ(nodes->size(), 2u);
  const NodeRecord& w = (*nodes)[1];
  EXPECT_EQ((*nodes)[0].id, "a-1");
  EXPECT_EQ(w.id, "w-1");
  EXPECT_EQ(w.role, "worker");
  EXPECT_EQ(w.version, "1.0.0");
  EXPECT_EQ(w.started_at, start);
  EXPECT_EQ(w.heartbeat_at, clock_.Now());
  EXPECT_EQ(w.lease_until, clock_.Now() + kNodeLease);
  EXPECT_EQ(w.jobs_running, 7);
  EXPECT_EQ(w.capacity, 16);
  EXPECT_FALSE(w.lost_at.has_value());
  EXPECT_EQ(store_->Heartbeat(Node("", start), kNodeLease).code(), StatusCode::kInvalidArgument);
}

TEST_P(StoreConformanceTest, ANodeIsRecordedLostOnceAndOnlyAfterItsLeasePassed) {
  ASSERT_TRUE(store_->Heartbeat(Node("w-1", clock_.Now()), kNodeLease).ok());
  auto early = store_->MarkNodeLost("w-1", "NodeLost: test");
  ASSERT_TRUE(early.ok()) << early.status().ToString();
  EXPECT_FALSE(*early) << "its lease has not passed";
  clock_.Advance(kNodeLease + seconds(1));
  EXPECT_TRUE(store_->MarkNodeLost("w-1", "NodeLost: test").value());
  EXPECT_FALSE(store_->MarkNodeLost("w-1", "NodeLost: test").value()) << "handled once";
  EXPECT_FALSE(store_->MarkNodeLost("nobody", "NodeLost: test").value());
  auto nodes = store_->ListNodes();
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].lost_at, clock_.Now());
  // It comes back: the loss is cleared; it can be lost again later.
  ASSERT_TRUE(store_->Heartbeat(Node("w-1", clock_.Now()), kNodeLease).ok());
  EXPECT_FALSE(store_->ListNodes()->at(0).lost_at.has_value());
  clock_.Advance(kNodeLease + seconds(1));
  EXPECT_TRUE(store_->MarkNodeLost("w-1", "NodeLost: test").value());
}

TEST_P(StoreConformanceTest, TheOwnerIsRecordedWithTheMoveAndReadBack) {
  JobRecord job = Submit(NewJob(clock_.Now()));
  EXPECT_EQ(Get(job.id).node, "");
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kPending, "w-1")).ok());
  EXPECT_EQ(Get(job.id).node, "w-1");
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kRunning)).ok());
  EXPECT_EQ(Get(job.id).node, "w-1") << "an unset node keeps the stored one";
  auto list = store_->ListJobs({JobState::kRunning}, 10);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].node, "w-1");
  auto summaries = store_->ListJobSummaries({}, 10, INT64_MAX);
  ASSERT_TRUE(summaries.ok());
  ASSERT_EQ(summaries->size(), 1u);
  EXPECT_EQ((*summaries)[0].node, "w-1");
  auto owned = store_->ListNodeJobs("w-1", {JobState::kRunning});
  ASSERT_TRUE(owned.ok()) << owned.status().ToString();
  ASSERT_EQ(owned->size(), 1u);
  EXPECT_EQ((*owned)[0].id, job.id);
  EXPECT_TRUE(store_->ListNodeJobs("w-2", {})->empty());
}

TEST_P(StoreConformanceTest, AWriteExpectingAnotherOwnerIsRefusedAndChangesNothing) {
  JobRecord job = Submit(NewJob(clock_.Now()));
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kPending, "w-2")).ok());
  JobStatusUpdate late = To(JobState::kFailed);
  late.reason = "exited";
  late.expect_node = "w-1";
  Status st = store_->UpdateJobStatus(job.id, late);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("w-2"), std::string::npos) << st.message();
  EXPECT_EQ(Get(job.id).state, JobState::kPending);
  late.expect_node = "w-2";
  EXPECT_TRUE(store_->UpdateJobStatus(job.id, late).ok());
  EXPECT_EQ(Get(job.id).state, JobState::kFailed);
}

TEST_P(StoreConformanceTest, ALostNodesClaimedJobsGoBackToTheQueueVisibleAtOnce) {
  JobRecord job = Submit(NewJob(clock_.Now()));
  ASSERT_TRUE(store_->Heartbeat(Node("w-1", clock_.Now()), kNodeLease).ok());
  ASSERT_EQ(Claim(1, milliseconds(600'000)).size(), 1u);
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kPending, "w-1")).ok());
  clock_.Advance(kNodeLease + seconds(1));
  EXPECT_TRUE(Claim(1).empty()) << "the message's own lease still runs";
  ASSERT_TRUE(store_->MarkNodeLost("w-1", "NodeLost: w-1 was lost before it started it").value());
  JobRecord after = Get(job.id);
  EXPECT_EQ(after.state, JobState::kQueued);
  EXPECT_EQ(after.node, "");
  EXPECT_EQ(after.reason, "NodeLost: w-1 was lost before it started it");
  std::vector<QueueMessage> again = Claim(1);
  ASSERT_EQ(again.size(), 1u) << "visible at once";
  EXPECT_EQ(again[0].dequeue_count, 2);
}

TEST_P(StoreConformanceTest, ALostNodesRunningJobIsSettledOnceWhileItIsStillItsAndLost) {
  JobRecord job = Submit(NewJob(clock_.Now()));
  ASSERT_TRUE(store_->Heartbeat(Node("w-1", clock_.Now()), kNodeLease).ok());
  std::vector<QueueMessage> claimed = Claim(1);
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kPending, "w-1")).ok());
  ASSERT_TRUE(store_->RecordRunning(claimed[0], To(JobState::kRunning)).ok());
  JobStatusUpdate failed = To(JobState::kFailed);
  failed.reason = "NodeLost: w-1";
  failed.finished_at = clock_.Now();
  Status early = store_->SettleLostJob("w-1", job.id, failed, "", milliseconds(0));
  EXPECT_EQ(early.code(), StatusCode::kFailedPrecondition) << "not lost yet";
  EXPECT_EQ(Get(job.id).state, JobState::kRunning);
  clock_.Advance(kNodeLease + seconds(1));
  ASSERT_TRUE(store_->MarkNodeLost("w-1", "").value());
  EXPECT_EQ(store_->SettleLostJob("w-2", job.id, failed, "", milliseconds(0)).code(),
            StatusCode::kFailedPrecondition)
      << "w-2 is not recorded lost";
  ASSERT_TRUE(store_->SettleLostJob("w-1", job.id, failed, "", milliseconds(0)).ok());
  EXPECT_EQ(Get(job.id).state, JobState::kFailed);
  EXPECT_EQ(Get(job.id).reason, "NodeLost: w-1");
  EXPECT_EQ(store_->SettleLostJob("w-1", job.id, failed, "", milliseconds(0)).code(),
            StatusCode::kFailedPrecondition)
      << "settled once";
}

TEST_P(StoreConformanceTest, ALostNodesJobAnotherNodeOwnsNowIsNotTouched) {
  JobRecord job = Submit(NewJob(clock_.Now()));
  ASSERT_TRUE(store_->Heartbeat(Node("w-1", clock_.Now()), kNodeLease).ok());
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kPending, "w-2")).ok());
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kRunning)).ok());
  clock_.Advance(kNodeLease + seconds(1));
  ASSERT_TRUE(store_->MarkNodeLost("w-1", "").value());
  Status st = store_->SettleLostJob("w-1", job.id, To(JobState::kFailed), "", milliseconds(0));
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_EQ(Get(job.id).state, JobState::kRunning);
  EXPECT_EQ(Get(job.id).node, "w-2");
}

TEST_P(StoreConformanceTest, ANodeThatHeartbeatsBeforeItsJobIsSettledKeepsIt) {
  JobRecord job = Submit(NewJob(clock_.Now()));
  ASSERT_TRUE(store_->Heartbeat(Node("w-1", clock_.Now()), kNodeLease).ok());
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kPending, "w-1")).ok());
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kRunning)).ok());
  clock_.Advance(kNodeLease + seconds(1));
  ASSERT_TRUE(store_->MarkNodeLost("w-1", "").value());
  ASSERT_TRUE(store_->Heartbeat(Node("w-1", clock_.Now()), kNodeLease).ok());  // back
  Status st = store_->SettleLostJob("w-1", job.id, To(JobState::kFailed), "", milliseconds(0));
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_EQ(Get(job.id).state, JobState::kRunning);
}

TEST_P(StoreConformanceTest, ALostNodesOnFailureJobIsQueuedAgainWithItsLostRun) {
  JobRecord job = Submit(NewJob(clock_.Now()));
  ASSERT_TRUE(store_->Heartbeat(Node("w-1", clock_.Now()), kNodeLease).ok());
  std::vector<QueueMessage> claimed = Claim(1);
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kPending, "w-1")).ok());
  ASSERT_TRUE(store_->RecordRunning(claimed[0], To(JobState::kRunning)).ok());
  clock_.Advance(kNodeLease + seconds(1));
  ASSERT_TRUE(store_->MarkNodeLost("w-1", "").value());
  JobStatusUpdate queued = To(JobState::kQueued);
  queued.reason = "Retrying: attempt 1 failed (NodeLost: w-1)";
  queued.history = std::vector<AttemptRecord>{{1, std::nullopt, "NodeLost: w-1", {}, {}}};
  queued.node = std::string();
  ASSERT_TRUE(store_->SettleLostJob("w-1", job.id, queued, kQueue, milliseconds(0)).ok());
  JobRecord after = Get(job.id);
  EXPECT_EQ(after.state, JobState::kQueued);
  EXPECT_EQ(after.node, "");
  ASSERT_EQ(after.history.size(), 1u);
  EXPECT_EQ(after.history[0].reason, "NodeLost: w-1");
  std::vector<QueueMessage> again = Claim(1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].job_id, job.id);
}

TEST_P(StoreConformanceTest, CancelRequestsAreListedForTheOwnerOnly) {
  JobRecord a = Submit(NewJob(clock_.Now()));
  JobRecord b = Submit(NewJob(clock_.Now()));
  JobRecord c = Submit(NewJob(clock_.Now()));
  for (const JobRecord& j : {a, b, c}) {
    ASSERT_TRUE(store_->UpdateJobStatus(j.id, To(JobState::kPending, "w-1")).ok());
  }
  ASSERT_TRUE(store_->UpdateJobStatus(b.id, To(JobState::kRunning)).ok());
  ASSERT_TRUE(store_->RequestCancel(a.id).ok());
  ASSERT_TRUE(store_->RequestCancel(b.id).ok());
  auto ids = store_->ListCancelRequested("w-1");
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  std::sort(ids->begin(), ids->end());
  std::vector<std::string> want = {a.id, b.id};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(*ids, want);
  EXPECT_TRUE(store_->ListCancelRequested("w-2")->empty());
}

}  // namespace
}  // namespace berth
