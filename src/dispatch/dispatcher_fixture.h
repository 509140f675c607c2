// Test fixture shared by the dispatcher's tests: a real SQLite store in a temp dir, a
// FakeRuntime, a FakeClock, and helpers to submit jobs and wait for the dispatcher's threads.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <thread>

#include "common/random.h"
#include "dispatch/dispatcher.h"
#include "runtime/fake_runtime.h"
#include "store/faulty_store.h"
#include "store/sqlite_store.h"

namespace berth {

class DispatcherFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-dispatch-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto store = SqliteStore::Open(dir_ / "berth.db", clock_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    faulty_ = std::make_unique<FaultyStore>(*store_);
    opts_.idle_poll = milliseconds(20);
    opts_.start_backoff = milliseconds(0);  // tests of the back-off set it themselves
  }
  void TearDown() override {
    dispatcher_.reset();
    faulty_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The dispatcher sees the store through `faulty_` (no faults until a test sets a hook).
  void StartDispatcher() {
    dispatcher_ = std::make_unique<Dispatcher>(opts_, *faulty_, runtime_, clock_);
    ASSERT_TRUE(dispatcher_->Start().ok());
  }

  // A spec that runs `true` in `image`.
  static JobSpec Spec(const std::string& image = "busybox") {
    JobSpec s;
    s.image = image;
    s.command = {"true"};
    return s;
  }

  // Queues a job durably and wakes the dispatcher (if it runs); returns its id.
  std::string SubmitSpec(JobSpec spec) {
    JobRecord job;
    job.id = NewUuidV4();
    job.spec = std::move(spec);
    job.created_at = clock_.Now();
    EXPECT_TRUE(store_->SubmitJobAndWait(job, opts_.queue).ok());
    if (dispatcher_) dispatcher_->Wake();
    return job.id;
  }

  // Polls `pred` for up to five seconds (the dispatcher runs on its own threads).
  template <typename Pred>
  bool Eventually(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(milliseconds(2));
    }
    return pred();
  }

  JobRecord Job(const std::string& id) { return store_->GetJob(id).value(); }
  JobState StateOf(const std::string& id) { return Job(id).state; }

  std::filesystem::path dir_;
  FakeClock clock_;
  FakeRuntime runtime_;
  DispatcherOptions opts_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<FaultyStore> faulty_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

}  // namespace berth
