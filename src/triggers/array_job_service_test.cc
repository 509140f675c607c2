#include "triggers/array_job_service.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "common/random.h"
#include "tests/support/test_stores.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

JobStatusUpdate Update(JobState s) {
  JobStatusUpdate u;
  u.state = s;
  return u;
}

// The plain node service as far as these tests need it: cancels through the store and records
// which jobs it was asked to stop.
class StoreJobService : public JobService {
 public:
  explicit StoreJobService(Store& store) : store_(store) {}
  void Submit(JobSpec, const SubmitOptions&, std::function<void(Result<std::string>)>) override {}
  Result<CancelResult> Cancel(std::string_view id) override {
    canceled.push_back(std::string(id));
    ASSIGN_OR_RETURN(JobRecord before, store_.GetJob(id));
    if (IsTerminal(before.state)) return CancelResult{before, true};
    ASSIGN_OR_RETURN(JobRecord after, store_.RequestCancel(id));
    return CancelResult{after, false};
  }
  Result<JobPage> List(std::optional<JobState>, int, std::string_view) override {
    return JobPage{};
  }
  Result<LogChunk> ReadLogFrom(std::string_view, uint64_t, size_t) override { return LogChunk{}; }
  std::unique_ptr<Watch> WatchLog(std::string_view id, std::function<void()> grew) override {
    watched.push_back(std::string(id));
    grew();
    return std::make_unique<Watch>();
  }
  Result<JobRecord> Get(std::string_view id) override { return store_.GetJob(id); }
  Result<JobLog> ReadLog(std::string_view, size_t) override { return JobLog{}; }
  std::vector<std::string> canceled;
  std::vector<std::string> watched;

 private:
  Store& store_;
};

class ArrayTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<TestStores>(GetParam());
    Status opened = engine_->Open(clock_);
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    store_ = engine_->store();
    triggers_ = engine_->triggers();
    inner_ = std::make_unique<StoreJobService>(*store_);
    service_ = std::make_unique<ArrayJobService>(*inner_, *triggers_);
  }
  void TearDown() override {
    service_.reset();
    inner_.reset();
    engine_.reset();
  }
  std::string SubmitArray(int count, int parallelism,
                          CompletionPolicy policy = CompletionPolicy::kAll) {
    JobRecord job;
    job.id = NewUuidV4();
    job.spec.image = "busybox";
    job.spec.count = count;
    job.spec.parallelism = parallelism;
    job.spec.completion_policy = policy;
    job.spec.env["MINE"] = "1";
    job.created_at = clock_.Now();
    EXPECT_TRUE(store_->SubmitJobAndWait(job, "jobs").ok());
    return job.id;
  }
  // Claims every visible message, runs each child and ends it with `end(index)`.
  int RunQueued(const std::function<JobState(int)>& end) {
    auto claimed = store_->ClaimMessages("jobs", 100, milliseconds(60'000));
    EXPECT_TRUE(claimed.ok());
    for (const QueueMessage& m : *claimed) {
      JobStatusUpdate pending = Update(JobState::kPending);
      EXPECT_TRUE(store_->UpdateJobStatus(m.job_id, pending).ok());
      JobStatusUpdate running = Update(JobState::kRunning);
      running.started_at = clock_.Now();
      EXPECT_TRUE(store_->RecordRunning(m, running).ok());
      JobStatusUpdate done = Update(end(*store_->GetJob(m.job_id)->array_index));
      done.finished_at = clock_.Now();
      EXPECT_TRUE(store_->UpdateJobStatus(m.job_id, done).ok());
    }
    return static_cast<int>(claimed->size());
  }

  FakeClock clock_;
  std::unique_ptr<TestStores> engine_;
  Store* store_ = nullptr;
  TriggerStore* triggers_ = nullptr;
  std::unique_ptr<StoreJobService> inner_;
  std::unique_ptr<ArrayJobService> service_;
};

INSTANTIATE_TEST_SUITE_P(Engines, ArrayTest, ::testing::Values("Sqlite", "Postgres"), EngineName);

// The node's service is this wrapper: a log follower's watch must reach the service that can
// watch the log, or every follower falls back to its poll.
TEST_P(ArrayTest, ALogWatchReachesTheWrappedService) {
  int grew = 0;
  std::unique_ptr<Watch> watch = service_->WatchLog("job-1", [&grew] { ++grew; });
  EXPECT_NE(watch, nullptr);
  EXPECT_EQ(inner_->watched, std::vector<std::string>{"job-1"});
  EXPECT_EQ(grew, 1);
}

TEST_P(ArrayTest, OnlyParallelismChildrenAreQueuedEachWithItsIndex) {
  std::string parent = SubmitArray(5, 2);
  auto msgs = store_->PeekMessages("jobs", 100);
  ASSERT_EQ(msgs->size(), 2u) << "the parent never runs; two children at a time";
  auto children = triggers_->ListChildren(parent, std::nullopt, 100, -1);
  ASSERT_EQ(children->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    const JobRecord& c = (*children)[static_cast<size_t>(i)];
    EXPECT_EQ(c.parent_id, parent);
    EXPECT_EQ(c.array_index, i);
    EXPECT_EQ(c.spec.count, 0);
    // A listing of up to 10,000 children reads their summaries, not their specs (issue 10).
    EXPECT_TRUE(c.spec.env.empty()) << "a listed child carries no environment";
    EXPECT_FALSE(c.spec.image.empty());
    auto full = store_->GetJob(c.id);
    ASSERT_TRUE(full.ok());
    EXPECT_EQ(full->spec.env.at("BERTH_JOB_INDEX"), std::to_string(i));
    EXPECT_EQ(full->spec.env.at("BERTH_JOB_COUNT"), "5");
    EXPECT_EQ(full->spec.env.at("MINE"), "1");
  }
  EXPECT_EQ((*msgs)[0].job_id, (*children)[0].id);
  EXPECT_EQ((*msgs)[1].job_id, (*children)[1].id);
  auto p = store_->GetJob(parent);
  EXPECT_EQ(p->state, JobState::kQueued);
  EXPECT_EQ(p->children.at(JobState::kQueued), 5);
}

TEST_P(ArrayTest, EachEndQueuesTheNextChildAndTheLastEndsTheParent) {
  std::string parent = SubmitArray(5, 2);
  int rounds = 0, ran = 0;
  while (int n = RunQueued([](int) { return JobState::kSucceeded; })) {
    EXPECT_LE(n, 2);
    ran += n;
    ++rounds;
  }
  EXPECT_EQ(ran, 5);
  EXPECT_GE(rounds, 3);
  auto p = store_->GetJob(parent);
  EXPECT_EQ(p->state, JobState::kSucceeded);
  EXPECT_EQ(p->reason, "5 of 5 children succeeded");
  EXPECT_EQ(p->children.at(JobState::kSucceeded), 5);
  EXPECT_TRUE(p->finished_at.has_value());
}

TEST_P(ArrayTest, CompletionPolicy) {
  std::string all = SubmitArray(3, 0);
  std::string any = SubmitArray(3, 0, CompletionPolicy::kAny);
  while (RunQueued([](int i) { return i == 1 ? JobState::kFailed : JobState::kSucceeded; })) {
  }
  EXPECT_EQ(store_->GetJob(all)->state, JobState::kFailed);
  EXPECT_EQ(store_->GetJob(any)->state, JobState::kSucceeded);
}

TEST_P(ArrayTest, TheParentRefusesStatusWritesOfItsOwn) {
  std::string parent = SubmitArray(2, 1);
  JobStatusUpdate lost = Update(JobState::kFailed);
  lost.reason = "MonitorLost";
  Status st = store_->UpdateJobStatus(parent, lost);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("job array"), std::string::npos);
}

