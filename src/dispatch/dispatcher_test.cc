// The dispatcher's queue-trigger behaviour with a real SQLite store, a FakeRuntime and a
// FakeClock: start, retries and poison, the concurrency cap, adoption and reconciliation.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "dispatch/dispatcher_fixture.h"

namespace berth {
namespace {

using std::chrono::seconds;

class DispatcherTest : public DispatcherFixture {
 protected:
  std::string Submit(const std::string& image = "busybox") { return SubmitSpec(Spec(image)); }
};

TEST_F(DispatcherTest, StartsAQueuedJobDeletesItsMessageAndRecordsItsExit) {
  StartDispatcher();
  std::string id = Submit();
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kRunning; }));
  EXPECT_EQ(runtime_.containers(id), 1);
  EXPECT_TRUE(store_->PeekMessages("jobs", 10)->empty());
  auto running = store_->GetJob(id);
  EXPECT_EQ(running->attempts, 1);
  EXPECT_TRUE(running->started_at.has_value());

  runtime_.Finish(id, Exited{0});
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kSucceeded; }));
  auto done = store_->GetJob(id);
  EXPECT_EQ(done->exit_code, 0);
  EXPECT_TRUE(done->finished_at.has_value());
  EXPECT_TRUE(Eventually([&] { return dispatcher_->active() == 0; }));
}

// The runtime hears that starts follow as soon as jobs are claimed, before the first start.
TEST_F(DispatcherTest, TheRuntimeHearsOfComingStartsBeforeTheyBegin) {
  StartDispatcher();
  EXPECT_EQ(runtime_.starts_coming(), 0) << "nothing claimed, nothing coming";
  std::string id = Submit();
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kRunning; }));
  EXPECT_GE(runtime_.starts_coming(), 1);
  EXPECT_EQ(runtime_.starts_before_first_hint(), 0);
}

TEST_F(DispatcherTest, NonZeroExitAndSignalFailTheJob) {
  StartDispatcher();
  std::string a = Submit();
  std::string b = Submit();
  ASSERT_TRUE(Eventually([&] { return runtime_.running() == 2; }));
  runtime_.Finish(a, Exited{3});
  runtime_.Finish(b, Signaled{9});
  ASSERT_TRUE(Eventually([&] { return IsTerminal(StateOf(a)) && IsTerminal(StateOf(b)); }));
  EXPECT_EQ(StateOf(a), JobState::kFailed);
  EXPECT_EQ(store_->GetJob(a)->exit_code, 3);
  EXPECT_EQ(store_->GetJob(b)->exit_code, 137);
  EXPECT_NE(store_->GetJob(b)->reason.find("SIGKILL"), std::string::npos);
}

TEST_F(DispatcherTest, FailedStartsAreRetriedThenThePoisonQueueTakesTheMessage) {
  runtime_.FailImage("missing");
  StartDispatcher();
  std::string id = Submit("missing");
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kFailed; }));
  EXPECT_EQ(runtime_.start_calls(id), opts_.max_dequeue_count);
  EXPECT_EQ(runtime_.containers(id), 0);
  auto job = store_->GetJob(id);
  EXPECT_EQ(job->attempts, 5);
  EXPECT_NE(job->reason.find("Poison"), std::string::npos) << job->reason;
  EXPECT_NE(job->reason.find("jobs-poison"), std::string::npos) << job->reason;
  EXPECT_TRUE(store_->PeekMessages("jobs", 10)->empty());
  auto poison = store_->PeekMessages("jobs-poison", 10);
  ASSERT_EQ(poison->size(), 1u);
  EXPECT_EQ(poison->front().job_id, id);
  EXPECT_EQ(poison->front().dequeue_count, 5);
}

// A failed start releases its message for the next attempt before its launch is done with the
// job; a claim of that message in between used to be bounced back for a whole lease (60 s; on
// this fake clock, for ever). Here every release holds its thread until the message is claimed
// again and that delivery has had time to act: the attempts still follow one another.
TEST_F(DispatcherTest, AFailedStartClaimedAgainBeforeItsLaunchEndsIsTriedAgainAtOnce) {
  runtime_.FailImage("missing");
  std::atomic<int> claims{0};
  faulty_->set_after_claim(
      [&](const std::vector<ClaimedJob>& claimed) { claims += static_cast<int>(claimed.size()); });
  std::atomic<int> bounced{0};
  faulty_->set_after_release([&](const QueueMessage&, milliseconds delay) {
    if (delay > milliseconds(0)) {  // the old bounce of a busy delivery (a lease)
      ++bounced;
      return;
    }
    int before = claims.load();
    auto deadline = std::chrono::steady_clock::now() + milliseconds(2000);
    while (claims.load() == before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    // The new claim's launch runs on another start thread: give it time to meet this one.
    auto settle = std::chrono::steady_clock::now() + milliseconds(200);
    while (bounced.load() == 0 && std::chrono::steady_clock::now() < settle) {
      std::this_thread::sleep_for(milliseconds(1));
    }
  });
  StartDispatcher();
  std::string id = Submit("missing");
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kFailed; }))
      << "stuck after " << runtime_.start_calls(id) << " attempts; " << bounced.load()
      << " deliveries bounced";
  EXPECT_EQ(bounced.load(), 0);
  EXPECT_EQ(runtime_.start_calls(id), opts_.max_dequeue_count);
  auto poison = store_->PeekMessages("jobs-poison", 10);
  ASSERT_EQ(poison->size(), 1u);
  EXPECT_EQ(poison->front().dequeue_count, 5) << "no delivery counted twice";
}

