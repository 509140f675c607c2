// `berth store copy` (daemon/store_copy.h) from a real SQLite data dir into a real PostgreSQL 15
// server: every job's record arrives equal field by field, the waiting jobs' messages with them,
// the schedules and keys too; a second copy is refused or, with merge, adds nothing.
#include "daemon/store_copy.h"

#include <gtest/gtest.h>

#include <map>

#include "common/files.h"
#include "common/random.h"
#include "daemon/data_dir_lock.h"
#include "daemon/key_store.h"
#include "job/job_files.h"
#include "job/job_log.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "tests/support/postgres_server.h"

namespace berth {
namespace {

using std::chrono::seconds;

class ScopedDir {
 public:
  ScopedDir() {
    std::string tmpl = "/tmp/berth-store-copy-XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~ScopedDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A LogArchive in memory with the contract of store/log_archive.h: chunks addressed by stream
// offset, a chunk stored twice kept once, NotFound for a job the store does not have.
class MemoryLogArchive : public LogArchive {
 public:
  explicit MemoryLogArchive(Store& store) : store_(store) {}
  Status AppendLog(std::string_view job_id, uint64_t offset, std::string_view data,
                   uint64_t /*keep_bytes*/) override {
    RETURN_IF_ERROR(store_.GetJob(job_id).status());
    Log& log = logs_[std::string(job_id)];
    if (log.text.empty() && log.start == 0) log.start = offset;
    uint64_t end = log.start + log.text.size();
    if (offset > end) return Status::InvalidArgument("a gap in the log");
    if (offset + data.size() <= end) return Status::Ok();
    log.text.append(data.substr(end - offset));
    ++appends_;
    return Status::Ok();
  }
  Result<uint64_t> StoredLogEnd(std::string_view job_id) override {
    auto it = logs_.find(std::string(job_id));
    return it == logs_.end() ? 0 : it->second.start + it->second.text.size();
  }
  Result<LogChunk> ReadLogFrom(std::string_view, uint64_t, size_t) override {
    return Status::Internal("not needed here");
  }
  Result<JobLog> ReadLogTail(std::string_view, size_t) override {
    return Status::Internal("not needed here");
  }

  struct Log {
    uint64_t start = 0;  // stream offset of text[0]
    std::string text;
  };
  std::map<std::string, Log> logs_;
  int appends_ = 0;

 private:
  Store& store_;
};

void ExpectSameJob(const JobRecord& a, const JobRecord& b) {
  SCOPED_TRACE("job " + a.id);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(JobSpecToJson(a.spec, true), JobSpecToJson(b.spec, true));
  EXPECT_EQ(ToString(a.state), ToString(b.state));
  EXPECT_EQ(a.exit_code, b.exit_code);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.finished_at, b.finished_at);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(AttemptsToJson(a.history), AttemptsToJson(b.history));
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);
  EXPECT_EQ(a.cancel_requested, b.cancel_requested);
  EXPECT_EQ(a.schedule, b.schedule);
  EXPECT_EQ(a.scheduled_at, b.scheduled_at);
  EXPECT_EQ(a.parent_id, b.parent_id);
  EXPECT_EQ(a.array_index, b.array_index);
  EXPECT_EQ(a.children, b.children);
  EXPECT_EQ(a.node, b.node);
  ASSERT_EQ(a.callback.has_value(), b.callback.has_value());
  if (a.callback) {
    EXPECT_EQ(a.callback->url, b.callback->url);
    EXPECT_EQ(ToString(a.callback->state), ToString(b.callback->state));
    EXPECT_EQ(a.callback->attempts, b.callback->attempts);
    EXPECT_EQ(a.callback->last_error, b.callback->last_error);
    EXPECT_EQ(a.callback->next_attempt_at, b.callback->next_attempt_at);
    EXPECT_EQ(a.callback->delivered_at, b.callback->delivered_at);
  }
}

// "queue job_id dequeue_count inserted_at next_visible" of each message on `queue`.
std::vector<std::string> Messages(Store& store, const std::string& queue) {
  auto msgs = store.PeekMessages(queue, 1000);
  EXPECT_TRUE(msgs.ok()) << msgs.status().ToString();
  std::vector<std::string> out;
  if (!msgs.ok()) return out;
  for (const QueueMessage& m : *msgs) {
    out.push_back(m.queue + " " + m.job_id + " " + std::to_string(m.dequeue_count) + " " +
                  std::to_string(ToUnixMillis(m.inserted_at)) + " " +
                  std::to_string(ToUnixMillis(m.next_visible)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

class StoreCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<PostgresServer*> server = PostgresServer::Shared();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    Result<std::string> db = (*server)->CreateDatabase();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    conninfo_ = *db;
    auto sqlite = SqliteStore::Open(data_.path() / "berth.db", clock_);
    ASSERT_TRUE(sqlite.ok()) << sqlite.status().ToString();
    src_ = std::move(sqlite).value();
  }

  JobRecord NewJob(const std::string& what) {
    JobRecord j;
    j.id = NewUuidV4();
    j.spec.image = "busybox";
    j.spec.command = {"sh", "-c", "echo " + what};
    j.spec.env["WHAT"] = what;
    j.spec.secure_env["TOKEN"] = "secret-" + what;
    j.created_at = clock_.Now();
    return j;
  }
  std::string Submit(JobRecord j) {
    std::string id = j.id;
    Status st = src_->SubmitJobAndWait(std::move(j), "jobs");
    EXPECT_TRUE(st.ok()) << st.ToString();
    clock_.Advance(milliseconds(7));
    return id;
  }
  QueueMessage Claim(const std::string& id) {
    auto claimed = src_->ClaimMessages("jobs", 1, seconds(30));
    EXPECT_TRUE(claimed.ok() && claimed->size() == 1u);
    if (!claimed.ok() || claimed->empty()) return {};
    EXPECT_EQ((*claimed)[0].job_id, id);
    return (*claimed)[0];
  }
  void Run(const std::string& id, int attempts = 1) {
    QueueMessage msg = Claim(id);
    JobStatusUpdate pending{JobState::kPending, std::nullopt, "",
                            std::nullopt,       std::nullopt, attempts};
    ASSERT_TRUE(src_->UpdateJobStatus(id, pending).ok());
    JobStatusUpdate running{JobState::kRunning, std::nullopt, "",
                            clock_.Now(),       std::nullopt, attempts};
    ASSERT_TRUE(src_->RecordRunning(msg, running).ok());
    clock_.Advance(milliseconds(1500));
  }
  void End(const std::string& id, JobState state, int code, const std::string& reason,
           int attempts = 1) {
    std::vector<AttemptRecord> history;
    for (int i = 1; i <= attempts; ++i) {
      history.push_back({i, code, reason, clock_.Now() - seconds(1), clock_.Now()});
    }
    JobStatusUpdate done{state, code, reason, std::nullopt, clock_.Now(), attempts, history};
    Status st = src_->UpdateJobStatus(id, done);
    ASSERT_TRUE(st.ok()) << st.ToString();
    clock_.Advance(milliseconds(3));
  }

  // A history in every state: Queued (with an idempotency key), Pending (claimed), Running
  // (cancel requested), Succeeded, Failed after two attempts, Canceled, Failed in the poison
  // queue, a callback that failed once, an array half done, and a schedule's job. Returns the
  // ids; `queued_` is the one waiting with a message.
  std::vector<std::string> MakeHistory() {
    std::vector<std::string> ids;
    std::string pending = Submit(NewJob("pending"));
    Claim(pending);
    EXPECT_TRUE(src_->UpdateJobStatus(pending, {JobState::kPending, std::nullopt, "starting",
                                                std::nullopt, std::nullopt, 1})
                    .ok());
    ids.push_back(pending);

    std::string running = Submit(NewJob("running"));
    Run(running);
    EXPECT_TRUE(src_->RequestCancel(running).ok());
    ids.push_back(running);

    succeeded_ = Submit(NewJob("succeeded"));
    Run(succeeded_);
    End(succeeded_, JobState::kSucceeded, 0, "Completed");
    ids.push_back(succeeded_);

    JobRecord retried = NewJob("failed");
    retried.spec.restart_policy = RestartPolicy::kOnFailure;
    failed_ = Submit(retried);
    Run(failed_, 2);
    End(failed_, JobState::kFailed, 3, "exited with code 3", 2);
    ids.push_back(failed_);

    std::string canceled = Submit(NewJob("canceled"));
    EXPECT_TRUE(src_->RequestCancel(canceled).ok());
    ids.push_back(canceled);

    std::string poisoned = Submit(NewJob("poisoned"));
    QueueMessage msg = Claim(poisoned);
    EXPECT_TRUE(src_->PoisonMessage(msg, "jobs-poison",
                                    {JobState::kFailed, std::nullopt, "Poisoned: 5 dequeues",
                                     std::nullopt, clock_.Now(), 0})
                    .ok());
    ids.push_back(poisoned);

    JobRecord called = NewJob("called");
    called.spec.callback_url = "http://127.0.0.1:9/done";
    std::string callback = Submit(called);
    Run(callback);
    End(callback, JobState::kSucceeded, 0, "Completed");
    auto claimed = src_->ClaimCallbacks(10, seconds(30));
    EXPECT_TRUE(claimed.ok() && claimed->size() == 1u);
    CallbackStatus after = (*claimed)[0].status;
    after.last_error = "connection refused";
    after.next_attempt_at = clock_.Now() + seconds(60);
    EXPECT_TRUE(src_->RecordCallbackAttempt(callback, after).ok());
    ids.push_back(callback);

    JobRecord array = NewJob("array");
    array.spec.count = 3;
    array.spec.parallelism = 1;
    std::string parent = Submit(array);
    ids.push_back(parent);
    auto children = src_->ListChildren(parent, std::nullopt, 10, -1);
    EXPECT_TRUE(children.ok() && children->size() == 3u);
    for (const JobRecord& c : *children) ids.push_back(c.id);
    Run((*children)[0].id);
    End((*children)[0].id, JobState::kSucceeded, 0, "Completed");

    ScheduleRecord sched;
    sched.spec.name = "nightly";
    sched.spec.schedule = "0 0 3 * * *";
    sched.spec.job = NewJob("scheduled").spec;
    sched.created_at = sched.updated_at = sched.handled_through = clock_.Now();
    EXPECT_TRUE(src_->CreateSchedule(sched).ok());
    JobRecord fired = NewJob("scheduled");
    fired.schedule = "nightly";
    fired.scheduled_at = clock_.Now() + seconds(10);
    EXPECT_TRUE(src_->AdvanceSchedule("nightly", sched.handled_through, *fired.scheduled_at, fired,
                                      "jobs", 2)
                    .ok());
    ids.push_back(fired.id);
    clock_.Advance(milliseconds(5));

    JobRecord waiting = NewJob("queued");
    waiting.idempotency_key = "client-key-1";
    queued_ = Submit(waiting);
    ids.push_back(queued_);
    return ids;
  }

  // The source's keys, as a stopped node left them in its data dir.
  void MakeKeys() {
    FileKeyStoreOptions kopts;
    kopts.data_dir = data_.path();
    auto keys = FileKeyStore::Open(kopts);
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    ASSERT_TRUE((*keys)->Put("jobs", "ci", "ci-key-0123456789abc").ok());
    ASSERT_TRUE((*keys)->Put("", "ops", "ops-key-0123456789abc").ok());
    default_key_ = (*keys)->default_key();
    master_key_ = (*keys)->master_key();
  }

  std::unique_ptr<PostgresStore> OpenDestination() {
    auto pg = PostgresStore::Open(conninfo_, clock_);
    EXPECT_TRUE(pg.ok()) << pg.status().ToString();
    return pg.ok() ? std::move(pg).value() : nullptr;
  }

  FakeClock clock_;
  ScopedDir data_;
  std::string conninfo_;
  std::unique_ptr<SqliteStore> src_;
  std::string succeeded_, failed_, queued_;
  std::string default_key_, master_key_;
};

TEST_F(StoreCopyTest, EveryRecordArrivesEqualWithTheWaitingJobsMessagesSchedulesAndKeys) {
  std::vector<std::string> ids = MakeHistory();
  MakeKeys();
  // Read the source whole before it stops.
  std::vector<JobRecord> before;
  for (const std::string& id : ids) {
    auto job = src_->GetJob(id);
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    before.push_back(*job);
  }
  auto order_before = src_->ListJobs({}, 100);
  ASSERT_TRUE(order_before.ok());
  std::vector<std::string> messages = Messages(*src_, "jobs");
  std::vector<std::string> poison = Messages(*src_, "jobs-poison");
  ASSERT_EQ(messages.size(), 4u);  // pending (claimed), array child 1, the schedule's, queued
  ASSERT_EQ(poison.size(), 1u);
  auto schedule_before = src_->GetSchedule("nightly");
  ASSERT_TRUE(schedule_before.ok());
  src_.reset();  // the node stops

  std::vector<std::pair<int64_t, int64_t>> progress;
  StoreCopyOptions opts;
  opts.progress = [&](int64_t done, int64_t total) { progress.emplace_back(done, total); };
  auto report = RunStoreCopy(data_.path().string(), conninfo_, opts, clock_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->jobs, static_cast<int64_t>(ids.size()));
  EXPECT_EQ(report->jobs_copied, static_cast<int64_t>(ids.size()));
  EXPECT_EQ(report->messages, 5);
  EXPECT_EQ(report->schedules_copied, 1);
  EXPECT_EQ(report->keys_copied, 4);  // _master, default, ops, jobs/ci
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), std::make_pair(report->jobs, report->jobs));

  auto dest = OpenDestination();
  ASSERT_TRUE(dest);
  for (const JobRecord& j : before) {
    auto copied = dest->GetJob(j.id);
    ASSERT_TRUE(copied.ok()) << copied.status().ToString();
    ExpectSameJob(j, *copied);
  }
  // The same order (newest first), and messages exactly as they were, claims dropped.
  auto order_after = dest->ListJobs({}, 100);
  ASSERT_TRUE(order_after.ok());
  ASSERT_EQ(order_after->size(), order_before->size());
  for (size_t i = 0; i < order_before->size(); ++i) {
    EXPECT_EQ((*order_after)[i].id, (*order_before)[i].id) << i;
  }
  EXPECT_EQ(Messages(*dest, "jobs"), messages);
  EXPECT_EQ(Messages(*dest, "jobs-poison"), poison);
  // The waiting job runs after the move: a worker of the new store claims it.
  clock_.Advance(seconds(60));  // past the pending job's old lease
  auto claimed = dest->ClaimMessages("jobs", 10, seconds(30));
  ASSERT_TRUE(claimed.ok());
  std::set<std::string> claimable;
  for (const QueueMessage& m : *claimed) claimable.insert(m.job_id);
  EXPECT_TRUE(claimable.count(queued_)) << "the queued job's message did not move";
  // The idempotency key still finds its job.
  auto by_key = dest->FindJobByIdempotencyKey("client-key-1");
  ASSERT_TRUE(by_key.ok());
  EXPECT_EQ(by_key->id, queued_);

  auto schedule = dest->GetSchedule("nightly");
  ASSERT_TRUE(schedule.ok()) << schedule.status().ToString();
  EXPECT_EQ(ScheduleSpecToJson(schedule->spec, true),
            ScheduleSpecToJson(schedule_before->spec, true));
  EXPECT_EQ(schedule->created_at, schedule_before->created_at);
  EXPECT_EQ(schedule->handled_through, schedule_before->handled_through);
  EXPECT_EQ(schedule->last_fired_at, schedule_before->last_fired_at);
  EXPECT_EQ(schedule->last_job_id, schedule_before->last_job_id);
  EXPECT_EQ(schedule->fired_count, 1);
  EXPECT_EQ(schedule->skipped_count, 2);

  auto rows = dest->ListKeyRows();
  ASSERT_TRUE(rows.ok());
  std::map<std::string, std::string> keys;
  for (const KeyRow& r : *rows) keys[r.scope + "/" + r.name] = r.value;
  EXPECT_EQ(keys, (std::map<std::string, std::string>{{"/_master", master_key_},
                                                      {"/default", default_key_},
                                                      {"/ops", "ops-key-0123456789abc"},
                                                      {"jobs/ci", "ci-key-0123456789abc"}}));
}

TEST_F(StoreCopyTest, ASecondCopyIsRefusedAndWithMergeAddsNothing) {
  std::vector<std::string> ids = MakeHistory();
  MakeKeys();
  src_.reset();
  StoreCopyOptions opts;
  ASSERT_TRUE(RunStoreCopy(data_.path().string(), conninfo_, opts, clock_).ok());
  auto dest = OpenDestination();
  ASSERT_TRUE(dest);
  std::vector<std::string> messages = Messages(*dest, "jobs");

  auto again = RunStoreCopy(data_.path().string(), conninfo_, opts, clock_);
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("--merge"), std::string::npos)
      << again.status().message();

