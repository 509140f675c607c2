// Conformance tests for the job state machine as every Store engine enforces it: status writes
// are compare-and-set transitions (AllowedSources in job/job.h), and a job has at most one live
// queue message. Engine-independent; instantiated per engine (see store_conformance_test.h).
#include <gtest/gtest.h>

#include "common/random.h"
#include "store/store_conformance_test.h"

namespace berth {
namespace {

using std::chrono::seconds;

JobRecord NewJob(TimePoint created_at) {
  JobRecord job;
  job.id = NewUuidV4();
  job.spec.image = "busybox";
  job.spec.command = {"true"};
  job.created_at = created_at;
  return job;
}

JobStatusUpdate To(JobState state, std::string reason = "") {
  JobStatusUpdate u;
  u.state = state;
  u.reason = std::move(reason);
  u.attempts = 1;
  return u;
}

TEST_P(StoreConformanceTest, ARunningJobNeverGoesBackToPending) {
  JobRecord job = Submit(NewJob(clock_.Now()));
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kPending, "claimed")).ok());
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kRunning)).ok());
  Status back = store_->UpdateJobStatus(job.id, To(JobState::kPending, "redelivered"));
  EXPECT_EQ(back.code(), StatusCode::kFailedPrecondition) << back.ToString();
  EXPECT_EQ(Get(job.id).state, JobState::kRunning);
  EXPECT_EQ(Get(job.id).reason, "");
}

TEST_P(StoreConformanceTest, AQueuedJobCannotJumpToRunning) {
  JobRecord job = Submit(NewJob(clock_.Now()));
  EXPECT_EQ(store_->UpdateJobStatus(job.id, To(JobState::kRunning)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(Get(job.id).state, JobState::kQueued);
}

TEST_P(StoreConformanceTest, ACancelRequestedJobNeverMovesToPending) {
  JobRecord job = Submit(NewJob(clock_.Now()));
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kPending, "claimed")).ok());
  ASSERT_TRUE(store_->RequestCancel(job.id).ok());
  // A second start attempt (or a progress detail) must not be recorded as Pending...
  Status again = store_->UpdateJobStatus(job.id, To(JobState::kPending, "pulling image"));
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again.ToString();
  // ...but the job can still end.
  EXPECT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kCanceled, "Canceled")).ok());
  EXPECT_EQ(Get(job.id).state, JobState::kCanceled);
}

TEST_P(StoreConformanceTest, ACanceledQueuedJobCannotBeClaimedIntoPending) {
  // The cancel wins the race: the dispatcher's move to Pending fails, so it never starts.
  JobRecord job = Submit(NewJob(clock_.Now()));
  auto after = store_->RequestCancel(job.id);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->state, JobState::kCanceled);
  EXPECT_EQ(store_->UpdateJobStatus(job.id, To(JobState::kPending, "claimed")).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(Get(job.id).state, JobState::kCanceled);
}

TEST_P(StoreConformanceTest, EveryTransitionFollowsTheStateMachine) {
  const JobState all[] = {JobState::kQueued,    JobState::kPending, JobState::kRunning,
                          JobState::kSucceeded, JobState::kFailed,  JobState::kCanceled};
  // Path to reach each state from Queued through allowed moves.
  auto reach = [&](JobState target) {
    JobRecord job = Submit(NewJob(clock_.Now()));
    std::vector<JobState> path;
    if (target == JobState::kPending) path = {JobState::kPending};
    if (target == JobState::kRunning) path = {JobState::kPending, JobState::kRunning};
    if (IsTerminal(target)) path = {target};
    for (JobState s : path) EXPECT_TRUE(store_->UpdateJobStatus(job.id, To(s)).ok());
    return job.id;
  };
  for (JobState from : all) {
    for (JobState to : all) {
      std::string id = reach(from);
      Status st = store_->UpdateJobStatus(id, To(to, "moved"));
      bool allowed = CanMove(from, to, /*cancel_requested=*/false);
      EXPECT_EQ(st.ok(), allowed) << ToString(from) << " -> " << ToString(to) << ": "
                                  << st.ToString();
      EXPECT_EQ(Get(id).state, allowed ? to : from);
    }
  }
}

TEST_P(StoreConformanceTest, RequeueLeavesExactlyOneMessageForTheJob) {
  JobRecord job = Submit(NewJob(clock_.Now()));
  auto claimed = Claim(1);
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kPending)).ok());
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kRunning)).ok());
  // The job's first message is still there (e.g. its delete failed); the retry must replace it.
  ASSERT_TRUE(store_->RequeueJob(job.id, kQueue, seconds(0), To(JobState::kQueued)).ok());
  std::vector<QueueMessage> msgs = Peek();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].job_id, job.id);
  EXPECT_EQ(msgs[0].dequeue_count, 0) << "the retry's own message, not the old one";
  // The old claim is gone with its message.
  EXPECT_EQ(store_->DeleteMessage(claimed[0]).code(), StatusCode::kFailedPrecondition);
}

