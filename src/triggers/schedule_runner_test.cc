#include "triggers/schedule_runner.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>

#include "tests/support/test_stores.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

class ScheduleRunnerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<TestStores>(GetParam());
    Status opened = engine_->Open(clock_);
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    store_ = engine_->store();
    triggers_ = engine_->triggers();
    runner_ = MakeRunner();
  }
  void TearDown() override {
    runner_.reset();
    engine_.reset();
  }

  std::unique_ptr<ScheduleRunner> MakeRunner() {
    ScheduleRunnerOptions opts;
    opts.wake = [this] { ++wakes_; };
    opts.cancel = [this](const std::string& id) {
      canceled_.push_back(id);
      return Status::Ok();
    };
    return std::make_unique<ScheduleRunner>(opts, *triggers_, *store_, clock_);
  }

  ScheduleSpec Spec(const std::string& name, const std::string& expr) {
    ScheduleSpec s;
    s.name = name;
    s.schedule = expr;
    s.job.image = "busybox";
    s.job.command = {"true"};
    return s;
  }

  std::vector<JobRecord> Jobs() {
    auto jobs = store_->ListJobs({}, 10'000);
    EXPECT_TRUE(jobs.ok()) << jobs.status().ToString();
    return jobs.ok() ? *jobs : std::vector<JobRecord>{};
  }

  void Tick(int seconds) {
    clock_.Advance(milliseconds(int64_t{seconds} * 1000));
    runner_->RunDue();
  }

  FakeClock clock_;  // starts at 1'700'000'000'000 ms: an even second
  std::unique_ptr<TestStores> engine_;
  Store* store_ = nullptr;
  TriggerStore* triggers_ = nullptr;
  std::unique_ptr<ScheduleRunner> runner_;
  int wakes_ = 0;
  std::vector<std::string> canceled_;
};

INSTANTIATE_TEST_SUITE_P(Engines, ScheduleRunnerTest, ::testing::Values("Sqlite", "Postgres"),
                         EngineName);

TEST_P(ScheduleRunnerTest, EachFiringMakesOneJobNamedAfterTheSchedule) {
  ASSERT_TRUE(runner_->Create(Spec("every2", "*/2 * * * * *")).ok());
  runner_->RunDue();
  EXPECT_TRUE(Jobs().empty()) << "nothing is due at creation";
  Tick(2);
  runner_->RunDue();  // the same moment again: nothing new
  std::vector<JobRecord> jobs = Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].schedule, "every2");
  EXPECT_EQ(jobs[0].state, JobState::kQueued);
  EXPECT_EQ(jobs[0].idempotency_key, "schedule/every2/1700000002000");
  EXPECT_EQ(store_->PeekMessages("jobs", 10)->size(), 1u) << "an ordinary queued job";
  EXPECT_EQ(wakes_, 1);
  for (int i = 0; i < 9; ++i) Tick(2);
  EXPECT_EQ(Jobs().size(), 10u);
  auto view = runner_->Get("every2");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->record.fired_count, 10);
  EXPECT_EQ(view->record.last_job_id, Jobs()[0].id);
  ASSERT_TRUE(view->next_fire_at.has_value());
  EXPECT_EQ(ToUnixMillis(*view->next_fire_at), 1'700'000'022'000);
}

TEST_P(ScheduleRunnerTest, TwoRunnersOnOneStoreMakeOneJobPerFiring) {
  auto second = MakeRunner();
  ASSERT_TRUE(runner_->Create(Spec("shared", "* * * * * *")).ok());
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(milliseconds(1000));
    (i % 2 ? runner_ : second)->RunDue();
    (i % 2 ? second : runner_)->RunDue();
  }
  std::set<std::string> keys;
  for (const JobRecord& j : Jobs()) keys.insert(j.idempotency_key);
  EXPECT_EQ(Jobs().size(), 20u);
  EXPECT_EQ(keys.size(), 20u);
}

TEST_P(ScheduleRunnerTest, LateFiringsWithinTheDeadlineRunOlderOnesAreSkipped) {
  ASSERT_TRUE(runner_->Create(Spec("late", "*/2 * * * * *")).ok());  // deadline 10 s
  Tick(5);  // the runner was away for 5 s: the firings at +2 and +4 are late, not missed
  EXPECT_EQ(Jobs().size(), 2u);
  Tick(60);  // away for a minute: only those within the last 10 s run
  std::vector<JobRecord> jobs = Jobs();
  EXPECT_EQ(jobs.size(), 2u + 5u);
  auto view = runner_->Get("late");
  EXPECT_EQ(view->record.skipped_count, 25);  // +6 ... +54
}

TEST_P(ScheduleRunnerTest, CatchUpRunsOnceForEveryMissedFiring) {
  ScheduleSpec spec = Spec("catch", "*/2 * * * * *");
  spec.catch_up = true;
  spec.starting_deadline_seconds = 0;
  ASSERT_TRUE(runner_->Create(spec).ok());
  Tick(61);  // 30 firings missed
  EXPECT_EQ(Jobs().size(), 1u) << "one catch-up job, not one per missed firing";
  EXPECT_EQ(runner_->Get("catch")->record.skipped_count, 29);
  Tick(1);  // +62: on time
  EXPECT_EQ(Jobs().size(), 2u);
}

