#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <iterator>
#include <mutex>
#include <thread>
#include <vector>

#include "common/random.h"
#include "store/store_conformance_test.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/berth-store-test-XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class SqliteHarness : public StoreHarness {
 public:
  Result<std::unique_ptr<Store>> Open(Clock& clock) override {
    if (dir_.path().empty()) return Status::IoError("mkdtemp failed");
    ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> store,
                     SqliteStore::Open(dir_.path() / "berth.db", clock));
    return std::unique_ptr<Store>(std::move(store));
  }

 private:
  TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
                         ::testing::Values(StoreEngine{
                             "Sqlite", [] { return std::make_unique<SqliteHarness>(); }}),
                         StoreEngineName);

// Runs one SQL statement on its own connection (to inspect or disturb the file from outside).
class RawDb {
 public:
  explicit RawDb(const fs::path& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK); }
  ~RawDb() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << sql << ": " << (err ? err : "");
    sqlite3_free(err);
  }
  std::string QueryText(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    std::string out;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed"; }

  std::unique_ptr<SqliteStore> OpenStore(SqliteStoreOptions options = {}) {
    Result<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(db_path(), clock_, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  fs::path db_path() const { return dir_.path() / "berth.db"; }
  JobRecord NewJob() {
    JobRecord job;
    job.id = NewUuidV4();
    job.spec.image = "busybox";
    job.spec.secure_env = {{"PASSWORD", "hunter2"}};
    job.created_at = clock_.Now();
    return job;
  }

  TempDir dir_;
  FakeClock clock_;
};

// The commits in the WAL file at `db` + "-wal": its frames that end a transaction (a frame
// header's second field, the database size after the commit, is non-zero), counted from the
// start of the file while their salt matches the WAL header's (https://sqlite.org/fileformat.html).
int WalCommits(const fs::path& db) {
  std::ifstream in(db.string() + "-wal", std::ios::binary);
  std::string wal((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(wal[at + i]);
    return v;
  };
  if (wal.size() < 32) return 0;
  size_t page = be32(8);
  int commits = 0;
  for (size_t at = 32; at + 24 + page <= wal.size(); at += 24 + page) {
    if (wal.compare(at + 8, 8, wal, 16, 8) != 0) break;  // a frame of an earlier WAL generation
    if (be32(at + 4) != 0) ++commits;
  }
  return commits;
}

// Submits kThreads * kPerThread jobs, without waiting between them when `async`, else each
// thread waits for its commit before the next submission. Returns the commits used.
uint64_t SubmitConcurrently(SqliteStore& store, Clock& clock, bool async) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  uint64_t before = store.commits();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::vector<std::future<Status>> pending;
      for (int i = 0; i < kPerThread; ++i) {
        JobRecord job;
        job.id = NewUuidV4();
        job.spec.image = "busybox";
        job.created_at = clock.Now();
        auto promise = std::make_shared<std::promise<Status>>();
        pending.push_back(promise->get_future());
        store.SubmitJob(job, "jobs", [promise](Status st) { promise->set_value(st); });
        if (!async) pending.back().wait();
      }
      for (auto& f : pending) ok += f.get().ok() ? 1 : 0;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  return store.commits() - before;
}

TEST_F(SqliteStoreTest, ConcurrentSubmissionsShareCommits) {
  std::unique_ptr<SqliteStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  uint64_t async_commits = SubmitConcurrently(*store, clock_, /*async=*/true);
  uint64_t waiting_commits = SubmitConcurrently(*store, clock_, /*async=*/false);
  std::cout << "[ figures  ] 200 submissions from 8 threads: " << async_commits
            << " commits (fire-and-wait-later), " << waiting_commits
            << " commits (each thread waits per submission)\n";
  EXPECT_GE(async_commits, 1u);
  EXPECT_LE(async_commits, 50u) << "group commit should batch back-to-back submissions";
  EXPECT_LT(waiting_commits, 200u) << "some waiting submissions should share a commit";
  EXPECT_EQ(store->PeekMessages("jobs", 1000)->size(), 400u);
}

// SQLite folds a first start's move to Pending into the claim's transaction.
TEST_F(SqliteStoreTest, ClaimJobsMovesAFirstStartToPendingInTheClaimsCommit) {
  std::unique_ptr<SqliteStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  JobRecord job = NewJob();
  ASSERT_TRUE(store->SubmitJobAndWait(job, "jobs").ok());
  auto claimed = store->ClaimJobs("jobs", 5, std::chrono::seconds(30), {"claimed", std::nullopt});
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), 1u);
  ASSERT_TRUE((*claimed)[0].pending.has_value());
  EXPECT_EQ((*claimed)[0].pending->spec.secure_env, job.spec.secure_env);
  Result<JobRecord> stored = store->GetJob(job.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state, JobState::kPending);
  EXPECT_EQ(stored->attempts, 1);
}