TEST_P(StoreConformanceTest, RecordRunningMovesTheJobAndDeletesItsMessageTogether) {
  JobRecord job = Submit(NewJob(clock_.Now()));
  auto claimed = Claim(1);
  ASSERT_EQ(claimed.size(), 1u);
  // Not yet Pending: the move is refused and the message stays.
  EXPECT_EQ(store_->RecordRunning(claimed[0], To(JobState::kRunning)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(Peek().size(), 1u);
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kPending)).ok());
  JobStatusUpdate running = To(JobState::kRunning);
  running.started_at = clock_.Now();
  ASSERT_TRUE(store_->RecordRunning(claimed[0], running).ok());
  EXPECT_EQ(Get(job.id).state, JobState::kRunning);
  EXPECT_EQ(Get(job.id).started_at, clock_.Now());
  EXPECT_TRUE(Peek().empty());
}

TEST_P(StoreConformanceTest, RecordRunningWithALostLeaseStillRecordsRunning) {
  JobRecord job = Submit(NewJob(clock_.Now()));
  auto first = Claim(1, milliseconds(1000));
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, To(JobState::kPending)).ok());
  clock_.Advance(milliseconds(1500));
  auto second = Claim(1);  // the lease ran out: someone else holds the message now
  ASSERT_EQ(second.size(), 1u);
  ASSERT_TRUE(store_->RecordRunning(first[0], To(JobState::kRunning)).ok());
  EXPECT_EQ(Get(job.id).state, JobState::kRunning);
  EXPECT_EQ(Peek().size(), 1u) << "only the current holder may delete the message";
  EXPECT_TRUE(store_->DeleteMessage(second[0]).ok());
}

// ClaimJobs may fold the first start's move to Pending into the claim. Whatever the engine does,
// a job it reports moved is Pending as reported, and a job that may not move (a cancel
// requested, a retry, a Running job) is claimed and left exactly as it was.
TEST_P(StoreConformanceTest, ClaimJobsMovesOnlyAFirstStartThatMayBeginToPending) {
  JobRecord first = Submit(NewJob(clock_.Now()));
  JobRecord cancel = Submit(NewJob(clock_.Now()));
  ASSERT_TRUE(store_->UpdateJobStatus(cancel.id, To(JobState::kPending)).ok());
  ASSERT_TRUE(store_->RequestCancel(cancel.id).ok());
  ASSERT_TRUE(store_->UpdateJobStatus(cancel.id, To(JobState::kQueued, "start failed")).ok());
  JobRecord retry = Submit(NewJob(clock_.Now()));
  ASSERT_TRUE(store_->UpdateJobStatus(retry.id, To(JobState::kPending)).ok());
  ASSERT_TRUE(store_->UpdateJobStatus(retry.id, To(JobState::kRunning)).ok());
  JobStatusUpdate requeue = To(JobState::kQueued, "retrying");
  AttemptRecord run;
  run.number = 1;
  run.exit_code = 3;
  requeue.history = std::vector<AttemptRecord>{run};
  ASSERT_TRUE(store_->RequeueJob(retry.id, kQueue, seconds(0), requeue).ok());
  JobRecord running = Submit(NewJob(clock_.Now()));
  ASSERT_TRUE(store_->UpdateJobStatus(running.id, To(JobState::kPending)).ok());
  ASSERT_TRUE(store_->UpdateJobStatus(running.id, To(JobState::kRunning)).ok());

  PendingClaim pending{"claimed here", std::string("node-a")};
  auto claimed = store_->ClaimJobs(kQueue, 10, seconds(30), pending);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), 4u);
  for (const ClaimedJob& c : *claimed) {
    EXPECT_EQ(c.msg.dequeue_count, 1);
    JobRecord now = Get(c.msg.job_id);
    if (c.msg.job_id != first.id) {
      EXPECT_FALSE(c.pending.has_value()) << c.msg.job_id;
      continue;
    }
    if (!c.pending) {
      EXPECT_EQ(now.state, JobState::kQueued) << "not moved: left alone";
      continue;
    }
    EXPECT_EQ(c.pending->state, JobState::kPending);
    EXPECT_EQ(c.pending->spec.command, first.spec.command);
    EXPECT_EQ(now.state, JobState::kPending);
    EXPECT_EQ(now.reason, "claimed here");
    EXPECT_EQ(now.attempts, 1) << "the message's dequeue count";
    EXPECT_EQ(now.node, "node-a");
    EXPECT_EQ(c.pending->reason, now.reason);
    EXPECT_EQ(c.pending->attempts, now.attempts);
    EXPECT_EQ(c.pending->node, now.node);
  }
  EXPECT_EQ(Get(cancel.id).state, JobState::kQueued);
  EXPECT_TRUE(Get(cancel.id).cancel_requested);
  EXPECT_EQ(Get(retry.id).state, JobState::kQueued);
  EXPECT_EQ(Get(retry.id).reason, "retrying");
  EXPECT_EQ(Get(running.id).state, JobState::kRunning);
  // Every message is claimed: nothing is visible until the lease ends.
  auto again = store_->ClaimJobs(kQueue, 10, seconds(30), pending);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

}  // namespace
}  // namespace berth
