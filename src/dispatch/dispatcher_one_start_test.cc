// The job path's promise, "at most one container per job", against the races an outside review
// found (issue: the job path). FakeRuntime keeps the real runtime's concurrency contract, and
// FaultyStore injects store failures and lands requests in the windows between two steps.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "dispatch/dispatcher_fixture.h"

namespace berth {
namespace {

using std::chrono::seconds;

class OneStartTest : public DispatcherFixture {
 protected:
  std::string Submit() { return SubmitSpec(Spec()); }

  // Blocks every start inside the runtime until Open() (a slow image pull, say).
  void HoldStarts() {
    runtime_.set_start_hook([this](const std::string&) {
      std::unique_lock<std::mutex> lock(gate_mu_);
      ++held_;
      gate_cv_.notify_all();
      gate_cv_.wait(lock, [this] { return open_; });
    });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(gate_mu_);
    open_ = true;
    gate_cv_.notify_all();
  }
  int held() {
    std::lock_guard<std::mutex> lock(gate_mu_);
    return held_;
  }

  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool open_ = false;
  int held_ = 0;
};

// Item 1: a claimed message waited in the starter pool without a lease renewal, was claimed
// again once its lease ran out, and a second start of the same job was queued.
TEST_F(OneStartTest, AMessageWaitingForAStartThreadKeepsItsLease) {
  opts_.lease = seconds(1);
  opts_.start_threads = 1;
  HoldStarts();
  StartDispatcher();
  std::string first = Submit();
  ASSERT_TRUE(Eventually([&] { return held() == 1; }));
  std::string waiting = Submit();  // claimed, queued behind `first` on the one start thread
  ASSERT_TRUE(Eventually([&] {
    auto msgs = store_->PeekMessages("jobs", 10);
    return msgs.ok() && msgs->size() == 2 && (*msgs)[1].dequeue_count == 1;
  }));
  // Ten leases pass while the start is held; renewals keep both messages invisible.
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(milliseconds(500));
    dispatcher_->Wake();
    std::this_thread::sleep_for(milliseconds(30));
  }
  Open();
  ASSERT_TRUE(Eventually([&] { return StateOf(waiting) == JobState::kRunning; }));
  ASSERT_TRUE(Eventually([&] { return dispatcher_->active() == 2; }));
  EXPECT_EQ(runtime_.start_calls(waiting), 1) << "delivered once, started once";
  EXPECT_EQ(runtime_.start_calls(first), 1);
  EXPECT_EQ(runtime_.containers(waiting), 1);
  EXPECT_EQ(Job(waiting).attempts, 1);
}

// Item 3: a cancel that landed between the dispatcher's read of the job and its move to
// Pending answered "Canceled", yet the container started.
TEST_F(OneStartTest, ACancelBetweenReadAndPendingMeansTheContainerNeverStarts) {
  // The read and the move are two steps for a job the claim left alone (a retry, a redelivery).
  faulty_->set_claims_move_jobs(false);
  opts_.paused = true;
  StartDispatcher();
  std::string id = Submit();
  faulty_->set_after_get([&](std::string_view got) {
    if (got != id) return;
    auto canceled = store_->RequestCancel(id);  // the API's cancel, right after the read
    ASSERT_TRUE(canceled.ok());
    EXPECT_EQ(canceled->state, JobState::kCanceled) << "the API answers 200 Canceled";
  });
  dispatcher_.reset();
  opts_.paused = false;
  StartDispatcher();
  ASSERT_TRUE(Eventually([&] { return store_->PeekMessages("jobs", 10)->empty(); }));
  ASSERT_TRUE(Eventually([&] { return dispatcher_->active() == 0; }));
  EXPECT_EQ(runtime_.containers(id), 0) << "a job answered Canceled must never run";
  EXPECT_EQ(runtime_.start_calls(id), 0);
  EXPECT_EQ(StateOf(id), JobState::kCanceled);
}

// A first start moves to Pending in the claim's own commit: a cancel can land only before it
// (the job is Canceled and its message gone: nothing is claimed) or after it (the job is Pending
// with its cancel requested, answered as such). Either way a job answered Canceled never runs,
// and a container started for a job whose cancel came after the claim is stopped.
TEST_F(OneStartTest, ACancelRightAfterTheClaimIsAnsweredPendingAndTheContainerStops) {
  std::mutex mu;
  std::optional<JobRecord> answered;
  faulty_->set_after_claim([&](const std::vector<ClaimedJob>& claimed) {
    std::lock_guard<std::mutex> lock(mu);
    for (const ClaimedJob& c : claimed) {
      if (answered) continue;
      EXPECT_TRUE(c.pending.has_value()) << "a first start moves in the claim";
      auto canceled = store_->RequestCancel(c.msg.job_id);  // the API's cancel, right after
      ASSERT_TRUE(canceled.ok());
      answered = *canceled;
    }
  });
  runtime_.set_jobs_obey_sigterm(true);
  StartDispatcher();
  std::string id = Submit();
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return answered.has_value();
  }));
  EXPECT_EQ(answered->id, id);
  EXPECT_EQ(answered->state, JobState::kPending) << "not answered Canceled: it may have started";
  EXPECT_TRUE(answered->cancel_requested);
  ASSERT_TRUE(Eventually([&] { return IsTerminal(StateOf(id)); }));
  EXPECT_EQ(StateOf(id), JobState::kCanceled);
  EXPECT_LE(runtime_.containers(id), 1);
  EXPECT_TRUE(Eventually([&] { return runtime_.running() == 0; }))
      << "a container it started was stopped";
}

