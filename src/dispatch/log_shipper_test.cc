// LogShipper against both engines (real SQLite, real PostgreSQL): a worker's log files shipped
// into the store and read back on another node through LocalJobService, as the API reads them.
#include "dispatch/log_shipper.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "common/files.h"
#include "common/random.h"
#include "dispatch/dispatcher.h"
#include "dispatch/local_job_service.h"
#include "job/job_files.h"
#include "job/job_log.h"
#include "runtime/fake_runtime.h"
#include "tests/support/test_stores.h"

namespace berth {
namespace {

// The archive of a store, failing the next `fail_next` calls with Unavailable (a store that is
// away for a moment).
class FlakyArchive : public LogArchive {
 public:
  explicit FlakyArchive(LogArchive& inner) : inner_(inner) {}
  Status AppendLog(std::string_view id, uint64_t offset, std::string_view data,
                   uint64_t keep) override {
    if (fail_next > 0) {
      --fail_next;
      return Status::Unavailable("store away");
    }
    ++appends;
    return inner_.AppendLog(id, offset, data, keep);
  }
  Result<uint64_t> StoredLogEnd(std::string_view id) override {
    ++end_reads;
    return inner_.StoredLogEnd(id);
  }
  Result<LogChunk> ReadLogFrom(std::string_view id, uint64_t offset, size_t max) override {
    return inner_.ReadLogFrom(id, offset, max);
  }
  Result<JobLog> ReadLogTail(std::string_view id, size_t max) override {
    return inner_.ReadLogTail(id, max);
  }
  std::atomic<int> fail_next{0};
  std::atomic<int> appends{0};
  std::atomic<int> end_reads{0};