// The checkpoint thread keeps the WAL bounded while submissions keep coming: passive checkpoints
// past checkpoint_pages, a truncating one past wal_limit_pages.
TEST_F(SqliteStoreTest, CheckpointsOffTheWriterKeepTheWalBounded) {
  SqliteStoreOptions opts;
  opts.checkpoint_pages = 16;
  opts.wal_limit_pages = 64;
  std::unique_ptr<SqliteStore> store = OpenStore(opts);
  ASSERT_NE(store, nullptr);
  const fs::path wal = db_path().string() + "-wal";
  uintmax_t largest = 0;
  for (int round = 0; round < 10; ++round) {
    SubmitConcurrently(*store, clock_, /*async=*/true);
    std::error_code ec;
    largest = std::max(largest, fs::file_size(wal, ec));
  }
  std::cout << "[ figures  ] 2,000 submissions: " << store->checkpoints()
            << " checkpoints, largest WAL " << largest << " bytes\n";
  EXPECT_GT(store->checkpoints(), 0u);
  // A batch of 200 jobs adds well under 1,000 pages; without checkpoints the WAL would pass
  // 2,000 pages (about 8 MiB).
  EXPECT_LT(largest, 1024u * (4096 + 24)) << "the WAL grew past 1,024 pages";
  EXPECT_EQ(store->PeekMessages("jobs", 5000)->size(), 2000u) << "every submission committed";
}