// Item 6: the runtime's watcher called back into a dispatcher that was already destroyed.
TEST_F(OneStartTest, NoExitCallbackReachesADestroyedDispatcher) {
  StartDispatcher();
  std::string id = Submit();
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kRunning; }));
  dispatcher_.reset();
  // The job ends after its dispatcher is gone: nobody may record it (a later daemon adopts it).
  runtime_.Finish(id, Exited{0});
  EXPECT_EQ(StateOf(id), JobState::kRunning);
  EXPECT_EQ(runtime_.watches(), 0);
}

// Item 7: store writes on the dispatch path were discarded with (void); a failed write left the
// API showing a stale state.
TEST_F(OneStartTest, AFailedRunningWriteIsRetriedNotDropped) {
  int failures = 0;
  faulty_->set_hook([&](std::string_view op, std::string_view, JobState) {
    if (op == "RecordRunning" && failures < 2) {
      ++failures;
      return Status::Unavailable("injected: database is locked");
    }
    return Status::Ok();
  });
  StartDispatcher();
  std::string id = Submit();
  ASSERT_TRUE(Eventually([&] { return runtime_.containers(id) == 1; }));
  EXPECT_TRUE(Eventually([&] { return StateOf(id) == JobState::kRunning; }))
      << "the store says " << ToString(StateOf(id)) << " while the container runs";
  EXPECT_EQ(failures, 2);
  runtime_.Finish(id, Exited{0});
  EXPECT_TRUE(Eventually([&] { return StateOf(id) == JobState::kSucceeded; }));
}

TEST_F(OneStartTest, AFailedExitWriteIsRetriedNotDropped) {
  int failures = 0;
  faulty_->set_hook([&](std::string_view op, std::string_view, JobState state) {
    if (op == "UpdateJobStatus" && state == JobState::kSucceeded && failures < 3) {
      ++failures;
      return Status::IoError("injected: disk I/O error");
    }
    return Status::Ok();
  });
  StartDispatcher();
  std::string id = Submit();
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kRunning; }));
  runtime_.Finish(id, Exited{0});
  EXPECT_TRUE(Eventually([&] { return StateOf(id) == JobState::kSucceeded; }));
  EXPECT_EQ(failures, 3);
}

// A lease lost while the start is slow (the store refused its renewal): the message is delivered
// again while the first start still runs. One start, one container.
TEST_F(OneStartTest, ADeliveryDuringASlowStartOfTheSameJobStartsNothing) {
  opts_.lease = seconds(1);
  opts_.start_threads = 2;
  faulty_->set_hook([](std::string_view op, std::string_view, JobState) {
    if (op == "RenewLease") return Status::FailedPrecondition("injected: lease lost");
    return Status::Ok();
  });
  HoldStarts();
  StartDispatcher();
  std::string id = Submit();
  ASSERT_TRUE(Eventually([&] { return held() == 1; }));
  clock_.Advance(seconds(2));  // the lease ends: the message is visible again
  dispatcher_->Wake();
  ASSERT_TRUE(Eventually([&] {
    auto msgs = store_->PeekMessages("jobs", 10);
    return msgs.ok() && msgs->size() == 1 && (*msgs)[0].dequeue_count == 2;
  }));
  Open();
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kRunning; }));
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(seconds(1));
    dispatcher_->Wake();
    std::this_thread::sleep_for(milliseconds(30));
  }
  ASSERT_TRUE(Eventually([&] { return store_->PeekMessages("jobs", 10)->empty(); }));
  EXPECT_EQ(runtime_.containers(id), 1);
  EXPECT_EQ(StateOf(id), JobState::kRunning);
  runtime_.Finish(id, Exited{0});
  EXPECT_TRUE(Eventually([&] { return StateOf(id) == JobState::kSucceeded; }));
  EXPECT_TRUE(Eventually([&] { return dispatcher_->active() == 0; }));
}

