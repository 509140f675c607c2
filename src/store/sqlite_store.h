// SqliteStore: the embedded Store engine, one SQLite database file in WAL mode.
//
// It owns one writer connection and a small pool of read-only connections. SubmitJob only
// queues the submission; a writer thread commits every queued submission in one transaction
// (one fsync, group commit) and hands the committed batch to a completion thread, which runs
// their callbacks while the writer already commits the next batch (the callbacks build and log
// the HTTP answers: on the writer they held back every later commit). The other writes use the
// writer connection under a mutex, one transaction each. Reads borrow a reader connection, so they
// never wait behind a write transaction (WAL readers see the last commit). Checkpoints run mostly
// off the writer: once a commit leaves the WAL over checkpoint_pages, a checkpoint thread with its
// own connection copies the WAL into the database (PASSIVE: it takes no lock a commit waits for),
// and the writer's next commit copies only the pages committed meanwhile, so that the WAL starts
// over. No commit waits for the bulk of a checkpoint.
//
// Thread-safe. The Clock passed to Open must outlive the store. SubmitJob callbacks run on the
// completion thread, one at a time in commit order, only after their commit is durable; they must
// not wait for another submission. The destructor commits the submissions still queued, runs
// their callbacks, and stops the threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "store/key_rows.h"
#include "store/log_archive.h"
#include "store/store.h"
#include "store/terminal_job_cache.h"
#include "store/trigger_store.h"

struct sqlite3;

namespace berth {

class SqliteConnection;  // a sqlite3 handle and its prepared statements; see sqlite_store.cc

struct SqliteStoreOptions {
  // How long a statement waits for a lock held by another process before it fails with
  // Unavailable. Default 5 s: rides out a checkpoint or a peer's commit, yet surfaces a stuck peer.
  milliseconds busy_timeout{5000};
  // Read-only connections shared by GetJob, ListJobs, PeekMessages and NextVisibleAt. Default 4:
  // up to four reads run in parallel; each connection costs a file handle and a page cache.
  int reader_connections = 4;
  // The writer's page cache, in KiB (SQLite's default: 2,000). Every submit inserts into the
  // job-id index at a random place (ids are random UUIDs); once that index outgrows the cache,
  // each submit read a page back from the file, a system call and a 4 KiB copy on the writer,
  // which every commit waits for. 32 MiB holds the index of about 600,000 jobs. Memory is taken
  // as pages are used, up to this.
  int writer_cache_kib = 32768;
  // The SQLite VFS to open the database through; empty = SQLite's default (unix). Tests register
  // one that simulates a power cut (drops every write not yet synced).
  std::string vfs;
  // WAL pages (frames) after which the checkpoint thread copies the WAL into the database, off the
  // writer. Default 1000, SQLite's own auto-checkpoint point (about 4 MiB of WAL).
  int checkpoint_pages = 1000;
  // WAL pages past which a checkpoint also restarts the WAL and truncates its file, holding back
  // commits while it copies the last pages (a TRUNCATE checkpoint): the bound on the WAL when
  // passive checkpoints cannot catch up, for example under readers that never pause. Default
  // 16000 (about 64 MiB).
  int wal_limit_pages = 16000;
};

class SqliteStore : public Store, public TriggerStore, public LogArchive, public KeyRows {
 public:
  // Opens (creating if missing, mode 0600: it holds secrets) the database at `db_path` and its
  // schema, and starts the writer thread. FailedPrecondition when the schema is newer than ours.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::filesystem::path& db_path,
                                                   Clock& clock, SqliteStoreOptions options = {});
  ~SqliteStore() override;

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void SubmitJob(JobRecord job, std::string queue, std::function<void(Status)> done) override;
  Result<JobRecord> GetJob(std::string_view id) override;
  Result<std::vector<JobRecord>> ListJobsPage(const std::vector<JobState>& states, int limit,
                                              int64_t before_seq) override;
  Result<std::vector<JobRecord>> ListJobSummaries(const std::vector<JobState>& states, int limit,
                                                  int64_t before_seq) override;
  Result<JobRecord> FindJobByIdempotencyKey(std::string_view idempotency_key) override;
  Result<JobRecord> RequestCancel(std::string_view id) override;
  Status RequeueJob(std::string_view id, std::string_view queue, milliseconds delay,
                    const JobStatusUpdate& update) override;
  Result<std::vector<std::string>> ListFinishedBefore(TimePoint cutoff, int limit) override;
  Status DeleteJob(std::string_view id) override;
  Status UpdateJobStatus(std::string_view id, const JobStatusUpdate& update) override;
  Status RecordRunning(const QueueMessage& msg, const JobStatusUpdate& update) override;
  Result<std::vector<QueueMessage>> ClaimMessages(std::string_view queue, int max,
                                                  milliseconds lease) override;
  Result<std::vector<ClaimedJob>> ClaimJobs(std::string_view queue, int max, milliseconds lease,
                                            const PendingClaim& pending) override;
  Status RenewLease(const QueueMessage& msg, milliseconds lease) override;
  Status DeleteMessage(const QueueMessage& msg) override;
  Status ReleaseMessage(const QueueMessage& msg, milliseconds delay) override;
  Status PoisonMessage(const QueueMessage& msg, std::string_view poison_queue,
                       const JobStatusUpdate& job_update) override;
  Result<std::vector<QueueMessage>> PeekMessages(std::string_view queue, int limit) override;
  Result<std::optional<TimePoint>> NextVisibleAt(std::string_view queue) override;
  // Many nodes.
  Status Heartbeat(const NodeRecord& node, milliseconds lease) override;
  Result<std::vector<NodeRecord>> ListNodes() override;
  Result<bool> MarkNodeLost(std::string_view id, std::string_view pending_reason) override;
  Result<std::vector<JobRecord>> ListNodeJobs(std::string_view node,
                                              const std::vector<JobState>& states) override;
  Status SettleLostJob(std::string_view node, std::string_view id, const JobStatusUpdate& update,
                       std::string_view requeue_queue, milliseconds delay) override;
  Result<std::vector<std::string>> ListCancelRequested(std::string_view node) override;