 private:
  LogArchive& inner_;
};

class LogShipperTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-shipper-XXXXXX";
    dir_ = mkdtemp(tmpl);
    worker_jobs_ = dir_ / "worker-jobs";
    api_jobs_ = dir_ / "api-jobs";  // stays empty: an api node has no job files
    engine_ = std::make_unique<TestStores>(GetParam());
    Status opened = engine_->Open(clock_);
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    store_ = engine_->store();
    archive_ = dynamic_cast<LogArchive*>(store_);
    ASSERT_NE(archive_, nullptr);
    flaky_ = std::make_unique<FlakyArchive>(*archive_);
    opts_.jobs_root = worker_jobs_;
    opts_.chunk_bytes = 1000;
    api_ = std::make_unique<LocalJobService>(*store_, nullptr, clock_, "jobs", api_jobs_, nullptr,
                                             archive_);
  }
  void TearDown() override {
    api_.reset();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<LogShipper> NewShipper() {
    return std::make_unique<LogShipper>(opts_, *flaky_, clock_, [this] {
      std::vector<std::string> ids;
      std::error_code ec;
      for (const auto& e : std::filesystem::directory_iterator(worker_jobs_, ec)) {
        ids.push_back(e.path().filename().string());
      }
      return ids;
    });
  }

  std::string NewJob() {
    JobRecord job;
    job.id = NewUuidV4();
    job.spec.image = "busybox";
    job.spec.command = {"true"};
    job.created_at = clock_.Now();
    Status st = store_->SubmitJobAndWait(job, "jobs");
    EXPECT_TRUE(st.ok()) << st.ToString();
    return job.id;
  }

  std::filesystem::path LogOf(const std::string& id) { return JobFiles(worker_jobs_, id).log(); }

  // Appends to the job's local log, as its monitor does.
  void Print(const std::string& id, const std::string& text) {
    std::filesystem::create_directories(LogOf(id).parent_path());
    FILE* f = fopen(LogOf(id).c_str(), "ab");
    ASSERT_NE(f, nullptr);
    fwrite(text.data(), 1, text.size(), f);
    fclose(f);
  }

  // The log as the api node serves it: the whole of it from stream offset 0.
  std::string ApiLog(const std::string& id) {
    std::string out;
    uint64_t at = 0;
    for (;;) {
      auto c = api_->ReadLogFrom(id, at, 64 << 10);
      EXPECT_TRUE(c.ok()) << c.status().ToString();
      if (!c.ok() || c->text.empty()) return out;
      out += c->text;
      at = c->next_offset;
    }
  }

  static std::string Lines(int from, int to) {
    std::string s;
    for (int i = from; i < to; ++i) s += "line " + std::to_string(i) + "\n";
    return s;
  }

  FakeClock clock_;
  std::filesystem::path dir_, worker_jobs_, api_jobs_;
  std::unique_ptr<TestStores> engine_;
  Store* store_ = nullptr;
  LogArchive* archive_ = nullptr;
  std::unique_ptr<FlakyArchive> flaky_;
  LogShipperOptions opts_;
  std::unique_ptr<LocalJobService> api_;
};

TEST_P(LogShipperTest, ShipsNewOutputInChunksAndResumesAfterARestart) {
  std::string id = NewJob();
  Print(id, Lines(0, 300));  // ~2.6 KB: three appends of at most 1000 bytes
  auto shipper = NewShipper();
  shipper->ShipAll();
  EXPECT_EQ(ApiLog(id), Lines(0, 300));
  EXPECT_EQ(flaky_->appends.load(), 3);
  shipper->ShipAll();
  EXPECT_EQ(flaky_->appends.load(), 3) << "an unchanged file ships nothing";
  Print(id, Lines(300, 310));
  shipper->ShipAll();
  EXPECT_EQ(ApiLog(id), Lines(0, 310));
  // A new daemon resumes where the archive ends: nothing repeated, nothing missed.
  shipper = NewShipper();
  Print(id, Lines(310, 320));
  shipper->ShipAll();
  EXPECT_EQ(ApiLog(id), Lines(0, 320));
  auto tail = api_->ReadLog(id, 12);
  ASSERT_TRUE(tail.ok());
  std::string all = Lines(0, 320);
  EXPECT_EQ(tail->text, all.substr(all.size() - 12));
  EXPECT_TRUE(tail->truncated);
}

// A job whose first run was on a node that got lost runs again here (OnFailure): this node has
// no file for it, the archive holds the first run's output. The new run's output must continue
// the stored stream, not overwrite its first bytes or be skipped up to the stored end.
TEST_P(LogShipperTest, ARunAgainOnAnotherNodeContinuesTheStoredLog) {
  std::string id = NewJob();
  ASSERT_TRUE(archive_->AppendLog(id, 0, "first run on a lost node\n", 1 << 20).ok());
  auto shipper = NewShipper();
  ASSERT_TRUE(shipper->ContinueLog(id).ok());
  Print(id, "second run here\n");
  shipper->ShipAll();
  EXPECT_EQ(ApiLog(id), "first run on a lost node\nsecond run here\n");
  // Idempotent, and a no-op for a job that has a local log or no stored output.
  ASSERT_TRUE(shipper->ContinueLog(id).ok());
  Print(id, "more\n");
  shipper->ShipAll();
  EXPECT_EQ(ApiLog(id), "first run on a lost node\nsecond run here\nmore\n");
  std::string fresh = NewJob();
  ASSERT_TRUE(shipper->ContinueLog(fresh).ok());
  EXPECT_FALSE(std::filesystem::exists(LogOf(fresh)));
}

TEST_P(LogShipperTest, ALocalTrimIsShippedAsTheFileSaysIt) {
  std::string id = NewJob();
  Print(id, Lines(0, 10));
  auto shipper = NewShipper();
  shipper->ShipAll();
  uint64_t shipped = Lines(0, 10).size();
  // The monitor trims the file before lines 10..100 were shipped: it keeps lines 60..100 after
  // a header counting everything before them (renamed over the old file, as the monitor does).
  uint64_t dropped = Lines(0, 60).size();
  std::string trimmed = DroppedHeader(static_cast<int64_t>(dropped)) + Lines(60, 100);
  ASSERT_TRUE(WriteFileAtomic(LogOf(id), trimmed).ok());
  shipper->ShipAll();
  EXPECT_EQ(ApiLog(id), trimmed) << "a reader from 0 learns what was dropped, then the rest";
  // A follower that had read what was shipped before resumes with the header, not a repeat.
  auto c = api_->ReadLogFrom(id, shipped, 1 << 20);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->text, trimmed);
  Print(id, Lines(100, 105));
  shipper->ShipAll();
  c = api_->ReadLogFrom(id, dropped + Lines(60, 100).size(), 1 << 20);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->text, Lines(100, 105));
}

