#include "store/store_conformance_test.h"

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/random.h"

namespace berth {
namespace {

// A job with every field set to something that is not its default.
JobRecord FullJob(TimePoint created_at) {
  JobRecord job;
  job.id = NewUuidV4();
  job.spec.image = "docker.io/library/busybox:1.36";
  job.spec.command = {"/bin/sh", "-c", "echo \"hi\"; exit 3"};
  job.spec.env = {{"A", "1"}, {"B_2", "two words"}};
  job.spec.secure_env = {{"TOKEN", "s3cr3t-\u00e9"}};
  job.spec.cpu = 0.5;
  job.spec.memory_gb = 1.25;
  job.spec.restart_policy = RestartPolicy::kOnFailure;
  job.spec.timeout_seconds = 600;
  job.state = JobState::kQueued;
  job.reason = "waiting for a slot";
  job.created_at = created_at;
  job.attempts = 0;
  return job;
}

JobRecord SimpleJob(TimePoint created_at) {
  JobRecord job;
  job.id = NewUuidV4();
  job.spec.image = "busybox";
  job.created_at = created_at;
  return job;
}

void ExpectSameJob(const JobRecord& got, const JobRecord& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.spec.image, want.spec.image);
  EXPECT_EQ(got.spec.command, want.spec.command);
  EXPECT_EQ(got.spec.env, want.spec.env);
  EXPECT_EQ(got.spec.secure_env, want.spec.secure_env);
  EXPECT_EQ(got.spec.cpu, want.spec.cpu);
  EXPECT_EQ(got.spec.memory_gb, want.spec.memory_gb);
  EXPECT_EQ(got.spec.restart_policy, want.spec.restart_policy);
  EXPECT_EQ(got.spec.timeout_seconds, want.spec.timeout_seconds);
  EXPECT_EQ(got.state, want.state);
  EXPECT_EQ(got.exit_code, want.exit_code);
  EXPECT_EQ(got.reason, want.reason);
  EXPECT_EQ(got.created_at, want.created_at);
  EXPECT_EQ(got.started_at, want.started_at);
  EXPECT_EQ(got.finished_at, want.finished_at);
  EXPECT_EQ(got.attempts, want.attempts);
}

JobStatusUpdate Update(JobState state) {
  JobStatusUpdate u;
  u.state = state;
  return u;
}

}  // namespace

void StoreConformanceTest::SetUp() {
  harness_ = GetParam().make_harness();
  ASSERT_NE(harness_, nullptr);
  Result<std::unique_ptr<Store>> store = harness_->Open(clock_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  store_ = std::move(store).value();
}

void StoreConformanceTest::TearDown() {
  store_.reset();
  harness_.reset();
}

void StoreConformanceTest::Reopen() {
  store_.reset();
  Result<std::unique_ptr<Store>> store = harness_->Open(clock_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  store_ = std::move(store).value();
}

JobRecord StoreConformanceTest::Submit(JobRecord job, const std::string& queue) {
  Status st = store_->SubmitJobAndWait(job, queue);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return job;
}

std::vector<QueueMessage> StoreConformanceTest::Claim(int max, milliseconds lease,
                                                      std::string_view queue) {
  Result<std::vector<QueueMessage>> got = store_->ClaimMessages(queue, max, lease);
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  return got.ok() ? *got : std::vector<QueueMessage>{};
}

std::vector<QueueMessage> StoreConformanceTest::Peek(std::string_view queue) {
  Result<std::vector<QueueMessage>> got = store_->PeekMessages(queue, 1000);
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  return got.ok() ? *got : std::vector<QueueMessage>{};
}

JobRecord StoreConformanceTest::Get(std::string_view id) {
  Result<JobRecord> got = store_->GetJob(id);
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  return got.ok() ? *got : JobRecord{};
}

namespace {

TEST_P(StoreConformanceTest, SubmitThenGetRoundTripsEveryField) {
  JobRecord job = Submit(FullJob(clock_.Now()));
  ExpectSameJob(Get(job.id), job);

  // Fields a submission rarely carries still round-trip.
  JobRecord odd = FullJob(clock_.Now() - milliseconds(1234));
  odd.exit_code = -1;
  odd.started_at = clock_.Now() + milliseconds(1);
  odd.finished_at = clock_.Now() + milliseconds(2);
  odd.attempts = 7;
  odd.spec.command.clear();
  odd.spec.secure_env.clear();
  Submit(odd);
  ExpectSameJob(Get(odd.id), odd);
}

TEST_P(StoreConformanceTest, GetUnknownJobIsNotFound) {
  Result<JobRecord> got = store_->GetJob(NewUuidV4());
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetJob("").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetJob("'; DROP TABLE jobs; --").status().code(), StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, SubmitEnqueuesOneVisibleMessage) {
  JobRecord job = Submit(SimpleJob(clock_.Now()));
  std::vector<QueueMessage> msgs = Peek();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].queue, kQueue);
  EXPECT_EQ(msgs[0].job_id, job.id);
  EXPECT_EQ(msgs[0].dequeue_count, 0);
  EXPECT_EQ(msgs[0].pop_receipt, "");
  EXPECT_EQ(msgs[0].inserted_at, clock_.Now());
  EXPECT_EQ(msgs[0].next_visible, clock_.Now());
  EXPECT_TRUE(Peek("other").empty());
}

TEST_P(StoreConformanceTest, SubmitIsDurableAcrossReopen) {
  JobRecord job = Submit(FullJob(clock_.Now()));
  Reopen();
  ExpectSameJob(Get(job.id), job);
  std::vector<QueueMessage> msgs = Claim(10);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].job_id, job.id);
}