  // A key renewed in the destination meanwhile keeps its value under --merge.
  ASSERT_TRUE(dest->PutKeyRow("", "ops", "ops-key-renewed-01234567").ok());
  opts.merge = true;
  auto merged = RunStoreCopy(data_.path().string(), conninfo_, opts, clock_);
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  EXPECT_EQ(merged->jobs_copied, 0);
  EXPECT_EQ(merged->jobs_present, static_cast<int64_t>(ids.size()));
  EXPECT_EQ(merged->schedules_present, 1);
  EXPECT_EQ(merged->keys_kept, 1);
  ASSERT_EQ(merged->warnings.size(), 2u) << "the kept key and the unfinished jobs";
  auto all = dest->ListJobs({}, 1000);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), ids.size());
  EXPECT_EQ(Messages(*dest, "jobs"), messages);
  auto rows = dest->ListKeyRows();
  ASSERT_TRUE(rows.ok());
  for (const KeyRow& r : *rows) {
    if (r.name == "ops") {
      EXPECT_EQ(r.value, "ops-key-renewed-01234567");
    }
  }
}

TEST_F(StoreCopyTest, ADataDirWhoseDaemonRunsIsRefused) {
  src_.reset();
  auto lock = DataDirLock::Acquire(data_.path());  // as `berth serve` holds it
  ASSERT_TRUE(lock.ok());
  auto r = RunStoreCopy(data_.path().string(), conninfo_, {}, clock_);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("daemon is running"), std::string::npos)
      << r.status().message();
}