TEST_P(ScheduleRunnerTest, MissedFiringsWithoutCatchUpMakeNoJob) {
  ScheduleSpec spec = Spec("nocatch", "*/2 * * * * *");
  spec.starting_deadline_seconds = 0;
  ASSERT_TRUE(runner_->Create(spec).ok());
  Tick(61);
  EXPECT_TRUE(Jobs().empty());
}

TEST_P(ScheduleRunnerTest, ForbidSkipsWhileThePreviousJobRuns) {
  ScheduleSpec spec = Spec("forbid", "*/2 * * * * *");
  spec.concurrency_policy = ConcurrencyPolicy::kForbid;
  ASSERT_TRUE(runner_->Create(spec).ok());
  Tick(2);
  ASSERT_EQ(Jobs().size(), 1u);
  std::string first = Jobs()[0].id;
  Tick(2);  // the first job is still queued: skipped
  EXPECT_EQ(Jobs().size(), 1u);
  EXPECT_EQ(runner_->Get("forbid")->record.skipped_count, 1);
  JobStatusUpdate done;
  done.state = JobState::kSucceeded;
  done.exit_code = 0;
  done.finished_at = clock_.Now();
  ASSERT_TRUE(store_->UpdateJobStatus(first, done).ok());
  Tick(2);
  EXPECT_EQ(Jobs().size(), 2u);
}

TEST_P(ScheduleRunnerTest, ReplaceCancelsThePreviousJob) {
  ScheduleSpec spec = Spec("replace", "*/2 * * * * *");
  spec.concurrency_policy = ConcurrencyPolicy::kReplace;
  ASSERT_TRUE(runner_->Create(spec).ok());
  Tick(2);
  std::string first = Jobs()[0].id;
  Tick(2);
  EXPECT_EQ(Jobs().size(), 2u);
  EXPECT_EQ(canceled_, std::vector<std::string>{first});
}

TEST_P(ScheduleRunnerTest, DeletedOrDisabledSchedulesFireNoMore) {
  ASSERT_TRUE(runner_->Create(Spec("gone", "* * * * * *")).ok());
  ASSERT_TRUE(runner_->Create(Spec("off", "* * * * * *")).ok());
  Tick(1);
  EXPECT_EQ(Jobs().size(), 2u);
  ASSERT_TRUE(runner_->Delete("gone").ok());
  ScheduleSpec off = Spec("off", "* * * * * *");
  off.enabled = false;
  auto put = runner_->Put(off);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_FALSE(put->created);
  EXPECT_FALSE(put->next_fire_at.has_value());
  Tick(5);
  EXPECT_EQ(Jobs().size(), 2u);
  EXPECT_TRUE(runner_->Delete("gone").IsNotFound());
  off.enabled = true;  // re-enabled: runs from now on, no firings from while it was off
  ASSERT_TRUE(runner_->Put(off).ok());
  runner_->RunDue();
  EXPECT_EQ(Jobs().size(), 2u);
  Tick(1);
  EXPECT_EQ(Jobs().size(), 3u);
}

TEST_P(ScheduleRunnerTest, CreateRefusesBadInputPrecisely) {
  EXPECT_EQ(runner_->Create(Spec("bad", "* * *")).status().code(), StatusCode::kInvalidArgument);
  ScheduleSpec zone = Spec("zone", "* * * * *");
  zone.time_zone = "Nowhere/City";
  auto z = runner_->Create(zone);
  EXPECT_EQ(z.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(z.status().message().find("timeZone"), std::string::npos);
  auto never = runner_->Create(Spec("never", "0 0 0 30 2 *"));
  EXPECT_NE(never.status().message().find("never fires"), std::string::npos);
  ASSERT_TRUE(runner_->Create(Spec("dup", "* * * * *")).ok());
  EXPECT_EQ(runner_->Create(Spec("dup", "* * * * *")).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(runner_->List()->size(), 1u);
}

TEST_P(ScheduleRunnerTest, SchedulesSurviveAReopenOfTheStore) {
  ScheduleSpec spec = Spec("kept", "*/2 * * * * *");
  spec.job.secure_env = {{"TOKEN", "s3cret"}};
  spec.time_zone = "Europe/Berlin";
  ASSERT_TRUE(runner_->Create(spec).ok());
  Tick(2);
  runner_.reset();
  engine_->Close();
  ASSERT_TRUE(engine_->Open(clock_).ok());
  store_ = engine_->store();
  triggers_ = engine_->triggers();
  runner_ = MakeRunner();
  auto view = runner_->Get("kept");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->record.spec.job.secure_env.at("TOKEN"), "s3cret");
  EXPECT_EQ(view->record.spec.time_zone, "Europe/Berlin");
  EXPECT_EQ(view->record.fired_count, 1);
  Tick(2);
  EXPECT_EQ(Jobs().size(), 2u);
}

}  // namespace
}  // namespace berth