TEST_P(StoreConformanceTest, ClaimHidesMessageUntilLeaseExpires) {
  JobRecord job = Submit(SimpleJob(clock_.Now()));
  std::vector<QueueMessage> first = Claim(10, milliseconds(10'000));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].job_id, job.id);
  EXPECT_EQ(first[0].dequeue_count, 1);
  EXPECT_FALSE(first[0].pop_receipt.empty());
  EXPECT_EQ(first[0].next_visible, clock_.Now() + milliseconds(10'000));

  EXPECT_TRUE(Claim(10).empty());
  clock_.Advance(milliseconds(9'999));
  EXPECT_TRUE(Claim(10).empty());
  clock_.Advance(milliseconds(1));
  std::vector<QueueMessage> second = Claim(10);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].id, first[0].id);
  EXPECT_EQ(second[0].dequeue_count, 2);
  EXPECT_NE(second[0].pop_receipt, first[0].pop_receipt);
  EXPECT_EQ(Peek()[0].dequeue_count, 2);
}

TEST_P(StoreConformanceTest, ClaimRespectsMaxAndFifoOrder) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Submit(SimpleJob(clock_.Now())).id);
    clock_.Advance(milliseconds(1));
  }
  std::vector<QueueMessage> a = Claim(2);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].job_id, ids[0]);
  EXPECT_EQ(a[1].job_id, ids[1]);
  std::vector<QueueMessage> b = Claim(2);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].job_id, ids[2]);
  EXPECT_EQ(b[1].job_id, ids[3]);
  EXPECT_TRUE(Claim(0).empty());
  std::vector<QueueMessage> c = Claim(2);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].job_id, ids[4]);
}

TEST_P(StoreConformanceTest, ClaimOnlyTakesItsOwnQueue) {
  JobRecord a = Submit(SimpleJob(clock_.Now()), "a");
  JobRecord b = Submit(SimpleJob(clock_.Now()), "b");
  std::vector<QueueMessage> got = Claim(10, kLease, "b");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].job_id, b.id);
  EXPECT_EQ(got[0].queue, "b");
  EXPECT_TRUE(Claim(10, kLease, "nope").empty());
  ASSERT_EQ(Claim(10, kLease, "a").size(), 1u);
}