TEST_F(DispatcherTest, FailedStartsBackOffExponentially) {
  runtime_.FailImage("unreachable");
  opts_.start_backoff = seconds(1);
  opts_.start_backoff_max = seconds(3);
  StartDispatcher();
  std::string id = Submit("unreachable");
  // Attempt n+1 waits min(1 s * 2^(n-1), 3 s) after attempt n: 1, 2, 3, 3 s.
  for (int n = 1; n <= 4; ++n) {
    ASSERT_TRUE(Eventually([&] { return runtime_.start_calls(id) == n; })) << n;
    ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kQueued; })) << n;
    int64_t wait_ms = std::min<int64_t>(1000LL << (n - 1), 3000);
    EXPECT_NE(Job(id).reason.find("next attempt in " + std::to_string(wait_ms) + " ms"),
              std::string::npos)
        << Job(id).reason;
    clock_.Advance(milliseconds(wait_ms - 100));
    dispatcher_->Wake();
    std::this_thread::sleep_for(milliseconds(60));
    EXPECT_EQ(runtime_.start_calls(id), n) << "attempt " << n + 1 << " came before its back-off";
    clock_.Advance(milliseconds(100));
    dispatcher_->Wake();
  }
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kFailed; }));
  EXPECT_EQ(runtime_.start_calls(id), 5);
}

TEST_F(DispatcherTest, RetryDelayKeepsAFailedStartInvisibleUntilItPasses) {
  runtime_.FailImage("missing");
  opts_.retry_delay = seconds(30);
  StartDispatcher();
  std::string id = Submit("missing");
  ASSERT_TRUE(Eventually([&] { return runtime_.start_calls(id) == 1; }));
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kQueued; }));
  EXPECT_NE(store_->GetJob(id)->reason.find("attempt 1 of 5"), std::string::npos);
  dispatcher_->Wake();
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(runtime_.start_calls(id), 1) << "retried before the delay passed";
  clock_.Advance(seconds(31));
  dispatcher_->Wake();
  EXPECT_TRUE(Eventually([&] { return runtime_.start_calls(id) == 2; }));
}

TEST_F(DispatcherTest, NeverRunsMoreThanMaxConcurrentJobs) {
  opts_.max_concurrent = 2;
  StartDispatcher();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Submit());
  ASSERT_TRUE(Eventually([&] { return runtime_.running() == 2; }));
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(runtime_.running(), 2);
  EXPECT_EQ(store_->PeekMessages("jobs", 10)->size(), 3u);
  int finished = 0;
  while (finished < 5) {
    for (const auto& id : ids) {
      if (runtime_.containers(id) == 1 && !IsTerminal(StateOf(id)) &&
          StateOf(id) == JobState::kRunning) {
        runtime_.Finish(id, Exited{0});
        ++finished;
        ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kSucceeded; }));
      }
    }
    EXPECT_LE(runtime_.running(), 2);
    if (finished < 5) {
      ASSERT_TRUE(Eventually([&] {
        int starting = 0;
        for (const auto& id : ids) starting += StateOf(id) == JobState::kRunning;
        return starting > 0;
      }));
    }
  }
  for (const auto& id : ids) EXPECT_EQ(StateOf(id), JobState::kSucceeded);
}

TEST_F(DispatcherTest, ARedeliveredMessageAdoptsTheExistingContainerInsteadOfStartingAnother) {
  // A daemon started the container, then died before deleting the message.
  std::string id = Submit();
  ASSERT_TRUE(runtime_.Start(id, store_->GetJob(id)->spec, nullptr).ok());
  StartDispatcher();
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kRunning; }));
  EXPECT_EQ(runtime_.containers(id), 1);
  EXPECT_TRUE(Eventually([&] { return store_->PeekMessages("jobs", 10)->empty(); }));
  runtime_.Finish(id, Exited{0});
  EXPECT_TRUE(Eventually([&] { return StateOf(id) == JobState::kSucceeded; }));
  EXPECT_TRUE(Eventually([&] { return dispatcher_->active() == 0; }));
}

