// PostgresStore against a real PostgreSQL 15 server (tests/support/postgres_server.h): the Store
// conformance suite, then what only this engine does (schema versions, group commit through a
// pipeline, LISTEN/NOTIFY wake-ups, SKIP LOCKED claims shared by several nodes).
#include "store/postgres_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/random.h"
#include "store/pg_connection.h"
#include "store/postgres_schema.h"
#include "store/store_conformance_test.h"
#include "tests/support/postgres_server.h"

namespace berth {
namespace {

// A fresh database on this test process's server.
Result<std::string> FreshDatabase() {
  ASSIGN_OR_RETURN(PostgresServer * server, PostgresServer::Shared());
  return server->CreateDatabase();
}

class PostgresHarness : public StoreHarness {
 public:
  Result<std::unique_ptr<Store>> Open(Clock& clock) override {
    if (conninfo_.empty()) {
      ASSIGN_OR_RETURN(conninfo_, FreshDatabase());
    }
    ASSIGN_OR_RETURN(std::unique_ptr<PostgresStore> store, PostgresStore::Open(conninfo_, clock));
    return std::unique_ptr<Store>(std::move(store));
  }

 private:
  std::string conninfo_;
};

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformanceTest,
                         ::testing::Values(StoreEngine{
                             "Postgres", [] { return std::make_unique<PostgresHarness>(); }}),
                         StoreEngineName);

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> db = FreshDatabase();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    conninfo_ = *db;
  }
  std::unique_ptr<PostgresStore> OpenStore(PostgresStoreOptions options = {}) {
    Result<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(conninfo_, clock_, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  std::unique_ptr<PgConnection> Raw() {
    Result<std::unique_ptr<PgConnection>> c = PgConnection::Connect(conninfo_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  JobRecord NewJob() {
    JobRecord job;
    job.id = NewUuidV4();
    job.spec.image = "busybox";
    job.created_at = clock_.Now();
    return job;
  }

  std::string conninfo_;
  FakeClock clock_;
};

TEST_F(PostgresStoreTest, CreatesTheSchemaAtTheCurrentVersionAndReopensWithoutMigrating) {
  ASSERT_NE(OpenStore(), nullptr);
  auto raw = Raw();
  ASSERT_NE(raw, nullptr);
  Result<int> version = ReadPostgresSchemaVersion(*raw);
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(*version, kPostgresSchemaVersion);
  // Two nodes starting at once: both open, the schema is made once.
  std::vector<std::future<bool>> opens;
  for (int i = 0; i < 2; ++i) {
    opens.push_back(std::async(std::launch::async, [this] { return OpenStore() != nullptr; }));
  }
  for (auto& f : opens) EXPECT_TRUE(f.get());
  EXPECT_EQ(raw->Exec("count", "SELECT COUNT(*) FROM berth_schema")->Int(0, 0), 1);
}

TEST_F(PostgresStoreTest, RefusesASchemaNewerThanItKnows) {
  ASSERT_NE(OpenStore(), nullptr);
  auto raw = Raw();
  ASSERT_NE(raw, nullptr);
  ASSERT_TRUE(raw->Exec("bump", "UPDATE berth_schema SET version=version+1").ok());
  Result<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(conninfo_, clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("schema is version " +
                                          std::to_string(kPostgresSchemaVersion + 1)),
            std::string::npos)
      << store.status().ToString();
  EXPECT_NE(store.status().message().find("upgrade this node"), std::string::npos);
}

TEST_F(PostgresStoreTest, AnUnreachableServerIsUnavailable) {
  Result<std::unique_ptr<PostgresStore>> store =
      PostgresStore::Open("host=127.0.0.1 port=1 connect_timeout=2 dbname=x", clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status().ToString();
}

TEST_F(PostgresStoreTest, ConcurrentSubmissionsShareCommits) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 8, kPerThread = 25;
  uint64_t before = store->commits();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::vector<std::future<Status>> pending;
      for (int i = 0; i < kPerThread; ++i) {
        auto promise = std::make_shared<std::promise<Status>>();
        pending.push_back(promise->get_future());
        store->SubmitJob(NewJob(), "jobs", [promise](Status st) { promise->set_value(st); });
      }
      for (auto& f : pending) ok += f.get().ok() ? 1 : 0;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  uint64_t commits = store->commits() - before;
  std::cout << "[ figures  ] 200 submissions from 8 threads: " << commits << " commits\n";
  EXPECT_LE(commits, 100u) << "group commit should batch back-to-back submissions";
  EXPECT_EQ(store->PeekMessages("jobs", 1000)->size(), 200u);
}

TEST_F(PostgresStoreTest, ADuplicateInABatchFailsAloneAndTheRestShareOneCommit) {
  PostgresStoreOptions one;
  one.submitters = 1;  // the blocked callback holds the only submitter: the next four pile up
  auto store = OpenStore(one);
  ASSERT_NE(store, nullptr);
  JobRecord first = NewJob();
  first.idempotency_key = "key-1";
  ASSERT_TRUE(store->SubmitJobAndWait(first, "jobs").ok());
  std::promise<void> release, blocked;
  store->SubmitJob(NewJob(), "jobs", [&](Status) {
    blocked.set_value();
    release.get_future().wait();
  });
  blocked.get_future().wait();
  uint64_t commits_before = store->commits();
  JobRecord good1 = NewJob(), dup = NewJob(), same_key = NewJob(), good2 = NewJob();
  dup.id = first.id;
  same_key.idempotency_key = "key-1";
  std::promise<Status> s[4];
  store->SubmitJob(good1, "jobs", [&](Status st) { s[0].set_value(st); });
  store->SubmitJob(dup, "jobs", [&](Status st) { s[1].set_value(st); });
  store->SubmitJob(same_key, "jobs", [&](Status st) { s[2].set_value(st); });
  store->SubmitJob(good2, "jobs", [&](Status st) { s[3].set_value(st); });
  release.set_value();
  Status r[4];
  for (int i = 0; i < 4; ++i) r[i] = s[i].get_future().get();
  EXPECT_TRUE(r[0].ok()) << r[0].ToString();
  EXPECT_EQ(r[1].code(), StatusCode::kAlreadyExists) << r[1].ToString();
  EXPECT_EQ(r[2].code(), StatusCode::kAlreadyExists) << r[2].ToString();
  EXPECT_TRUE(r[3].ok()) << r[3].ToString();
  EXPECT_EQ(store->commits() - commits_before, 1u) << "the four shared one transaction";
  EXPECT_EQ(store->GetJob(same_key.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->PeekMessages("jobs", 100)->size(), 4u) << "first, the blocker, good1, good2";
}

// The dispatcher of one node hears of a job queued by another node.
TEST_F(PostgresStoreTest, ASubmitOnOneNodeWakesTheOthers) {
  auto node_a = OpenStore();
  auto node_b = OpenStore();
  ASSERT_NE(node_a, nullptr);
  ASSERT_NE(node_b, nullptr);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> heard;
  node_b->SetOnQueued([&](const std::string& queue) {
    std::lock_guard<std::mutex> lock(mu);
    heard.push_back(queue);
    cv.notify_all();
  });
  ASSERT_TRUE(node_a->SubmitJobAndWait(NewJob(), "other-queue").ok());
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return !heard.empty(); }))
      << "no wake-up within 10 s";
  EXPECT_EQ(heard.front(), "other-queue");
}

// Several nodes claiming from one queue at once: every message is claimed exactly once.
TEST_F(PostgresStoreTest, NodesClaimingAtOnceNeverShareAMessage) {
  constexpr int kNodes = 4, kJobs = 200;
  std::vector<std::unique_ptr<PostgresStore>> nodes;
  for (int i = 0; i < kNodes; ++i) {
    nodes.push_back(OpenStore());
    ASSERT_NE(nodes.back(), nullptr);
  }
  for (int i = 0; i < kJobs; ++i) ASSERT_TRUE(nodes[0]->SubmitJobAndWait(NewJob(), "jobs").ok());
  std::mutex mu;
  std::multiset<int64_t> claimed;
  std::vector<std::thread> threads;
  for (int n = 0; n < kNodes; ++n) {
    threads.emplace_back([&, n] {
      for (;;) {
        Result<std::vector<QueueMessage>> got =
            nodes[n]->ClaimMessages("jobs", 3, std::chrono::seconds(60));
        ASSERT_TRUE(got.ok()) << got.status().ToString();
        if (got->empty()) return;
        std::lock_guard<std::mutex> lock(mu);
        for (const QueueMessage& m : *got) claimed.insert(m.id);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(std::set<int64_t>(claimed.begin(), claimed.end()).size(), claimed.size())
      << "a message was claimed twice";
}

TEST_F(PostgresStoreTest, SubmitsStillInTheQueueAreCommittedByTheDestructor) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::vector<std::string> ids;
  std::atomic<int> ok{0};
  for (int i = 0; i < 20; ++i) {
    JobRecord job = NewJob();
    ids.push_back(job.id);
    store->SubmitJob(job, "jobs", [&ok](Status st) { ok += st.ok() ? 1 : 0; });
  }
  store.reset();
  EXPECT_EQ(ok.load(), 20);
  auto reopened = OpenStore();
  ASSERT_NE(reopened, nullptr);
  for (const std::string& id : ids) EXPECT_TRUE(reopened->GetJob(id).ok()) << id;
}

}  // namespace
}  // namespace berth