// A pull held by a slow registry ran on the one start thread, and every other job waited for
// it. Pulls have their own threads: a job whose image is here starts meanwhile, and the pulling
// job's message keeps its lease (it is delivered once, started once).
TEST_F(OneStartTest, APullInProgressLeavesTheStartThreadsToJobsWhoseImagesAreHere) {
  opts_.lease = seconds(1);
  opts_.start_threads = 1;
  runtime_.HoldPull("slow.example/app:v1");
  StartDispatcher();
  std::string pulling = SubmitSpec(Spec("slow.example/app:v1"));
  ASSERT_TRUE(Eventually([&] { return runtime_.pulls_in_flight() == 1; }));
  std::string here = SubmitSpec(Spec("busybox"));
  EXPECT_TRUE(Eventually([&] { return StateOf(here) == JobState::kRunning; }))
      << "a job whose image is here waited for another job's pull";
  EXPECT_EQ(StateOf(pulling), JobState::kPending);
  EXPECT_EQ(Job(pulling).reason, "pulling image slow.example/app:v1");
  // Ten leases pass while the pull is held; renewals keep its message invisible.
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(milliseconds(500));
    dispatcher_->Wake();
    std::this_thread::sleep_for(milliseconds(30));
  }
  runtime_.ReleasePull("slow.example/app:v1");
  ASSERT_TRUE(Eventually([&] { return StateOf(pulling) == JobState::kRunning; }));
  EXPECT_EQ(runtime_.start_calls(pulling), 1) << "delivered once, started once";
  EXPECT_EQ(runtime_.containers(pulling), 1);
  EXPECT_EQ(Job(pulling).attempts, 1);
}

// A cancel that comes while the job's image is pulled: the container never starts.
TEST_F(OneStartTest, ACancelDuringThePullMeansTheContainerNeverStarts) {
  runtime_.HoldPull("slow.example/app:v1");
  StartDispatcher();
  std::string id = SubmitSpec(Spec("slow.example/app:v1"));
  ASSERT_TRUE(Eventually([&] { return runtime_.pulls_in_flight() == 1; }));
  ASSERT_TRUE(store_->RequestCancel(id).ok());
  dispatcher_->Cancel(id);
  runtime_.ReleasePull("slow.example/app:v1");
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kCanceled; }));
  ASSERT_TRUE(Eventually([&] { return dispatcher_->active() == 0; }));
  EXPECT_EQ(runtime_.containers(id), 0) << "a job canceled during its pull must never run";
  EXPECT_TRUE(store_->PeekMessages("jobs", 10)->empty());
}

// A job removed (its message with it: ON DELETE CASCADE) between the claim and the read kept
// its slot forever: the dispatcher's count of active jobs never came down.
TEST_F(OneStartTest, AJobRemovedAfterItsClaimGivesItsSlotBack) {
  // Only a job the claim left alone is read after it (a first start cannot be removed: it is
  // not terminal).
  faulty_->set_claims_move_jobs(false);
  std::atomic<bool> removed{false};
  faulty_->set_hook([&](std::string_view op, std::string_view id, JobState) {
    if (op == "GetJob" && !removed.exchange(true)) {
      EXPECT_TRUE(store_->DeleteJob(id).ok());
    }
    return Status::Ok();
  });
  StartDispatcher();
  std::string id = Submit();
  ASSERT_TRUE(Eventually([&] { return removed.load(); }));
  EXPECT_TRUE(Eventually([&] { return dispatcher_->active() == 0; }))
      << "the removed job's slot was never given back";
  EXPECT_EQ(runtime_.start_calls(id), 0);
}

}  // namespace
}  // namespace berth