TEST_F(StoreCopyTest, ArgumentsThatAreNeitherADataDirNorAConnectionAreRefused) {
  src_.reset();
  EXPECT_EQ(RunStoreCopy(data_.path().string(), "/tmp", {}, clock_).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RunStoreCopy("/no/such/dir", conninfo_, {}, clock_).status().code(),
            StatusCode::kInvalidArgument);
  ScopedDir empty;
  EXPECT_EQ(RunStoreCopy(empty.path().string(), conninfo_, {}, clock_).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(RunStoreCopy(conninfo_, conninfo_, {}, clock_).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(StoreCopyTest, LogsGoToTheDestinationsArchiveAtTheirStreamOffsets) {
  MakeHistory();
  auto write_log = [&](const std::string& id, const std::string& text) {
    JobFiles files(data_.path() / "jobs", id);
    ASSERT_TRUE(MakeDirs(files.dir(), 0700).ok());
    ASSERT_TRUE(WriteFileAtomic(files.log(), text, 0600).ok());
  };
  write_log(succeeded_, "hello\nworld\n");
  write_log(failed_, DroppedHeader(100) + "the newest\n");  // a trimmed log
  auto dest = OpenDestination();
  ASSERT_TRUE(dest);
  MemoryLogArchive archive(*dest);
  CopySource from;
  from.store = src_.get();
  from.triggers = src_.get();
  from.read_log = [jobs = data_.path() / "jobs"](const std::string& id, uint64_t offset,
                                                 size_t max) {
    return ReadLogChunk(JobFiles(jobs, id).log(), offset, max);
  };
  CopyDestination to{dest.get(), dest.get(), dest.get(), &archive};
  auto report = CopyStore(from, to, {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->logs_skipped);
  EXPECT_EQ(report->logs, 2);
  EXPECT_EQ(report->log_bytes, 12 + 11);
  EXPECT_EQ(archive.logs_[succeeded_].start, 0u);
  EXPECT_EQ(archive.logs_[succeeded_].text, "hello\nworld\n");
  EXPECT_EQ(archive.logs_[failed_].start, 100u);
  EXPECT_EQ(archive.logs_[failed_].text, "the newest\n");

  // Run again (merge): the archive already has every byte.
  int appends = archive.appends_;
  StoreCopyOptions merge;
  merge.merge = true;
  ASSERT_TRUE(CopyStore(from, to, merge).ok());
  EXPECT_EQ(archive.appends_, appends);
  EXPECT_EQ(archive.logs_[succeeded_].text, "hello\nworld\n");

  // Without an archive, the report says logs were left behind.
  CopyDestination no_logs{dest.get(), dest.get(), dest.get(), nullptr};
  auto skipped = CopyStore(from, no_logs, merge);
  ASSERT_TRUE(skipped.ok());
  EXPECT_TRUE(skipped->logs_skipped);
}

}  // namespace
}  // namespace berth