TEST_F(SqliteStoreTest, RejectsACheckpointPointPastTheWalLimit) {
  SqliteStoreOptions opts;
  opts.checkpoint_pages = 100;
  opts.wal_limit_pages = 50;
  EXPECT_EQ(SqliteStore::Open(db_path(), clock_, opts).status().code(),
            StatusCode::kInvalidArgument);
  opts.checkpoint_pages = 0;
  EXPECT_EQ(SqliteStore::Open(db_path(), clock_, opts).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, RejectsAnEmptyWriterCacheAndOpensWithASmallOne) {
  SqliteStoreOptions opts;
  opts.writer_cache_kib = 0;
  EXPECT_EQ(SqliteStore::Open(db_path(), clock_, opts).status().code(),
            StatusCode::kInvalidArgument);
  opts.writer_cache_kib = 64;  // 16 pages: the writer reads pages back, and still commits
  auto store = SqliteStore::Open(db_path(), clock_, opts);
  ASSERT_TRUE(store.ok()) << store.status().message();
  for (int i = 0; i < 300; ++i) ASSERT_TRUE((*store)->SubmitJobAndWait(NewJob(), "jobs").ok());
  EXPECT_EQ((*store)->PeekMessages("jobs", 1000)->size(), 300u);
}

TEST_F(SqliteStoreTest, BadSubmissionInABatchFailsAloneAndTheRestCommit) {
  std::unique_ptr<SqliteStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  JobRecord first = NewJob();
  ASSERT_TRUE(store->SubmitJobAndWait(first, "jobs").ok());

  // Another connection holds the write lock: the writer takes the next submission and waits for
  // the lock (busy timeout 5 s) while the submissions after it pile up, so those are committed
  // together. (The writer takes a queued submission within microseconds; 300 ms is ample.)
  RawDb other(db_path());
  other.Exec("BEGIN IMMEDIATE");
  uint64_t commits_before = store->commits();
  std::promise<Status> s0;
  store->SubmitJob(NewJob(), "jobs", [&s0](Status st) { s0.set_value(st); });
  std::this_thread::sleep_for(milliseconds(300));
  JobRecord good1 = NewJob();
  JobRecord dup = NewJob();
  dup.id = first.id;
  JobRecord good2 = NewJob();
  std::promise<Status> s1, s2, s3;
  store->SubmitJob(good1, "jobs", [&s1](Status st) { s1.set_value(st); });
  store->SubmitJob(dup, "jobs", [&s2](Status st) { s2.set_value(st); });
  store->SubmitJob(good2, "jobs", [&s3](Status st) { s3.set_value(st); });
  other.Exec("COMMIT");

  EXPECT_TRUE(s0.get_future().get().ok());
  Status r1 = s1.get_future().get(), r2 = s2.get_future().get(), r3 = s3.get_future().get();
  EXPECT_TRUE(r1.ok()) << r1.ToString();
  EXPECT_EQ(r2.code(), StatusCode::kAlreadyExists) << r2.ToString();
  EXPECT_NE(r2.message().find(first.id), std::string::npos) << r2.ToString();
  EXPECT_TRUE(r3.ok()) << r3.ToString();
  EXPECT_EQ(store->commits() - commits_before, 2u) << "the one before, then the three in one";
  EXPECT_TRUE(store->GetJob(good1.id).ok());
  EXPECT_TRUE(store->GetJob(good2.id).ok());
  EXPECT_EQ(store->PeekMessages("jobs", 100)->size(), 4u);
}

TEST_F(SqliteStoreTest, CreatesPrivateWalDatabaseAtTheCurrentSchemaVersion) {
  std::unique_ptr<SqliteStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->SubmitJobAndWait(NewJob(), "jobs").ok());
  struct stat st {};
  ASSERT_EQ(stat(db_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the database holds secrets";
  ASSERT_EQ(stat((db_path().string() + "-wal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "the WAL holds secrets too";
  RawDb raw(db_path());
  EXPECT_EQ(raw.QueryText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.QueryText("PRAGMA user_version"), "7");
  EXPECT_EQ(raw.QueryText("SELECT json_extract(spec, '$.secureEnvironmentVariables.PASSWORD') "
                          "FROM jobs"),
            "hunter2")
      << "the dispatcher needs the secret values back";
}

TEST_F(SqliteStoreTest, MigratesASchemaVersion1Database) {
  {
    RawDb raw(db_path());
    raw.Exec(
        "CREATE TABLE jobs(id TEXT PRIMARY KEY, spec TEXT NOT NULL, image TEXT NOT NULL, "
        "state TEXT NOT NULL, exit_code INTEGER, reason TEXT NOT NULL DEFAULT '', "
        "created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, "
        "attempts INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL);"
        "CREATE TABLE messages(id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, "
        "job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, dequeue_count INTEGER NOT "
        "NULL DEFAULT 0, pop_receipt TEXT, inserted_at INTEGER NOT NULL, next_visible INTEGER "
        "NOT NULL);"
        "INSERT INTO jobs VALUES('6d07bd04-5382-4654-a376-c8a8446cdac4', "
        "'{\"image\":\"busybox\"}', 'busybox', 'Succeeded', 0, '', 1, 1, 2, 1, 1);"
        "INSERT INTO jobs VALUES('1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed', "
        "'{\"image\":\"busybox\"}', 'busybox', 'Queued', NULL, '', 3, NULL, NULL, 0, 2);"
        "INSERT INTO messages VALUES(41, 'jobs', '1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed', 2, "
        "NULL, 3, 0);"
        "UPDATE sqlite_sequence SET seq = 57 WHERE name = 'messages';"
        "PRAGMA user_version = 1;");
  }
  std::unique_ptr<SqliteStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto old = store->GetJob("6d07bd04-5382-4654-a376-c8a8446cdac4");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->state, JobState::kSucceeded);
  EXPECT_TRUE(old->history.empty());
  JobRecord job = NewJob();
  job.idempotency_key = "k";
  ASSERT_TRUE(store->SubmitJobAndWait(job, "jobs").ok());
  EXPECT_EQ(store->FindJobByIdempotencyKey("k")->id, job.id);
  // The queued job's message came through the messages table's rebuild (schema 7), and message
  // ids go on from the highest ever given.
  auto claimed = store->ClaimMessages("jobs", 10, std::chrono::seconds(30));
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_EQ((*claimed)[0].id, 41);
  EXPECT_EQ((*claimed)[0].job_id, "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed");
  EXPECT_EQ((*claimed)[0].dequeue_count, 3);
  EXPECT_EQ((*claimed)[1].job_id, job.id);
  EXPECT_GT((*claimed)[1].id, 57);
  RawDb raw(db_path());
  EXPECT_EQ(raw.QueryText("PRAGMA user_version"), "7");
  EXPECT_EQ(raw.QueryText("PRAGMA foreign_key_check"), "") << "every message has its job";
}

// A job's messages are found (and deleted with it) by its seq, which submissions append to,
// not by its random UUID.
TEST_F(SqliteStoreTest, MessagesNameTheirJobBySeq) {
  std::unique_ptr<SqliteStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  JobRecord a = NewJob(), b = NewJob();
  ASSERT_TRUE(store->SubmitJobAndWait(a, "jobs").ok());
  ASSERT_TRUE(store->SubmitJobAndWait(b, "jobs").ok());
  {
    RawDb raw(db_path());
    EXPECT_EQ(raw.QueryText("SELECT name FROM pragma_index_info('messages_job')"), "job_seq");
    EXPECT_EQ(raw.QueryText("SELECT COUNT(*) FROM messages m JOIN jobs j ON j.seq = m.job_seq "
                            "AND j.id = m.job_id"),
              "2");
  }
  ASSERT_TRUE(store->DeleteJob(a.id).ok());
  RawDb raw(db_path());
  EXPECT_EQ(raw.QueryText("SELECT group_concat(job_id) FROM messages"), b.id)
      << "the deleted job's message went with it";
}

TEST_F(SqliteStoreTest, RefusesANewerSchema) {
  {
    RawDb raw(db_path());
    raw.Exec("PRAGMA user_version = 99");
  }
  Result<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(db_path(), clock_);
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status().ToString();
}

TEST_F(SqliteStoreTest, OpenInMissingDirectoryFails) {
  Result<std::unique_ptr<SqliteStore>> store =
      SqliteStore::Open(dir_.path() / "no" / "such" / "berth.db", clock_);
  EXPECT_FALSE(store.ok());
}

TEST_F(SqliteStoreTest, DestructorCommitsPendingSubmissions) {
  std::vector<std::string> ids;
  std::atomic<int> ok{0};
  {
    std::unique_ptr<SqliteStore> store = OpenStore();
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 50; ++i) {
      JobRecord job = NewJob();
      ids.push_back(job.id);
      store->SubmitJob(job, "jobs", [&ok](Status st) { ok += st.ok() ? 1 : 0; });
    }
  }  // destroyed with submissions likely still queued
  EXPECT_EQ(ok.load(), 50);
  std::unique_ptr<SqliteStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  for (const std::string& id : ids) EXPECT_TRUE(store->GetJob(id).ok()) << id;
}

// The callbacks (which build and log the HTTP answers) run beside the writer: a slow one does
// not hold back the commit of later submissions. Callbacks still run one at a time, in order.
TEST_F(SqliteStoreTest, ASlowCallbackDoesNotHoldBackLaterCommits) {
  std::unique_ptr<SqliteStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::promise<void> first_running;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<std::string> order;
  std::mutex order_mu;
  JobRecord first = NewJob();
  store->SubmitJob(first, "jobs", [&](Status st) {
    EXPECT_TRUE(st.ok()) << st.ToString();
    first_running.set_value();
    released.wait();
    std::lock_guard<std::mutex> lock(order_mu);
    order.push_back("first");
  });
  first_running.get_future().wait();
  std::promise<Status> second_done;
  JobRecord second = NewJob();
  store->SubmitJob(second, "jobs", [&](Status st) {
    {
      std::lock_guard<std::mutex> lock(order_mu);
      order.push_back("second");
    }
    second_done.set_value(st);
  });
  bool committed = false;  // seen by a reader while the first callback still runs
  for (int i = 0; i < 500 && !committed; ++i) {
    committed = store->GetJob(second.id).ok();
    if (!committed) std::this_thread::sleep_for(milliseconds(10));
  }
  release.set_value();
  EXPECT_TRUE(committed) << "the second submission waited for the first one's callback";
  EXPECT_TRUE(second_done.get_future().get().ok());
  std::lock_guard<std::mutex> lock(order_mu);
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second"}));
}

TEST_F(SqliteStoreTest, WriteLockHeldElsewhereIsUnavailableButReadsGoOn) {
  SqliteStoreOptions options;
  options.busy_timeout = milliseconds(50);
  std::unique_ptr<SqliteStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  JobRecord job = NewJob();
  ASSERT_TRUE(store->SubmitJobAndWait(job, "jobs").ok());

  RawDb other(db_path());
  other.Exec("BEGIN IMMEDIATE");  // another process holds the write lock
  Status st = store->SubmitJobAndWait(NewJob(), "jobs");
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("submit jobs"), std::string::npos) << st.ToString();
  JobStatusUpdate running;
  running.state = JobState::kPending;
  EXPECT_EQ(store->UpdateJobStatus(job.id, running).code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->ClaimMessages("jobs", 1, milliseconds(1000)).status().code(),
            StatusCode::kUnavailable);
  EXPECT_TRUE(store->GetJob(job.id).ok()) << "WAL readers do not wait for the writer";
  EXPECT_EQ(store->PeekMessages("jobs", 10)->size(), 1u);
  other.Exec("COMMIT");

  JobRecord later = NewJob();
  st = store->SubmitJobAndWait(later, "jobs");
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(store->GetJob(later.id).ok());
  EXPECT_TRUE(store->UpdateJobStatus(job.id, running).ok()) << "the lock is free again";
}

// Status writes that arrive while the writer is busy share one commit; a refused transition
// among them fails alone and the others' changes stay.
TEST_F(SqliteStoreTest, ConcurrentStatusUpdatesShareACommitAndARefusedOneFailsAlone) {
  std::unique_ptr<SqliteStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  constexpr int kJobs = 10;
  std::vector<JobRecord> jobs;
  for (int i = 0; i <= kJobs; ++i) {
    jobs.push_back(NewJob());
    ASSERT_TRUE(store->SubmitJobAndWait(jobs.back(), "jobs").ok());
  }
  // Another connection holds the write lock: the first update waits for it (busy timeout 5 s)
  // while the others arrive; the first leads a commit of its own, the others share the next.
  RawDb other(db_path());
  other.Exec("BEGIN IMMEDIATE");
  int commits_before = WalCommits(db_path());
  JobStatusUpdate pending;
  pending.state = JobState::kPending;
  std::vector<Status> results(kJobs + 1);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { results[0] = store->UpdateJobStatus(jobs[0].id, pending); });
  std::this_thread::sleep_for(milliseconds(200));
  for (int i = 1; i <= kJobs; ++i) {
    threads.emplace_back([&, i] {
      JobStatusUpdate u = pending;
      if (i == 5) u.state = JobState::kRunning;  // Queued -> Running: refused
      results[i] = store->UpdateJobStatus(jobs[i].id, u);
    });
  }
  std::this_thread::sleep_for(milliseconds(200));
  other.Exec("COMMIT");
  for (std::thread& t : threads) t.join();

  // Counted in the WAL file itself (no checkpoint runs: the WAL stays far below 1,000 pages;
  // a WAL started over would count fewer, hence the lower bound).
  int commits = WalCommits(db_path()) - commits_before;
  EXPECT_GE(commits, 1) << "the updates committed in this WAL";
  EXPECT_LE(commits, 2) << "the first alone, then the rest in one";
  for (int i = 0; i <= kJobs; ++i) {
    Result<JobRecord> job = store->GetJob(jobs[i].id);
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    if (i == 5) {
      EXPECT_EQ(results[i].code(), StatusCode::kFailedPrecondition) << results[i].ToString();
      EXPECT_EQ(job->state, JobState::kQueued);
    } else {
      EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].ToString();
      EXPECT_EQ(job->state, JobState::kPending) << i;
    }
  }
}

