// The dispatcher's supervision with a FakeRuntime and a FakeClock: cancel (with and without a
// job that obeys SIGTERM), timeouts, and OnFailure retries with exponential backoff.
#include <gtest/gtest.h>

#include <thread>

#include "dispatch/dispatcher_fixture.h"

namespace berth {
namespace {

using std::chrono::seconds;

class SupervisionTest : public DispatcherFixture {
 protected:
  void SetUp() override {
    DispatcherFixture::SetUp();
    opts_.idle_poll = milliseconds(10);
    opts_.cancel_grace = seconds(10);
    opts_.retry_backoff = seconds(1);
    opts_.retry_backoff_max = seconds(3);
    opts_.max_retries = 3;
  }
  std::string Submit(JobSpec spec) { return SubmitSpec(std::move(spec)); }
  // Cancels as the service does: the store first, the dispatcher for a job not yet ended.
  void Cancel(const std::string& id) {
    auto after = store_->RequestCancel(id);
    ASSERT_TRUE(after.ok());
    if (!IsTerminal(after->state)) dispatcher_->Cancel(id);
  }
};

TEST_F(SupervisionTest, CancelOfARunningJobSendsSigtermAndEndsItCanceled) {
  StartDispatcher();
  std::string id = Submit(Spec());
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kRunning; }));
  Cancel(id);
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kCanceled; }));
  EXPECT_EQ(runtime_.stops(), std::vector<std::string>{"TERM " + id});
  EXPECT_EQ(Job(id).exit_code, 143);
}

TEST_F(SupervisionTest, AJobIgnoringSigtermIsKilledOnlyAfterTheGracePeriod) {
  runtime_.set_jobs_obey_sigterm(false);
  StartDispatcher();
  std::string id = Submit(Spec());
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kRunning; }));
  Cancel(id);
  ASSERT_TRUE(Eventually([&] { return runtime_.stops().size() == 1; }));
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(runtime_.stops().size(), 1u) << "no SIGKILL before the grace period";
  EXPECT_EQ(Job(id).state, JobState::kRunning);
  clock_.Advance(seconds(11));
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kCanceled; }));
  EXPECT_EQ(runtime_.stops(), (std::vector<std::string>{"TERM " + id, "KILL " + id}));
  EXPECT_EQ(Job(id).exit_code, 137);
}

TEST_F(SupervisionTest, ACancelWhileStartingStopsTheJobOnceItRuns) {
  opts_.paused = true;
  StartDispatcher();
  std::string id = Submit(Spec());
  // Mark it starting by hand: the store says Pending, the dispatcher has not started it.
  JobStatusUpdate pending{JobState::kPending, std::nullopt, "", std::nullopt, std::nullopt, 1};
  ASSERT_TRUE(store_->UpdateJobStatus(id, pending).ok());
  Cancel(id);
  EXPECT_TRUE(Job(id).cancel_requested);
  dispatcher_.reset();
  opts_.paused = false;
  StartDispatcher();
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kCanceled; }));
  EXPECT_EQ(runtime_.containers(id), 0) << "a job canceled before its start never starts";
}

TEST_F(SupervisionTest, TimeoutKillsTheJobAndFailsIt) {
  StartDispatcher();
  JobSpec spec = Spec();
  spec.timeout_seconds = 30;
  std::string id = Submit(spec);
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kRunning; }));
  clock_.Advance(seconds(29));
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_TRUE(runtime_.stops().empty()) << "killed before its timeout";
  clock_.Advance(seconds(2));
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kFailed; }));
  EXPECT_EQ(runtime_.stops(), std::vector<std::string>{"KILL " + id});
  EXPECT_NE(Job(id).reason.find("Timeout"), std::string::npos) << Job(id).reason;
}

TEST_F(SupervisionTest, OnFailureRetriesWithDoublingBackoffUntilRetriesAreSpent) {
  StartDispatcher();
  JobSpec spec = Spec();
  spec.restart_policy = RestartPolicy::kOnFailure;
  std::string id = Submit(spec);
  // Backoff after runs 1, 2, 3: 1 s, 2 s, 3 s (capped); then no more retries.
  const int backoff_s[] = {1, 2, 3};
  for (int run = 1; run <= 4; ++run) {
    ASSERT_TRUE(Eventually([&] { return runtime_.running() == 1; })) << "run " << run;
    EXPECT_EQ(Job(id).attempts, run);
    runtime_.Finish(id, Exited{5});
    if (run == 4) break;
    ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kQueued; }));
    EXPECT_EQ(Job(id).history.size(), static_cast<size_t>(run));
    std::this_thread::sleep_for(milliseconds(60));
    EXPECT_EQ(runtime_.running(), 0) << "retried before its backoff (run " << run << ")";
    clock_.Advance(seconds(backoff_s[run - 1]));
    dispatcher_->Wake();
  }
  ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kFailed; }));
  JobRecord done = Job(id);
  EXPECT_EQ(done.attempts, 4);
  ASSERT_EQ(done.history.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(done.history[i].number, i + 1);
    EXPECT_EQ(done.history[i].exit_code, 5);
  }
  ASSERT_EQ(runtime_.markers().size(), 3u);
  EXPECT_NE(runtime_.markers()[0].find("attempt 2 of 4 in 1000 ms"), std::string::npos)
      << runtime_.markers()[0];
}

TEST_F(SupervisionTest, AJobsOwnMaxRetriesOverridesTheSetting) {
  StartDispatcher();  // the setting allows 3 retries
  for (int own : {0, 1}) {
    JobSpec spec = Spec();
    spec.restart_policy = RestartPolicy::kOnFailure;
    spec.max_retries = own;
    std::string id = Submit(spec);
    for (int run = 1; run <= own + 1; ++run) {
      ASSERT_TRUE(Eventually([&] { return runtime_.containers(id) == 1; })) << run;
      runtime_.Finish(id, Exited{5});
      if (run <= own) {
        ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kQueued; }));
        clock_.Advance(seconds(1));
        dispatcher_->Wake();
      }
    }
    ASSERT_TRUE(Eventually([&] { return Job(id).state == JobState::kFailed; })) << own;
    EXPECT_EQ(Job(id).history.size(), static_cast<size_t>(own + 1)) << "maxRetries " << own;
  }
}

TEST_F(SupervisionTest, NeverAndCanceledJobsAreNotRetried) {
  StartDispatcher();
  std::string never = Submit(Spec());
  JobSpec spec = Spec();
  spec.restart_policy = RestartPolicy::kOnFailure;
  std::string canceled = Submit(spec);
  ASSERT_TRUE(Eventually([&] { return runtime_.running() == 2; }));
  runtime_.Finish(never, Exited{1});
  Cancel(canceled);
  ASSERT_TRUE(Eventually([&] {
    return Job(never).state == JobState::kFailed && Job(canceled).state == JobState::kCanceled;
  }));
  EXPECT_TRUE(runtime_.markers().empty());
  EXPECT_TRUE(store_->PeekMessages("jobs", 10)->empty());
}

}  // namespace
}  // namespace berth
