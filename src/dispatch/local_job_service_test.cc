#include "dispatch/local_job_service.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <set>

#include "common/files.h"
#include "store/sqlite_store.h"

namespace berth {
namespace {

class LocalJobServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-local-service-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto store = SqliteStore::Open(dir_ / "berth.db", clock_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    service_ = std::make_unique<LocalJobService>(*store_, nullptr, clock_, "jobs", dir_ / "jobs",
                                                 [this](const std::string& id) {
                                                   removed_.insert(id);
                                                   return remove_result_;
                                                 });
  }
  void TearDown() override {
    service_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Submit(const std::string& key) {
    JobSpec spec;
    spec.image = "busybox";
    SubmitOptions opts;
    opts.idempotency_key = key;
    std::promise<Result<std::string>> done;
    service_->Submit(spec, opts, [&](Result<std::string> id) { done.set_value(std::move(id)); });
    Result<std::string> id = done.get_future().get();
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : "";
  }

  void End(const std::string& id) {
    JobStatusUpdate update;
    update.state = JobState::kSucceeded;
    update.exit_code = 0;
    update.finished_at = clock_.Now();
    ASSERT_TRUE(store_->UpdateJobStatus(id, update).ok());
  }

  FakeClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<LocalJobService> service_;
  std::set<std::string> removed_;
  Status remove_result_;
};

TEST_F(LocalJobServiceTest, FindsAJobByItsIdempotencyKey) {
  std::string id = Submit("/subscriptions/s/resourcegroups/rg/x");
  auto found = service_->FindByIdempotencyKey("/subscriptions/s/resourcegroups/rg/x");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->id, id);
  EXPECT_TRUE(service_->FindByIdempotencyKey("other").status().IsNotFound());
}

TEST_F(LocalJobServiceTest, DeleteRefusesAJobThatHasNotEnded) {
  std::string id = Submit("k");
  Status st = service_->Delete(id);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_TRUE(service_->Get(id).ok());
  EXPECT_TRUE(removed_.empty());
}

TEST_F(LocalJobServiceTest, DeleteRemovesFilesAndRecordAndFreesTheKey) {
  std::string id = Submit("k");
  End(id);
  ASSERT_TRUE(service_->Delete(id).ok());
  EXPECT_EQ(removed_, std::set<std::string>{id});
  EXPECT_TRUE(service_->Get(id).status().IsNotFound());
  EXPECT_TRUE(service_->FindByIdempotencyKey("k").status().IsNotFound());
  EXPECT_NE(Submit("k"), id);  // the key makes a new job now
  EXPECT_TRUE(service_->Delete(id).IsNotFound());
}

TEST_F(LocalJobServiceTest, DeleteKeepsTheRecordWhenTheFilesCannotBeRemoved) {
  std::string id = Submit("k");
  End(id);
  remove_result_ = Status::FailedPrecondition("monitor still runs");
  EXPECT_EQ(service_->Delete(id).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(service_->Get(id).ok());
}

TEST_F(LocalJobServiceTest, LogsComeFromTheLocalFileElseFromTheArchive) {
  LocalJobService with_archive(*store_, nullptr, clock_, "jobs", dir_ / "jobs", nullptr,
                               store_.get());
  std::string here = Submit("here"), elsewhere = Submit("elsewhere");
  std::filesystem::create_directories(dir_ / "jobs" / here);
  ASSERT_TRUE(WriteFileAtomic(dir_ / "jobs" / here / "log", "from the file\n").ok());
  ASSERT_TRUE(store_->AppendLog(here, 0, "stale copy\n", 1 << 20).ok());
  ASSERT_TRUE(store_->AppendLog(elsewhere, 0, "shipped by its node\n", 1 << 20).ok());
  EXPECT_EQ(with_archive.ReadLogFrom(here, 0, 100)->text, "from the file\n");
  EXPECT_EQ(with_archive.ReadLog(here, 100)->text, "from the file\n");
  EXPECT_EQ(with_archive.ReadLogFrom(elsewhere, 5, 100)->text, "ed by its node\n");
  auto tail = with_archive.ReadLog(elsewhere, 100);
  ASSERT_TRUE(tail.ok()) << tail.status().ToString();
  EXPECT_EQ(tail->text, "shipped by its node\n");
  EXPECT_FALSE(tail->truncated);
  // Without an archive (one node), a job without a file simply has no log yet.
  EXPECT_EQ(service_->ReadLogFrom(elsewhere, 0, 100)->text, "");
}

// A follower of a queued job watches a log that its job's start has yet to create (with the
// job's directory): it hears the log appear, not at its next poll.
TEST_F(LocalJobServiceTest, TheLogOfAQueuedJobIsWatchedBeforeItExists) {
  std::filesystem::create_directories(dir_ / "jobs");
  std::string id = Submit("queued");
  // The callback holds what it uses (file_watcher.h): a call under way when the watch goes may
  // still run after this test's frame is gone (it once locked a mutex there and hung).
  struct Heard {
    std::mutex mu;
    std::condition_variable cv;
    int calls = 0;
  };
  auto heard = std::make_shared<Heard>();
  auto watch = service_->WatchLog(id, [heard] {
    std::lock_guard<std::mutex> lock(heard->mu);
    ++heard->calls;
    heard->cv.notify_all();
  });
  ASSERT_NE(watch, nullptr) << "a log not there yet is watched too";
  std::filesystem::create_directories(dir_ / "jobs" / id);
  std::ofstream(dir_ / "jobs" / id / "log") << "first\n";
  {
    std::unique_lock<std::mutex> lock(heard->mu);
    EXPECT_TRUE(
        heard->cv.wait_for(lock, std::chrono::seconds(3), [&] { return heard->calls > 0; }));
  }
  EXPECT_EQ(service_->ReadLogFrom(id, 0, 100)->text, "first\n");
}

}  // namespace
}  // namespace berth