  // TriggerStore.
  Status CreateSchedule(const ScheduleRecord& schedule) override;
  Status ReplaceSchedule(const ScheduleRecord& schedule) override;
  Result<ScheduleRecord> GetSchedule(std::string_view name) override;
  Result<std::vector<ScheduleRecord>> ListSchedules() override;
  Status DeleteSchedule(std::string_view name) override;
  Status AdvanceSchedule(std::string_view name, TimePoint expected, TimePoint through,
                         const std::optional<JobRecord>& job, std::string_view queue,
                         int skipped) override;
  Result<std::vector<CallbackDelivery>> ClaimCallbacks(int max, milliseconds lease) override;
  Status RecordCallbackAttempt(std::string_view job_id, const CallbackStatus& after) override;
  Result<std::vector<JobRecord>> ListChildren(std::string_view parent,
                                              std::optional<JobState> state, int limit,
                                              int after_index) override;

  // LogArchive (sqlite_log_archive.cc).
  Status AppendLog(std::string_view job_id, uint64_t offset, std::string_view data,
                   uint64_t keep_bytes) override;
  Result<uint64_t> StoredLogEnd(std::string_view job_id) override;
  Result<LogChunk> ReadLogFrom(std::string_view job_id, uint64_t offset, size_t max_bytes) override;
  Result<JobLog> ReadLogTail(std::string_view job_id, size_t max_bytes) override;

  // KeyRows (sqlite_keys.cc).
  Result<std::vector<KeyRow>> ListKeyRows() override;
  Result<bool> PutKeyRow(std::string_view scope, std::string_view name,
                         std::string_view value) override;
  Result<std::string> InsertKeyRowIfAbsent(std::string_view scope, std::string_view name,
                                           std::string_view value) override;
  Status DeleteKeyRow(std::string_view scope, std::string_view name) override;

  // Transactions the writer connection committed so far (each one fsync): the submissions'
  // group commits, the grouped status writes' and every other write's. For tests and metrics.
  uint64_t commits() const { return commits_.load(); }
  // Checkpoints the checkpoint thread has completed that copied pages into the database, for tests.
  uint64_t checkpoints() const { return checkpoints_.load(); }

  // Terminal job records are served from memory until the job is deleted.
  TerminalJobCache& finished_cache() { return finished_; }

 private:
  // ListJobsPage (whole jobs) or ListJobSummaries.
  Result<std::vector<JobRecord>> ListJobRows(const std::vector<JobState>& states, int limit,
                                             int64_t before_seq, bool summaries);
  struct PendingSubmit {
    JobRecord job;
    std::string queue;
    std::function<void(Status)> done;
    std::string spec_json;  // the stored spec (made by the submitter); empty for an array
  };
  class ReaderLease;  // borrows a reader connection for one read; see sqlite_store.cc

