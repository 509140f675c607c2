#include "azure/azure_queue_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "azure/fake_queue_service.h"
#include "common/random.h"
#include "store/sqlite_store.h"

namespace berth {
namespace {

using std::chrono::seconds;

class AzureQueueStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-azure-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto opened = SqliteStore::Open(dir_ / "berth.db", clock_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    inner_ = std::move(opened).value();
    Make(MessageEncoding::kBase64);
  }
  void TearDown() override {
    store_.reset();
    inner_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Make(MessageEncoding encoding) {
    AzureQueueStoreOptions opts;
    opts.encoding = encoding;
    opts.check_spec = [](const JobSpec& spec) {
      return spec.network == NetworkMode::kHost ? Status::InvalidArgument("no host network")
                                                : Status::Ok();
    };
    store_ = std::make_unique<AzureQueueStore>(opts, *inner_, azure_, clock_);
  }

  std::string Submit() {
    JobRecord job;
    job.id = NewUuidV4();
    job.spec.image = "busybox";
    job.created_at = clock_.Now();
    EXPECT_TRUE(store_->SubmitJobAndWait(job, "jobs").ok());
    return job.id;
  }

  std::vector<QueueMessage> Claim(int max = 16) {
    auto c = store_->ClaimMessages("jobs", max, milliseconds(30'000));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : std::vector<QueueMessage>{};
  }

  std::vector<std::string> Texts(const std::string& queue) {
    std::vector<std::string> out;
    for (const AzureMessage& m : azure_.All(queue)) out.push_back(m.text);
    return out;
  }

  FakeClock clock_;
  FakeQueueService azure_{clock_};
  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> inner_;
  std::unique_ptr<AzureQueueStore> store_;
};

TEST_F(AzureQueueStoreTest, RelayMovesTheOutboxToAzureOnlyOnceAcknowledged) {
  std::string id = Submit();
  // Azure unreachable: the job stays in the local outbox.
  azure_.set_down(true);
  auto failed = store_->RelayOnce();
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  auto outbox = inner_->PeekMessages("jobs", 10);
  ASSERT_TRUE(outbox.ok());
  ASSERT_EQ(outbox->size(), 1u);
  EXPECT_EQ((*outbox)[0].job_id, id);
  EXPECT_TRUE(azure_.All("jobs").empty());

  azure_.set_down(false);
  auto relayed = store_->RelayOnce();
  ASSERT_TRUE(relayed.ok()) << relayed.status().ToString();
  EXPECT_EQ(*relayed, 1);
  EXPECT_THAT(Texts("jobs"), ::testing::ElementsAre(azure::Base64Encode(id)));
  EXPECT_TRUE(inner_->PeekMessages("jobs", 10)->empty());
}

TEST_F(AzureQueueStoreTest, ARetrysDelayedMessageWaitsInTheOutboxUntilVisible) {
  std::string id = Submit();
  ASSERT_TRUE(store_->RelayOnce().ok());
  std::vector<QueueMessage> claimed = Claim();
  ASSERT_EQ(claimed.size(), 1u);
  JobStatusUpdate pending{JobState::kPending, std::nullopt, "", std::nullopt, std::nullopt, 1};
  ASSERT_TRUE(store_->UpdateJobStatus(id, pending).ok());
  JobStatusUpdate queued{JobState::kQueued, std::nullopt, "retry", std::nullopt, std::nullopt, 1};
  ASSERT_TRUE(store_->RequeueJob(id, "jobs", milliseconds(5000), queued).ok());
  ASSERT_TRUE(store_->DeleteMessage(claimed[0]).ok());
  EXPECT_EQ(*store_->RelayOnce(), 0);
  EXPECT_TRUE(azure_.All("jobs").empty());
  clock_.Advance(milliseconds(5000));
  EXPECT_EQ(*store_->RelayOnce(), 1);
  EXPECT_EQ(azure_.All("jobs").size(), 1u);
}

TEST_F(AzureQueueStoreTest, ClaimRenewDeleteFollowTheCurrentPopReceipt) {
  std::string id = Submit();
  ASSERT_TRUE(store_->RelayOnce().ok());
  std::vector<QueueMessage> claimed = Claim();
  ASSERT_EQ(claimed.size(), 1u);
  const QueueMessage& msg = claimed[0];
  EXPECT_EQ(msg.job_id, id);
  EXPECT_EQ(msg.dequeue_count, 1);
  EXPECT_TRUE(Claim().empty()) << "invisible while claimed";
  // Each renewal gets a new receipt from Azure; the dispatcher keeps the first one.
  ASSERT_TRUE(store_->RenewLease(msg, milliseconds(30'000)).ok());
  ASSERT_TRUE(store_->RenewLease(msg, milliseconds(30'000)).ok());
  EXPECT_NE(azure_.All("jobs")[0].pop_receipt, msg.pop_receipt);
  ASSERT_TRUE(store_->DeleteMessage(msg).ok());
  EXPECT_TRUE(azure_.All("jobs").empty());
  EXPECT_EQ(store_->DeleteMessage(msg).code(), StatusCode::kFailedPrecondition);
}

TEST_F(AzureQueueStoreTest, ReleasedMessageComesBackWithItsDequeueCount) {
  Submit();
  ASSERT_TRUE(store_->RelayOnce().ok());
  std::vector<QueueMessage> first = Claim();
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(store_->ReleaseMessage(first[0], milliseconds(2000)).ok());
  EXPECT_TRUE(Claim().empty());
  clock_.Advance(milliseconds(2000));
  std::vector<QueueMessage> second = Claim();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].dequeue_count, 2);
  EXPECT_NE(second[0].id, first[0].id);
}

TEST_F(AzureQueueStoreTest, LostLeaseIsFailedPrecondition) {
  Submit();
  ASSERT_TRUE(store_->RelayOnce().ok());
  std::vector<QueueMessage> first = Claim();
  ASSERT_EQ(first.size(), 1u);
  clock_.Advance(milliseconds(30'000));
  std::vector<QueueMessage> second = Claim();  // someone else's claim now
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(store_->RenewLease(first[0], milliseconds(1000)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store_->DeleteMessage(second[0]).ok());
}

TEST_F(AzureQueueStoreTest, RecordRunningMovesTheJobThenDeletesTheAzureMessage) {
  std::string id = Submit();
  ASSERT_TRUE(store_->RelayOnce().ok());
  std::vector<QueueMessage> claimed = Claim();
  ASSERT_EQ(claimed.size(), 1u);
  JobStatusUpdate pending{JobState::kPending, std::nullopt, "", std::nullopt, std::nullopt, 1};
  ASSERT_TRUE(store_->UpdateJobStatus(id, pending).ok());
  JobStatusUpdate running{JobState::kRunning, std::nullopt, "", clock_.Now(), std::nullopt, 1};
  ASSERT_TRUE(store_->RecordRunning(claimed[0], running).ok());
  EXPECT_EQ(store_->GetJob(id)->state, JobState::kRunning);
  EXPECT_TRUE(azure_.All("jobs").empty());
  // A Queued job cannot jump to Running: refused, and the message stays.
  std::string other = Submit();
  ASSERT_TRUE(store_->RelayOnce().ok());
  std::vector<QueueMessage> again = Claim();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(store_->RecordRunning(again[0], running).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetJob(other)->state, JobState::kQueued);
  EXPECT_EQ(azure_.All("jobs").size(), 1u);
}

TEST_F(AzureQueueStoreTest, PoisonMessageCopiesToThePoisonQueueAndFailsTheJob) {
  std::string id = Submit();
  ASSERT_TRUE(store_->RelayOnce().ok());
  std::vector<QueueMessage> claimed = Claim();
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(store_->RenewLease(claimed[0], milliseconds(30'000)).ok());
  JobStatusUpdate failed{JobState::kFailed, std::nullopt, "Poison", std::nullopt, clock_.Now(), 1};
  ASSERT_TRUE(store_->PoisonMessage(claimed[0], "jobs-poison", failed).ok());
  EXPECT_TRUE(azure_.All("jobs").empty());
  EXPECT_THAT(Texts("jobs-poison"), ::testing::ElementsAre(azure::Base64Encode(id)));
  EXPECT_EQ(store_->GetJob(id)->state, JobState::kFailed);
  auto peeked = store_->PeekMessages("jobs-poison", 10);
  ASSERT_TRUE(peeked.ok());
  ASSERT_EQ(peeked->size(), 1u);
  EXPECT_EQ((*peeked)[0].job_id, id);
}

TEST_F(AzureQueueStoreTest, SpecMessageMakesOneJobWithoutARelayMessage) {
  ASSERT_TRUE(azure_.CreateQueue("jobs").ok());
  ASSERT_TRUE(azure_
                  .PutMessage("jobs",
                              azure::Base64Encode(R"({"image":"busybox","command":"true"})"),
                              seconds(0))
                  .ok());
  std::vector<QueueMessage> first = Claim();
  ASSERT_EQ(first.size(), 1u);
  auto job = store_->GetJob(first[0].job_id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->spec.command, (std::vector<std::string>{"/bin/sh", "-c", "true"}));
  EXPECT_EQ(job->idempotency_key, "azure-queue:jobs:" + azure_.All("jobs")[0].id);
  // Its local message is not relayed (the Azure message is the job's message).
  EXPECT_EQ(*store_->RelayOnce(), 0);
  EXPECT_EQ(azure_.All("jobs").size(), 1u);
  EXPECT_TRUE(inner_->PeekMessages(store_->InboxQueue(), 10)->empty());
  // Delivered again (the lease ran out): the same job.
  clock_.Advance(milliseconds(30'000));
  std::vector<QueueMessage> second = Claim();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].job_id, first[0].job_id);
  EXPECT_EQ(second[0].dequeue_count, 2);
  EXPECT_EQ(inner_->ListJobs({}, 10)->size(), 1u);
}

TEST_F(AzureQueueStoreTest, UnrunnableMessagesGoToThePoisonQueueAndAreNotHandedOut) {
  ASSERT_TRUE(azure_.CreateQueue("jobs").ok());
  std::vector<std::string> bad = {
      azure::Base64Encode("hello"),
      azure::Base64Encode(NewUuidV4()),                                // no such job
      azure::Base64Encode(R"({"image":"busybox","cpu":"x"})"),         // invalid spec
      azure::Base64Encode(R"({"image":"busybox","network":"host"})"),  // refused by policy
      "not-base64!",
  };
  for (const std::string& t : bad) ASSERT_TRUE(azure_.PutMessage("jobs", t, seconds(0)).ok());
  EXPECT_TRUE(Claim().empty());
  EXPECT_TRUE(azure_.All("jobs").empty());
  EXPECT_EQ(Texts("jobs-poison"), bad);
  EXPECT_TRUE(inner_->ListJobs({}, 10)->empty());
}

// An array's parent never runs: its message is done once the array is stored, and the children
// go through the outbox like any submitted job.
TEST_F(AzureQueueStoreTest, ArraySpecMessageStoresTheArrayAndRelaysItsChildren) {
  ASSERT_TRUE(azure_.CreateQueue("jobs").ok());
  ASSERT_TRUE(
      azure_.PutMessage("jobs", azure::Base64Encode(R"({"image":"busybox","count":2})"), seconds(0))
          .ok());
  EXPECT_TRUE(Claim().empty());
  EXPECT_TRUE(azure_.All("jobs").empty());
  EXPECT_EQ(inner_->ListJobs({}, 10)->size(), 3u);
  EXPECT_EQ(*store_->RelayOnce(), 2);
  std::vector<QueueMessage> children = Claim();
  ASSERT_EQ(children.size(), 2u);
  for (const QueueMessage& c : children) EXPECT_FALSE(store_->GetJob(c.job_id)->parent_id.empty());
}

TEST_F(AzureQueueStoreTest, PlainTextEncoding) {
  Make(MessageEncoding::kNone);
  std::string id = Submit();
  ASSERT_TRUE(store_->RelayOnce().ok());
  EXPECT_THAT(Texts("jobs"), ::testing::ElementsAre(id));
  ASSERT_TRUE(azure_.PutMessage("jobs", R"({"image":"busybox"})", seconds(0)).ok());
  std::vector<QueueMessage> claimed = Claim();
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].job_id, id);
  EXPECT_NE(claimed[1].job_id, id);
}

TEST_F(AzureQueueStoreTest, AzureDownFailsClaimsWithoutTouchingJobs) {
  azure_.set_down(true);
  auto c = store_->ClaimMessages("jobs", 16, milliseconds(1000));
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
  // Other queues are the inner store's.
  EXPECT_TRUE(store_->ClaimMessages("elsewhere", 16, milliseconds(1000)).ok());
}

TEST_F(AzureQueueStoreTest, BatchIsAtMostSixteen) {
  ASSERT_TRUE(azure_.CreateQueue("jobs").ok());
  for (int i = 0; i < 20; ++i) Submit();
  ASSERT_EQ(*store_->RelayOnce(), 20);
  EXPECT_EQ(Claim(64).size(), 16u);
  EXPECT_EQ(Claim(64).size(), 4u);
}

}  // namespace
}  // namespace berth