TEST_P(StoreConformanceTest, ClaimRejectsBadArguments) {
  Submit(SimpleJob(clock_.Now()));
  EXPECT_EQ(store_->ClaimMessages(kQueue, -1, kLease).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ClaimMessages(kQueue, 1, milliseconds(0)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Claim(1).size(), 1u);  // nothing was claimed by the rejected calls
}

TEST_P(StoreConformanceTest, DeleteRemovesTheMessage) {
  Submit(SimpleJob(clock_.Now()));
  std::vector<QueueMessage> got = Claim(1);
  ASSERT_EQ(got.size(), 1u);
  Status st = store_->DeleteMessage(got[0]);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(Peek().empty());
  clock_.Advance(kLease * 2);
  EXPECT_TRUE(Claim(1).empty());
  EXPECT_EQ(store_->DeleteMessage(got[0]).code(), StatusCode::kFailedPrecondition);
}

TEST_P(StoreConformanceTest, DeleteWithStaleReceiptFails) {
  JobRecord job = Submit(SimpleJob(clock_.Now()));
  std::vector<QueueMessage> mine = Claim(1);
  ASSERT_EQ(mine.size(), 1u);
  clock_.Advance(kLease);  // my lease runs out; another worker claims the message
  std::vector<QueueMessage> theirs = Claim(1);
  ASSERT_EQ(theirs.size(), 1u);

  EXPECT_EQ(store_->DeleteMessage(mine[0]).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->RenewLease(mine[0], kLease).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->ReleaseMessage(mine[0], milliseconds(0)).code(),
            StatusCode::kFailedPrecondition);
  ASSERT_EQ(Peek().size(), 1u);  // still there, still theirs
  EXPECT_EQ(Peek()[0].pop_receipt, theirs[0].pop_receipt);

  Status st = store_->DeleteMessage(theirs[0]);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(Peek().empty());
  EXPECT_EQ(Get(job.id).state, JobState::kQueued);  // message operations never touch the job
}

TEST_P(StoreConformanceTest, ReleaseMakesVisibleAfterDelay) {
  Submit(SimpleJob(clock_.Now()));
  std::vector<QueueMessage> got = Claim(1);
  ASSERT_EQ(got.size(), 1u);
  Status st = store_->ReleaseMessage(got[0], milliseconds(5'000));
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(store_->DeleteMessage(got[0]).code(), StatusCode::kFailedPrecondition)
      << "a released message's receipt is stale";

  clock_.Advance(milliseconds(4'999));
  EXPECT_TRUE(Claim(1).empty());
  clock_.Advance(milliseconds(1));
  std::vector<QueueMessage> again = Claim(1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, got[0].id);
  EXPECT_EQ(again[0].dequeue_count, 2);  // the release kept it at 1; this claim counts one more
}

TEST_P(StoreConformanceTest, ReleaseWithoutDelayIsVisibleAtOnce) {
  Submit(SimpleJob(clock_.Now()));
  std::vector<QueueMessage> got = Claim(1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(store_->ReleaseMessage(got[0], milliseconds(0)).ok());
  EXPECT_EQ(Peek()[0].dequeue_count, 1);
  EXPECT_EQ(Claim(1).size(), 1u);
}

TEST_P(StoreConformanceTest, RenewLeaseExtendsVisibility) {
  Submit(SimpleJob(clock_.Now()));
  std::vector<QueueMessage> got = Claim(1, milliseconds(10'000));
  ASSERT_EQ(got.size(), 1u);
  clock_.Advance(milliseconds(8'000));
  Status st = store_->RenewLease(got[0], milliseconds(10'000));
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Peek()[0].next_visible, clock_.Now() + milliseconds(10'000));

  clock_.Advance(milliseconds(8'000));  // past the first lease, inside the renewed one
  EXPECT_TRUE(Claim(1).empty());
  clock_.Advance(milliseconds(2'000));
  std::vector<QueueMessage> again = Claim(1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].dequeue_count, 2);  // renewing does not count a dequeue
}

TEST_P(StoreConformanceTest, PoisonMovesMessageAndFailsJobTogether) {
  JobRecord job = Submit(SimpleJob(clock_.Now()));
  std::vector<QueueMessage> got = Claim(1, milliseconds(1'000));
  ASSERT_EQ(got.size(), 1u);
  clock_.Advance(milliseconds(100));
  JobStatusUpdate failed = Update(JobState::kFailed);
  failed.reason = "dequeued 5 times";
  failed.finished_at = clock_.Now();
  failed.attempts = 1;
  Status st = store_->PoisonMessage(got[0], kPoison, failed);
  ASSERT_TRUE(st.ok()) << st.ToString();

  EXPECT_TRUE(Peek(kQueue).empty());
  clock_.Advance(kLease * 10);
  EXPECT_TRUE(Claim(10).empty()) << "the source queue never yields a poisoned message";
  std::vector<QueueMessage> poison = Peek(kPoison);
  ASSERT_EQ(poison.size(), 1u);
  EXPECT_EQ(poison[0].id, got[0].id);
  EXPECT_EQ(poison[0].job_id, job.id);
  EXPECT_EQ(poison[0].queue, kPoison);
  EXPECT_EQ(poison[0].dequeue_count, 1);
  EXPECT_EQ(poison[0].pop_receipt, "");
  EXPECT_EQ(store_->DeleteMessage(got[0]).code(), StatusCode::kFailedPrecondition);

  JobRecord now = Get(job.id);
  EXPECT_EQ(now.state, JobState::kFailed);
  EXPECT_EQ(now.reason, "dequeued 5 times");
  EXPECT_EQ(now.finished_at, failed.finished_at);
  EXPECT_EQ(now.attempts, 1);
}

TEST_P(StoreConformanceTest, PoisonWithStaleReceiptChangesNothing) {
  JobRecord job = Submit(SimpleJob(clock_.Now()));
  std::vector<QueueMessage> mine = Claim(1);
  clock_.Advance(kLease);
  std::vector<QueueMessage> theirs = Claim(1);
  ASSERT_EQ(mine.size(), 1u);
  ASSERT_EQ(theirs.size(), 1u);
  EXPECT_EQ(store_->PoisonMessage(mine[0], kPoison, Update(JobState::kFailed)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Peek(kPoison).empty());
  EXPECT_EQ(Peek(kQueue).size(), 1u);
  EXPECT_EQ(Get(job.id).state, JobState::kQueued);
}

TEST_P(StoreConformanceTest, PoisonOfTerminalJobChangesNothing) {
  JobRecord job = Submit(SimpleJob(clock_.Now()));
  std::vector<QueueMessage> got = Claim(1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, Update(JobState::kCanceled)).ok());
  EXPECT_EQ(store_->PoisonMessage(got[0], kPoison, Update(JobState::kFailed)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Peek(kPoison).empty()) << "the message move is rolled back with the job update";
  EXPECT_EQ(Get(job.id).state, JobState::kCanceled);
  EXPECT_TRUE(store_->DeleteMessage(got[0]).ok()) << "the receipt is still good";
}

TEST_P(StoreConformanceTest, UpdateJobStatusSetsFieldsAndKeepsUnsetTimes) {
  JobRecord job = Submit(SimpleJob(clock_.Now()));
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, Update(JobState::kPending)).ok());
  JobStatusUpdate running = Update(JobState::kRunning);
  running.started_at = clock_.Now() + milliseconds(5);
  running.attempts = 1;
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, running).ok());
  JobRecord got = Get(job.id);
  EXPECT_EQ(got.state, JobState::kRunning);
  EXPECT_EQ(got.started_at, running.started_at);
  EXPECT_EQ(got.attempts, 1);

  JobStatusUpdate done = Update(JobState::kSucceeded);
  done.exit_code = 0;
  done.finished_at = clock_.Now() + milliseconds(9);
  done.reason = "exited";
  done.attempts = 1;
  ASSERT_TRUE(store_->UpdateJobStatus(job.id, done).ok());
  got = Get(job.id);
  EXPECT_EQ(got.state, JobState::kSucceeded);
  EXPECT_EQ(got.exit_code, 0);
  EXPECT_EQ(got.reason, "exited");
  EXPECT_EQ(got.finished_at, done.finished_at);
  EXPECT_EQ(got.started_at, running.started_at) << "an unset optional keeps the stored value";
  EXPECT_EQ(got.created_at, job.created_at);
  EXPECT_EQ(got.spec.image, job.spec.image);
}

TEST_P(StoreConformanceTest, UpdateJobStatusRefusesToLeaveTerminalState) {
  for (JobState terminal : {JobState::kSucceeded, JobState::kFailed, JobState::kCanceled}) {
    JobRecord job = Submit(SimpleJob(clock_.Now()));
    JobStatusUpdate end = Update(terminal);
    end.reason = "the end";
    ASSERT_TRUE(store_->UpdateJobStatus(job.id, end).ok());
    for (JobState next : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded,
                          JobState::kFailed, JobState::kCanceled}) {
      JobStatusUpdate u = Update(next);
      u.reason = "again";
      EXPECT_EQ(store_->UpdateJobStatus(job.id, u).code(), StatusCode::kFailedPrecondition)
          << ToString(terminal) << " -> " << ToString(next);
    }
    JobRecord got = Get(job.id);
    EXPECT_EQ(got.state, terminal);
    EXPECT_EQ(got.reason, "the end");
  }
}

TEST_P(StoreConformanceTest, UpdateUnknownJobIsNotFound) {
  EXPECT_EQ(store_->UpdateJobStatus(NewUuidV4(), Update(JobState::kRunning)).code(),
            StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, NextVisibleAt) {
  Result<std::optional<TimePoint>> next = store_->NextVisibleAt(kQueue);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_FALSE(next->has_value());

  TimePoint t0 = clock_.Now();
  Submit(SimpleJob(t0));
  EXPECT_EQ(*store_->NextVisibleAt(kQueue), t0);

  std::vector<QueueMessage> got = Claim(1, milliseconds(7'000));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(*store_->NextVisibleAt(kQueue), t0 + milliseconds(7'000));

  clock_.Advance(milliseconds(1'000));
  Submit(SimpleJob(clock_.Now()));  // visible at once: now the earliest
  EXPECT_EQ(*store_->NextVisibleAt(kQueue), t0 + milliseconds(1'000));
  EXPECT_FALSE(store_->NextVisibleAt("other")->has_value());
}

TEST_P(StoreConformanceTest, ListJobsByStateNewestFirstWithLimit) {
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(Submit(SimpleJob(clock_.Now())).id);  // same instant
  for (int i : {1, 4}) {
    ASSERT_TRUE(store_->UpdateJobStatus(ids[i], Update(JobState::kPending)).ok());
    ASSERT_TRUE(store_->UpdateJobStatus(ids[i], Update(JobState::kRunning)).ok());
  }
  ASSERT_TRUE(store_->UpdateJobStatus(ids[3], Update(JobState::kFailed)).ok());

  auto list = [&](std::vector<JobState> states, int limit) {
    std::vector<std::string> out;
    Result<std::vector<JobRecord>> got = store_->ListJobs(states, limit);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (got.ok()) {
      for (const JobRecord& j : *got) out.push_back(j.id);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(list({JobState::kQueued}, 10), (V{ids[5], ids[2], ids[0]}));
  EXPECT_EQ(list({JobState::kQueued}, 2), (V{ids[5], ids[2]}));
  EXPECT_EQ(list({JobState::kRunning, JobState::kFailed}, 10), (V{ids[4], ids[3], ids[1]}));
  EXPECT_EQ(list({JobState::kSucceeded}, 10), V{});
  EXPECT_EQ(list({}, 4), (V{ids[5], ids[4], ids[3], ids[2]})) << "no states: every state";
  EXPECT_EQ(list({JobState::kQueued}, 0), V{});
  EXPECT_EQ(store_->ListJobs({JobState::kQueued}, -1).status().code(),
            StatusCode::kInvalidArgument);
}

// A listing reads what a list shows of each spec, not the spec: 1,000 listed jobs of 1 MiB
// specs must not cost a GiB (issue 10). The job itself keeps its whole spec.
TEST_P(StoreConformanceTest, ListJobSummariesCarryWhatAListShowsNotTheSpec) {
  JobRecord big = SimpleJob(clock_.Now());
  big.spec.image = "registry.example/big:1";
  big.spec.command = {"/bin/sh", "-c", std::string(200'000, 'x')};
  big.spec.env = {{"A", std::string(100'000, 'a')}};
  big.spec.secure_env = {{"TOKEN", "s3cret"}};
  big.spec.callback_url = "https://hooks.example/done";
  big.spec.count = 3;
  big.spec.parallelism = 2;
  big.spec.completion_policy = CompletionPolicy::kAny;
  big.spec.timeout_seconds = 77;
  Submit(big);  // an array: its 3 children are listed too
  Submit(SimpleJob(clock_.Now()));

  Result<std::vector<JobRecord>> listed = store_->ListJobSummaries({}, 10, INT64_MAX);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 5u);
  auto it = std::find_if(listed->begin(), listed->end(),
                         [&](const JobRecord& j) { return j.id == big.id; });
  ASSERT_NE(it, listed->end());
  const JobRecord& got = *it;
  EXPECT_EQ(got.state, JobState::kQueued);
  EXPECT_EQ(got.created_at, big.created_at);
  EXPECT_EQ(got.seq, Get(big.id).seq);
  EXPECT_EQ(got.spec.image, "registry.example/big:1");
  EXPECT_EQ(got.spec.callback_url, "https://hooks.example/done");
  EXPECT_EQ(got.spec.count, 3);
  EXPECT_EQ(got.spec.parallelism, 2);
  EXPECT_EQ(got.spec.completion_policy, CompletionPolicy::kAny);
  EXPECT_TRUE(got.spec.command.empty()) << "the command stays in the store";
  EXPECT_TRUE(got.spec.env.empty());
  EXPECT_TRUE(got.spec.secure_env.empty());
  EXPECT_EQ(got.spec.timeout_seconds, JobSpec{}.timeout_seconds);

  EXPECT_EQ(Get(big.id).spec.command, big.spec.command) << "the job keeps its whole spec";
  auto page = store_->ListJobSummaries({JobState::kQueued}, 1, got.seq + 1);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, big.id) << "pages by seq like ListJobsPage";
  EXPECT_EQ(store_->ListJobSummaries({}, -1, INT64_MAX).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(StoreConformanceTest, ConcurrentSubmissionsAllSucceedAndAreReadable) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::future<Status>> results;
      for (int i = 0; i < kPerThread; ++i) {
        JobRecord job = SimpleJob(clock_.Now());
        ids[t].push_back(job.id);
        auto promise = std::make_shared<std::promise<Status>>();
        results.push_back(promise->get_future());
        store_->SubmitJob(job, kQueue, [promise](Status st) { promise->set_value(st); });
      }
      for (auto& r : results) {
        Status st = r.get();
        EXPECT_TRUE(st.ok()) << st.ToString();
        if (st.ok()) ok.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);

  std::set<std::string> queued;
  for (const QueueMessage& m : Peek()) queued.insert(m.job_id);
  EXPECT_EQ(queued.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& per_thread : ids) {
    for (const std::string& id : per_thread) {
      EXPECT_TRUE(store_->GetJob(id).ok()) << id;
      EXPECT_EQ(queued.count(id), 1u) << id;
    }
  }
}

TEST_P(StoreConformanceTest, DuplicateSubmissionFailsAloneAndLaterOnesSucceed) {
  JobRecord first = Submit(SimpleJob(clock_.Now()));

  // Submitted back to back, so an engine that batches is likely to commit them together.
  JobRecord before = SimpleJob(clock_.Now());
  JobRecord dup = FullJob(clock_.Now());
  dup.id = first.id;
  JobRecord after = SimpleJob(clock_.Now());
  std::promise<Status> p1, p2, p3;
  store_->SubmitJob(before, kQueue, [&p1](Status st) { p1.set_value(st); });
  store_->SubmitJob(dup, kQueue, [&p2](Status st) { p2.set_value(st); });
  store_->SubmitJob(after, kQueue, [&p3](Status st) { p3.set_value(st); });
  Status s1 = p1.get_future().get(), s2 = p2.get_future().get(), s3 = p3.get_future().get();

  EXPECT_TRUE(s1.ok()) << s1.ToString();
  EXPECT_EQ(s2.code(), StatusCode::kAlreadyExists) << s2.ToString();
  EXPECT_TRUE(s3.ok()) << s3.ToString();
  ExpectSameJob(Get(first.id), first);  // the duplicate did not overwrite the original
  EXPECT_EQ(Peek().size(), 3u);         // first, before, after: no message for the duplicate

  JobRecord later = Submit(SimpleJob(clock_.Now()));
  EXPECT_EQ(Get(later.id).id, later.id);
  EXPECT_EQ(Peek().size(), 4u);
}

TEST_P(StoreConformanceTest, SubmitRejectsEmptyIdOrQueue) {
  JobRecord no_id = SimpleJob(clock_.Now());
  no_id.id = "";
  EXPECT_EQ(store_->SubmitJobAndWait(no_id, kQueue).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->SubmitJobAndWait(SimpleJob(clock_.Now()), "").code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(Peek().empty());
  Submit(SimpleJob(clock_.Now()));
  EXPECT_EQ(Peek().size(), 1u);
}

}  // namespace

}  // namespace berth