TEST_P(LogShipperTest, StoreErrorsAreRetriedOnTheNextPass) {
  std::string id = NewJob();
  Print(id, Lines(0, 50));
  auto shipper = NewShipper();
  flaky_->fail_next = 1;
  shipper->ShipAll();
  EXPECT_EQ(ApiLog(id), "");
  shipper->ShipAll();
  EXPECT_EQ(ApiLog(id), Lines(0, 50));
}

TEST_P(LogShipperTest, AJobWithoutARecordKeepsItsLogLocal) {
  std::string orphan = NewUuidV4();
  Print(orphan, "who am I\n");
  std::string id = NewJob();
  Print(id, "hello\n");
  auto shipper = NewShipper();
  shipper->ShipAll();
  EXPECT_EQ(ApiLog(id), "hello\n");
  int appends = flaky_->appends.load();
  shipper->ShipAll();
  EXPECT_EQ(flaky_->appends.load(), appends) << "the orphan is not tried at every pass";
}

TEST_P(LogShipperTest, StartShipsEveryInterval) {
  SystemClock real;
  opts_.interval = milliseconds(20);
  LogShipper shipper(opts_, *archive_, real, [this] {
    std::vector<std::string> ids;
    for (const auto& e : std::filesystem::directory_iterator(worker_jobs_)) {
      ids.push_back(e.path().filename().string());
    }
    return ids;
  });
  std::string id = NewJob();
  Print(id, "tick\n");
  shipper.Start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ApiLog(id).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  shipper.Stop();
  EXPECT_EQ(ApiLog(id), "tick\n");
}

// The end of a job: its last output, written just before the exit and never seen by a pass, is
// in the archive by the time any node can see the job ended.
TEST_P(LogShipperTest, AJobEndsOnlyOnceItsWholeLogIsShipped) {
  FakeRuntime fake;
  auto shipper = NewShipper();  // never started: only the exit ships
  ShipOnExitRuntime runtime(fake, *shipper);
  DispatcherOptions dopts;
  dopts.idle_poll = milliseconds(20);
  Dispatcher dispatcher(dopts, *store_, runtime, clock_);
  ASSERT_TRUE(dispatcher.Start().ok());
  std::string id = NewJob();
  dispatcher.Wake();
  auto running = [&] {
    auto job = store_->GetJob(id);
    return job.ok() && job->state == JobState::kRunning;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  ASSERT_TRUE(running());
  Print(id, Lines(0, 2000));  // the whole output, then the exit at once
  // A follower on the api node polls as JobApi does: read; when nothing new, look at the state;
  // a terminal state means one more read drains the log.
  std::atomic<bool> stop{false};
  std::string followed;
  std::thread follower([&] {
    uint64_t at = 0;
    bool ended = false;
    while (!stop) {
      auto c = api_->ReadLogFrom(id, at, 4096);
      if (c.ok() && !c->text.empty()) {
        followed += c->text;
        at = c->next_offset;
        continue;
      }
      if (ended) return;
      auto job = api_->Get(id);
      if (job.ok() && IsTerminal(job->state))
        ended = true;
      else
        std::this_thread::sleep_for(milliseconds(1));
    }
  });
  fake.Finish(id, Exited{0});
  follower.join();
  dispatcher.Stop();
  EXPECT_EQ(store_->GetJob(id)->state, JobState::kSucceeded);
  EXPECT_EQ(followed, Lines(0, 2000)) << "the follower got the whole log, once";
}

INSTANTIATE_TEST_SUITE_P(Engines, LogShipperTest, ::testing::Values("Sqlite", "Postgres"),
                         EngineName);

}  // namespace
}  // namespace berth
