// Conformance tests for the lifecycle operations of a Store: idempotency keys, cancel requests,
// retries (requeue), paging, attempt history and retention. Engine-independent; instantiated per
// engine beside the engine's own tests (see store_conformance_test.h).
#include <gtest/gtest.h>

#include "common/random.h"
#include "store/store_conformance_test.h"

namespace berth {
namespace {

using std::chrono::seconds;

JobRecord Job(TimePoint created_at, std::string idempotency_key = "") {
  JobRecord job;
  job.id = NewUuidV4();
  job.spec.image = "busybox";
  job.spec.command = {"true"};
  job.created_at = created_at;
  job.idempotency_key = std::move(idempotency_key);
  return job;
}

TEST_P(StoreConformanceTest, IdempotencyKeyFindsTheJobAndASecondUseIsRefused) {
  JobRecord first = Submit(Job(clock_.Now(), "order-42"));
  auto found = store_->FindJobByIdempotencyKey("order-42");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->id, first.id);
  EXPECT_EQ(found->idempotency_key, "order-42");
  Status again = store_->SubmitJobAndWait(Job(clock_.Now(), "order-42"), kQueue);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again.ToString();
  EXPECT_EQ(Peek().size(), 1u) << "the refused submission must not enqueue";
  EXPECT_TRUE(store_->FindJobByIdempotencyKey("order-43").status().IsNotFound());
  // Jobs without a key never collide.
  Submit(Job(clock_.Now()));
  Submit(Job(clock_.Now()));
}

TEST_P(StoreConformanceTest, CancelOfAQueuedJobEndsItAndDropsItsMessage) {
  JobRecord job = Submit(Job(clock_.Now()));
  auto after = store_->RequestCancel(job.id);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->state, JobState::kCanceled);
  EXPECT_TRUE(after->finished_at.has_value());
  EXPECT_TRUE(Peek().empty());
  EXPECT_TRUE(Claim(10).empty());
}

TEST_P(StoreConformanceTest, CancelOfARunningJobOnlyRequestsIt) {
  JobRecord job = Submit(Job(clock_.Now()));
  JobStatusUpdate pending{JobState::kPending, std::nullopt, "", std::nullopt, std::nullopt, 1};
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, pending).ok());
  JobStatusUpdate running{JobState::kRunning, std::nullopt, "", clock_.Now(), std::nullopt, 1};
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, running).ok());
  auto after = store_->RequestCancel(job.id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, JobState::kRunning);
  EXPECT_TRUE(after->cancel_requested);
  EXPECT_TRUE(Get(job.id).cancel_requested);
}

TEST_P(StoreConformanceTest, CancelOfAFinishedJobChangesNothingAndUnknownIsNotFound) {
  JobRecord job = Submit(Job(clock_.Now()));
  JobStatusUpdate done{JobState::kSucceeded, 0, "Completed", clock_.Now(), clock_.Now(), 1};
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, done).ok());
  auto after = store_->RequestCancel(job.id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, JobState::kSucceeded);
  EXPECT_FALSE(after->cancel_requested);
  EXPECT_TRUE(store_->RequestCancel(NewUuidV4()).status().IsNotFound());
}