TEST_F(SqliteStoreTest, CorruptStoredSpecIsAnErrorNotACrash) {
  std::unique_ptr<SqliteStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  JobRecord job = NewJob();
  ASSERT_TRUE(store->SubmitJobAndWait(job, "jobs").ok());
  RawDb(db_path()).Exec("UPDATE jobs SET spec = '{not json' WHERE id = '" + job.id + "'");
  Result<JobRecord> got = store->GetJob(job.id);
  EXPECT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find(job.id), std::string::npos) << got.status().ToString();
  EXPECT_FALSE(store->ListJobs({}, 10).ok());
}

TEST_F(SqliteStoreTest, ManyReadersRunAlongsideWrites) {
  SqliteStoreOptions options;
  options.reader_connections = 2;
  std::unique_ptr<SqliteStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  JobRecord job = NewJob();
  ASSERT_TRUE(store->SubmitJobAndWait(job, "jobs").ok());
  std::atomic<bool> stop{false};
  std::atomic<int> read_errors{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 6; ++i) {  // more readers than connections: some wait for a turn
    readers.emplace_back([&] {
      while (!stop) {
        if (!store->GetJob(job.id).ok()) ++read_errors;
        if (!store->ListJobs({JobState::kQueued}, 5).ok()) ++read_errors;
      }
    });
  }
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(store->SubmitJobAndWait(NewJob(), "jobs").ok());
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(read_errors.load(), 0);
  EXPECT_EQ(store->ListJobs({JobState::kQueued}, 100)->size(), 51u);
}

}  // namespace
}  // namespace berth
