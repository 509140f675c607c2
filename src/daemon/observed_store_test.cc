#include "daemon/observed_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <vector>

#include "api/prometheus_metrics.h"
#include "common/random.h"
#include "store/sqlite_store.h"

namespace berth {
namespace {

bool HasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

class ObservedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-observed-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto opened = SqliteStore::Open(dir_ / "berth.db", clock_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    inner_ = std::move(opened).value();
    store_ = std::make_unique<ObservedStore>(*inner_, clock_, metrics_, events_);
    store_->AddGauges({"jobs", "jobs-poison"});
    events_.Subscribe([this](const JobEvent& e) { seen_.push_back(e); });
  }
  void TearDown() override {
    store_.reset();
    inner_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Submit() {
    JobRecord job;
    job.id = NewUuidV4();
    job.spec.image = "busybox";
    job.created_at = clock_.Now();
    EXPECT_TRUE(store_->SubmitJobAndWait(job, "jobs").ok());
    return job.id;
  }

  JobStatusUpdate To(JobState s, std::string reason = "") {
    JobStatusUpdate u;
    u.state = s;
    u.reason = std::move(reason);
    u.attempts = 1;
    if (s == JobState::kRunning) u.started_at = clock_.Now();
    if (IsTerminal(s)) u.finished_at = clock_.Now();
    return u;
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  PrometheusMetrics metrics_;
  JobEventHub events_;
  std::unique_ptr<SqliteStore> inner_;
  std::unique_ptr<ObservedStore> store_;
  std::vector<JobEvent> seen_;
};

TEST_F(ObservedStoreTest, CountsALifeFromSubmitToFinishOnce) {
  std::string id = Submit();
  std::string text = metrics_.RenderText();
  EXPECT_TRUE(HasLine(text, "berth_jobs_submitted_total 1")) << text;
  EXPECT_TRUE(HasLine(text, "berth_queue_messages{queue=\"jobs\"} 1")) << text;
  EXPECT_TRUE(HasLine(text, "berth_queue_messages{queue=\"jobs-poison\"} 0")) << text;
  EXPECT_TRUE(HasLine(text, "berth_jobs{state=\"Queued\"} 1")) << text;

  clock_.Advance(milliseconds(2000));
  text = metrics_.RenderText();
  EXPECT_TRUE(HasLine(text, "berth_queue_oldest_message_age_seconds{queue=\"jobs\"} 2")) << text;

  auto claimed = store_->ClaimMessages("jobs", 1, milliseconds(60'000));
  ASSERT_TRUE(claimed.ok() && claimed->size() == 1);
  ASSERT_TRUE(store_->UpdateJobStatus(id, To(JobState::kPending, "claimed")).ok());
  ASSERT_TRUE(store_->RecordRunning(claimed->front(), To(JobState::kRunning)).ok());
  // Adopting it again (a redelivered message) is not a second start.
  ASSERT_TRUE(store_->UpdateJobStatus(id, To(JobState::kRunning)).ok());
  text = metrics_.RenderText();
  EXPECT_TRUE(HasLine(text, "berth_jobs_started_total 1")) << text;
  EXPECT_TRUE(HasLine(text, "berth_jobs_running 1")) << text;
  EXPECT_TRUE(HasLine(text, "berth_queue_messages{queue=\"jobs\"} 0")) << text;
  EXPECT_TRUE(HasLine(text, "berth_job_start_latency_seconds_count 1")) << text;
  EXPECT_TRUE(HasLine(text, "berth_job_start_latency_seconds_sum 2")) << text;

  clock_.Advance(milliseconds(3000));
  ASSERT_TRUE(store_->UpdateJobStatus(id, To(JobState::kFailed, "Error: exited with code 3")).ok());
  // A terminal job is never left: the store refuses, nothing more is counted.
  EXPECT_FALSE(store_->UpdateJobStatus(id, To(JobState::kSucceeded, "Completed")).ok());
  text = metrics_.RenderText();
  EXPECT_TRUE(HasLine(text, "berth_jobs_finished_total{reason=\"Error\",state=\"Failed\"} 1"))
      << text;
  EXPECT_EQ(text.find("state=\"Succeeded\""), std::string::npos) << text;
  EXPECT_TRUE(HasLine(text, "berth_job_run_duration_seconds_sum 3")) << text;
  EXPECT_TRUE(HasLine(text, "berth_jobs_running 0")) << text;
  EXPECT_TRUE(HasLine(text, "berth_store_commit_seconds_count{op=\"submit\"} 1")) << text;

  std::vector<JobState> states;
  for (const JobEvent& e : seen_) states.push_back(e.state);
  EXPECT_EQ(states, (std::vector<JobState>{JobState::kQueued, JobState::kPending,
                                           JobState::kRunning, JobState::kFailed}));
  EXPECT_EQ(seen_.back().id, id);
  EXPECT_EQ(seen_.back().reason, "Error: exited with code 3");
}

TEST_F(ObservedStoreTest, CancelOfAQueuedJobCountsOnceAndIsPublished) {
  std::string id = Submit();
  ASSERT_TRUE(store_->RequestCancel(id).ok());
  ASSERT_TRUE(store_->RequestCancel(id).ok());  // already Canceled: nothing new
  std::string text = metrics_.RenderText();
  EXPECT_NE(text.find("berth_jobs_finished_total{reason="), std::string::npos) << text;
  EXPECT_NE(text.find("state=\"Canceled\"} 1\n"), std::string::npos) << text;
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[1].state, JobState::kCanceled);
}

}  // namespace
}  // namespace berth