TEST_F(DispatcherTest, StartAdoptsRunningJobsAndFailsRunningJobsWithoutAMonitor) {
  std::string alive = Submit();
  std::string lost = Submit();
  // Both were claimed and marked running by an earlier daemon; only one has a monitor.
  auto claimed = store_->ClaimMessages("jobs", 10, seconds(60));
  ASSERT_EQ(claimed->size(), 2u);
  for (const auto& m : *claimed) ASSERT_TRUE(store_->DeleteMessage(m).ok());
  for (const auto& id : {alive, lost}) {
    JobStatusUpdate pending{JobState::kPending, std::nullopt, "", std::nullopt, std::nullopt, 1};
    ASSERT_TRUE(store_->UpdateJobStatus(id, pending).ok());
    JobStatusUpdate running{JobState::kRunning, std::nullopt, "", clock_.Now(), std::nullopt, 1};
    ASSERT_TRUE(store_->UpdateJobStatus(id, running).ok());
  }
  ASSERT_TRUE(runtime_.Start(alive, store_->GetJob(alive)->spec, nullptr).ok());
  StartDispatcher();
  EXPECT_EQ(StateOf(lost), JobState::kFailed);
  EXPECT_NE(store_->GetJob(lost)->reason.find("MonitorLost"), std::string::npos);
  EXPECT_EQ(dispatcher_->active(), 1);
  runtime_.Finish(alive, Exited{0});
  EXPECT_TRUE(Eventually([&] { return StateOf(alive) == JobState::kSucceeded; }));
  EXPECT_EQ(runtime_.containers(alive), 1);
}

// In the background (as the daemon runs it, so that its API serves while a thousand jobs are
// adopted) Start returns at once; nothing new is claimed until every job is adopted.
TEST_F(DispatcherTest, BackgroundAdoptionLetsStartReturnAndClaimsOnlyAfterIt) {
  std::string alive = Submit();
  auto claimed = store_->ClaimMessages("jobs", 10, seconds(60));
  ASSERT_EQ(claimed->size(), 1u);
  ASSERT_TRUE(store_->DeleteMessage((*claimed)[0]).ok());
  JobStatusUpdate pending{JobState::kPending, std::nullopt, "", std::nullopt, std::nullopt, 1};
  ASSERT_TRUE(store_->UpdateJobStatus(alive, pending).ok());
  JobStatusUpdate running{JobState::kRunning, std::nullopt, "", clock_.Now(), std::nullopt, 1};
  ASSERT_TRUE(store_->UpdateJobStatus(alive, running).ok());
  ASSERT_TRUE(runtime_.Start(alive, store_->GetJob(alive)->spec, nullptr).ok());

  // The listing of the jobs to adopt waits until the test lets it go.
  std::promise<void> go;
  std::shared_future<void> gate = go.get_future().share();
  faulty_->set_hook([gate](std::string_view op, std::string_view, JobState) {
    if (op == "ListJobsPage") gate.wait();
    return Status::Ok();
  });
  std::atomic<bool> reconciled{false};
  std::vector<std::string> adopted;
  opts_.reconcile_in_background = true;
  opts_.on_reconciled = [&](const std::vector<std::string>& ids) {
    adopted = ids;
    reconciled = true;
  };
  auto start = std::async(std::launch::async, [this] { StartDispatcher(); });
  if (start.wait_for(seconds(2)) != std::future_status::ready) {
    go.set_value();
    start.wait();
    FAIL() << "Start waited for the adoption";
  }
  std::string fresh = Submit();
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_FALSE(reconciled.load());
  EXPECT_EQ(runtime_.start_calls(fresh), 0) << "claimed before the adoption ended";
  EXPECT_EQ(dispatcher_->active(), 0);

  go.set_value();
  ASSERT_TRUE(Eventually([&] { return reconciled.load(); }));
  EXPECT_EQ(adopted, std::vector<std::string>{alive});
  EXPECT_TRUE(Eventually([&] { return StateOf(fresh) == JobState::kRunning; }));
  EXPECT_EQ(dispatcher_->active(), 2);
  runtime_.Finish(alive, Exited{0});
  EXPECT_TRUE(Eventually([&] { return StateOf(alive) == JobState::kSucceeded; }));
  EXPECT_EQ(runtime_.containers(alive), 1);
}

TEST_F(DispatcherTest, AMessageLeasedElsewhereIsTakenOnlyAfterItsLeaseExpires) {
  std::string id = Submit();
  // Another worker claimed it and died without deleting or releasing it.
  auto other = store_->ClaimMessages("jobs", 1, seconds(30));
  ASSERT_EQ(other->size(), 1u);
  StartDispatcher();
  dispatcher_->Wake();
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(runtime_.start_calls(id), 0);
  clock_.Advance(seconds(31));
  dispatcher_->Wake();
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kRunning; }));
  EXPECT_EQ(store_->GetJob(id)->attempts, 2);
}

}  // namespace
}  // namespace berth