  // For sqlite_log_archive.cc: runs `body` with the writer's handle in a write transaction, or
  // with a reader's handle in a read transaction (one snapshot); StatusOf maps a result code.
  Status WithWriterDb(std::string_view op, const std::function<Status(sqlite3*)>& body);
  Status WithReaderDb(std::string_view op, const std::function<Status(sqlite3*)>& body);
  static Status StatusOf(sqlite3* db, int rc, std::string_view op);

  SqliteStore(Clock& clock, SqliteStoreOptions options, std::unique_ptr<SqliteConnection> writer,
              std::vector<std::unique_ptr<SqliteConnection>> readers,
              std::unique_ptr<SqliteConnection> checkpointer);

  void WriterLoop();
  void CompletionLoop();
  void CheckpointLoop();
  // The writer's WAL hook (sqlite3_wal_hook): after each commit, with the WAL's page count.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int pages);
  // Writes `batch` in one transaction; one Status per submission.
  std::vector<Status> CommitBatch(const std::vector<PendingSubmit>& batch);
  Status InsertSubmission(const PendingSubmit& sub, int64_t now_ms) REQUIRES(write_mu_);

  // Runs `body` with the writer in a write transaction shared by the grouped writes that
  // arrive while the writer is busy: the first of them commits for all (one fsync), each body in
  // a savepoint of its own, so that a body that fails (a refused transition, a missing job)
  // rolls back alone. A failed commit fails every body that succeeded in it.
  struct GroupedWrite;
  Status WriteGrouped(std::string_view op, const std::function<Status(SqliteConnection&)>& body);
  void CommitGrouped(const std::vector<GroupedWrite*>& group);
  int64_t NowMillis() const;

  Clock& clock_;

  Result<JobRecord> ReadJobRow(std::string_view id);
  TerminalJobCache finished_;
  Mutex write_mu_;
  std::unique_ptr<SqliteConnection> writer_ GUARDED_BY(write_mu_);

  // Grouped writes waiting for a leader, and whether one is committing.
  Mutex group_mu_;
  std::condition_variable_any group_cv_;
  std::vector<GroupedWrite*> group_queue_ GUARDED_BY(group_mu_);
  bool group_leading_ GUARDED_BY(group_mu_) = false;

  Mutex readers_mu_;
  std::condition_variable_any readers_cv_;
  std::vector<std::unique_ptr<SqliteConnection>> idle_readers_ GUARDED_BY(readers_mu_);

  Mutex pending_mu_;
  std::condition_variable_any pending_cv_;
  std::vector<PendingSubmit> pending_ GUARDED_BY(pending_mu_);
  bool stopping_ GUARDED_BY(pending_mu_) = false;

  // Committed batches whose callbacks have not run yet, each with one Status per submission.
  struct Completed {
    std::vector<PendingSubmit> batch;
    std::vector<Status> results;
  };
  Mutex completed_mu_;
  std::condition_variable_any completed_cv_;
  std::vector<Completed> completed_ GUARDED_BY(completed_mu_);
  bool writer_done_ GUARDED_BY(completed_mu_) = false;

  const SqliteStoreOptions options_;
  std::unique_ptr<SqliteConnection> checkpointer_;  // used only by the checkpoint thread
  Mutex checkpoint_mu_;
  std::condition_variable_any checkpoint_cv_;
  // A checkpoint goes Idle -> Requested (a commit left the WAL past checkpoint_pages) -> TailDue
  // (the checkpoint thread copied the WAL) -> Idle (the next commit copied what came meanwhile).
  enum class CheckpointPhase { kIdle, kRequested, kTailDue };
  CheckpointPhase checkpoint_phase_ GUARDED_BY(checkpoint_mu_) = CheckpointPhase::kIdle;
  int wal_pages_ GUARDED_BY(checkpoint_mu_) = 0;  // the WAL's size at the request
  bool checkpoint_stopping_ GUARDED_BY(checkpoint_mu_) = false;

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> checkpoints_{0};
  // Last: they start after everything above exists.
  std::thread checkpoint_thread_;
  std::thread completion_thread_;
  std::thread writer_thread_;
};

}  // namespace berth