TEST_P(ArrayTest, CancelOfTheParentCancelsQueuedChildrenAndStopsRunningOnes) {
  std::string parent = SubmitArray(6, 2);
  auto claimed = store_->ClaimMessages("jobs", 100, milliseconds(60'000));
  ASSERT_EQ(claimed->size(), 2u);
  for (const QueueMessage& m : *claimed) {
    ASSERT_TRUE(store_->UpdateJobStatus(m.job_id, Update(JobState::kPending)).ok());
    JobStatusUpdate running = Update(JobState::kRunning);
    running.started_at = clock_.Now();
    ASSERT_TRUE(store_->RecordRunning(m, running).ok());
  }
  auto result = service_->Cancel(parent);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_FALSE(IsTerminal(result->job.state)) << "two children still run";
  EXPECT_EQ(result->job.children.at(JobState::kCanceled), 4);
  std::vector<std::string> stopped(inner_->canceled.begin() + 1, inner_->canceled.end());
  std::sort(stopped.begin(), stopped.end());
  std::vector<std::string> running = {(*claimed)[0].job_id, (*claimed)[1].job_id};
  std::sort(running.begin(), running.end());
  EXPECT_EQ(stopped, running) << "each running child is stopped";
  EXPECT_TRUE(store_->PeekMessages("jobs", 100)->empty());
  for (const QueueMessage& m : *claimed) {
    EXPECT_TRUE(store_->GetJob(m.job_id)->cancel_requested);
    JobStatusUpdate done = Update(JobState::kCanceled);
    done.finished_at = clock_.Now();
    ASSERT_TRUE(store_->UpdateJobStatus(m.job_id, done).ok());
  }
  EXPECT_TRUE(store_->PeekMessages("jobs", 100)->empty()) << "no child starts after a cancel";
  auto p = store_->GetJob(parent);
  EXPECT_EQ(p->state, JobState::kCanceled);
  EXPECT_EQ(p->children.at(JobState::kCanceled), 6);
}

TEST_P(ArrayTest, ChildrenAreListedByIndexInPages) {
  std::string parent = SubmitArray(7, 1);
  std::vector<int> seen;
  std::string cursor;
  do {
    auto page = service_->ListChildren(parent, std::nullopt, 3, cursor);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const JobRecord& c : page->jobs) seen.push_back(*c.array_index);
    cursor = page->next_cursor;
  } while (!cursor.empty());
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(service_->ListChildren(NewUuidV4(), std::nullopt, 3, "").status().IsNotFound());
  EXPECT_EQ(service_->ListChildren(parent, std::nullopt, 3, "x").status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace berth