TEST_P(StoreConformanceTest, RequeueSetsStatusHistoryAndADelayedMessage) {
  JobRecord job = Submit(Job(clock_.Now()));
  auto claimed = Claim(1);
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(store_->DeleteMessage(claimed[0]).ok());
  AttemptRecord first{1, 2, "Error: exited with code 2", clock_.Now(), clock_.Now()};
  JobStatusUpdate queued{JobState::kQueued, std::nullopt, "retrying",
                         std::nullopt,      std::nullopt, 1};
  queued.history = std::vector<AttemptRecord>{first};
  ASSERT_TRUE(store_->RequeueJob(job.id, kQueue, seconds(4), queued).ok());
  JobRecord got = Get(job.id);
  EXPECT_EQ(got.state, JobState::kQueued);
  ASSERT_EQ(got.history.size(), 1u);
  EXPECT_EQ(got.history[0].number, 1);
  EXPECT_EQ(got.history[0].exit_code, 2);
  EXPECT_EQ(got.history[0].reason, "Error: exited with code 2");
  EXPECT_EQ(got.history[0].started_at, first.started_at);
  EXPECT_TRUE(Claim(1).empty()) << "the retry must wait for its delay";
  clock_.Advance(seconds(5));
  auto retry = Claim(1);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].job_id, job.id);
  EXPECT_EQ(retry[0].dequeue_count, 1) << "a retry is a new message";
  // An update without history keeps it.
  JobStatusUpdate pending{JobState::kPending, std::nullopt, "", std::nullopt, std::nullopt, 2};
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, pending).ok());
  JobStatusUpdate running{JobState::kRunning, std::nullopt, "", clock_.Now(), std::nullopt, 2};
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, running).ok());
  EXPECT_EQ(Get(job.id).history.size(), 1u);
}

TEST_P(StoreConformanceTest, RequeueOfATerminalJobIsRefusedAndEnqueuesNothing) {
  JobRecord job = Submit(Job(clock_.Now()));
  ASSERT_TRUE(store_->RequestCancel(job.id).ok());
  JobStatusUpdate queued{JobState::kQueued, std::nullopt, "", std::nullopt, std::nullopt, 1};
  EXPECT_EQ(store_->RequeueJob(job.id, kQueue, seconds(0), queued).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Peek().empty());
}

TEST_P(StoreConformanceTest, PagesWalkEveryJobNewestFirstWithoutRepeats) {
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) ids.push_back(Submit(Job(clock_.Now())).id);
  std::vector<std::string> seen;
  int64_t cursor = INT64_MAX;
  for (int page = 0; page < 10; ++page) {
    auto jobs = store_->ListJobsPage({}, 3, cursor);
    ASSERT_TRUE(jobs.ok());
    if (jobs->empty()) break;
    for (const auto& j : *jobs) seen.push_back(j.id);
    cursor = jobs->back().seq;
  }
  std::vector<std::string> newest_first(ids.rbegin(), ids.rend());
  EXPECT_EQ(seen, newest_first);
}

TEST_P(StoreConformanceTest, FinishedBeforeListsOnlyOldTerminalJobsAndDeleteRemovesThem) {
  JobRecord old_done = Submit(Job(clock_.Now()));
  JobRecord running = Submit(Job(clock_.Now()));
  JobStatusUpdate done{JobState::kFailed, 1, "Error", clock_.Now(), clock_.Now(), 1};
  ASSERT_TRUE(store_->UpdateJobStatus(old_done.id, done).ok());
  JobStatusUpdate pend{JobState::kPending, std::nullopt, "", std::nullopt, std::nullopt, 1};
  ASSERT_TRUE(store_->UpdateJobStatus(running.id, pend).ok());
  JobStatusUpdate run{JobState::kRunning, std::nullopt, "", clock_.Now(), std::nullopt, 1};
  ASSERT_TRUE(store_->UpdateJobStatus(running.id, run).ok());
  clock_.Advance(seconds(100));
  JobRecord new_done = Submit(Job(clock_.Now()));
  JobStatusUpdate done_now{JobState::kSucceeded, 0, "", clock_.Now(), clock_.Now(), 1};
  ASSERT_TRUE(store_->UpdateJobStatus(new_done.id, done_now).ok());

  auto expired = store_->ListFinishedBefore(clock_.Now() - seconds(50), 100);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(*expired, std::vector<std::string>{old_done.id});
  ASSERT_TRUE(store_->DeleteJob(old_done.id).ok());
  EXPECT_TRUE(store_->GetJob(old_done.id).status().IsNotFound());
  EXPECT_TRUE(store_->DeleteJob(old_done.id).IsNotFound());
  EXPECT_TRUE(store_->GetJob(running.id).ok());
  // Its message went with it.
  for (const auto& m : Peek()) EXPECT_NE(m.job_id, old_done.id);
}

}  // namespace
}  // namespace berth
