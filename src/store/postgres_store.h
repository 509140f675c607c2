// PostgresStore: the scale-out Store engine, one PostgreSQL database shared by every node.
//
// It owns a pool of libpq connections. SubmitJob only queues the submission; a submitter
// thread sends every queued submission in one pipelined transaction (one round trip, one
// commit: group commit) and then runs their callbacks. Several submitters (each with its own
// connection) keep several such commits in flight, which the server flushes together. The other
// writes borrow a pooled connection, one transaction each; state changes are compare-and-set
// UPDATEs (AllowedSources in job/job.h) and claims take rows with FOR UPDATE SKIP LOCKED, so any
// number of nodes share the queue. Every transaction that makes a message visible sends NOTIFY
// berth_queued; a listener thread calls the on_queued callback for each one, whichever node queued
// it.
//
// The schema is versioned (table berth_schema); Open runs the missing migrations under an
// advisory lock (nodes starting together migrate once) and refuses a schema newer than it knows.
//
// Files: postgres_store.cc (Store), postgres_trigger_store.cc (TriggerStore),
// postgres_log_archive.cc (LogArchive), postgres_sql.*
// (the SQL both share), postgres_schema.* (migrations), pg_connection.* (libpq).
//
// Thread-safe. The Clock passed to Open must outlive the store. SubmitJob callbacks run on
// a submitter thread, so they must not wait for another submission. The destructor commits the
// submissions still queued, runs their callbacks, and stops its threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "store/key_rows.h"
#include "store/log_archive.h"
#include "store/pg_connection.h"
#include "store/store.h"
#include "store/store_import.h"
#include "store/trigger_store.h"

namespace berth {

struct PostgresStoreOptions {
  // Pooled connections for reads and single writes. Default 8: as many statements in flight at
  // once; each costs a server process (mind max_connections, 100 by default, across nodes).
  int connections = 8;
  // Submitter threads, each with its own connection and one group commit in flight. Default 2:
  // while one batch waits for its commit the next one is sent (the server flushes both in one
  // WAL write). 1 = strictly one commit at a time.
  int submitters = 2;
};

class PostgresStore : public Store,
                      public TriggerStore,
                      public LogArchive,
                      public KeyRows,
                      public StoreImport {
 public:
  // Connects with `conninfo` (a libpq URI or key=value string; passwords the libpq ways: in
  // the string, PGPASSWORD, PGPASSFILE), migrates the schema, and starts the submitter and
  // listener threads. Unavailable when the server cannot be reached; FailedPrecondition when
  // the schema is newer than this build's.
  static Result<std::unique_ptr<PostgresStore>> Open(const std::string& conninfo, Clock& clock,
                                                     PostgresStoreOptions options = {});
  ~PostgresStore() override;

  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // Called (on the listener thread) with the queue's name each time any node makes a message
  // visible on it at once (a submit, a retry without delay, a release). Replaces the callback
  // set before; nullptr = none, and no call is in flight once it returns. The callback must be
  // quick and must not call SetOnQueued. Wake-ups may be merged or, after a lost connection,
  // missed: it is a hint to look now, not a count.
  void SetOnQueued(std::function<void(const std::string& queue)> on_queued);

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

  // LogArchive (postgres_log_archive.cc).
  Status AppendLog(std::string_view job_id, uint64_t offset, std::string_view data,
                   uint64_t keep_bytes) override;
  Result<uint64_t> StoredLogEnd(std::string_view job_id) override;
  Result<LogChunk> ReadLogFrom(std::string_view job_id, uint64_t offset, size_t max_bytes) override;
  Result<JobLog> ReadLogTail(std::string_view job_id, size_t max_bytes) override;

  // KeyRows (postgres_keys.cc).
  Result<std::vector<KeyRow>> ListKeyRows() override;
  Result<bool> PutKeyRow(std::string_view scope, std::string_view name,
                         std::string_view value) override;
  Result<std::string> InsertKeyRowIfAbsent(std::string_view scope, std::string_view name,
                                           std::string_view value) override;
  Status DeleteKeyRow(std::string_view scope, std::string_view name) override;

  // StoreImport (postgres_import.cc).
  Status ImportJob(const ImportedJob& imported) override;
  Status ImportSchedule(const ScheduleRecord& schedule) override;

  // Group-commit transactions committed so far, for tests and metrics.
  uint64_t commits() const { return commits_.load(); }

 private:
  // ListJobsPage (whole jobs) or ListJobSummaries.
  Result<std::vector<JobRecord>> ListJobRows(const std::vector<JobState>& states, int limit,
                                             int64_t before_seq, bool summaries);
  struct PendingSubmit {
    JobRecord job;
    std::string queue;
    std::function<void(Status)> done;
  };

  PostgresStore(Clock& clock, std::unique_ptr<PgPool> pool,
                std::vector<std::unique_ptr<PgConnection>> submitters,
                std::unique_ptr<PgConnection> listener, UniqueFd stop_event);

  void SubmitterLoop(PgConnection& conn);
  // Commits `batch` (one transaction for its plain jobs, one each for arrays); one Status each.
  std::vector<Status> CommitBatch(PgConnection& conn, const std::vector<PendingSubmit>& batch);
  void ListenerLoop();
  // Runs `body` in one REPEATABLE READ, READ ONLY transaction (one snapshot) on a pooled
  // connection (postgres_log_archive.cc).
  Status ReadSnapshot(std::string_view op, const std::function<Status(PgConnection&)>& body);
  // Runs `body` in a transaction on a pooled connection.
  Status Write(std::string_view op, const std::function<Status(PgConnection&)>& body);
  int64_t NowMillis() const;

  Clock& clock_;
  std::unique_ptr<PgPool> pool_;
  std::vector<std::unique_ptr<PgConnection>> submitters_;  // one per submitter thread
  std::unique_ptr<PgConnection> listener_;                 // the listener thread's own

  Mutex on_queued_mu_;
  std::function<void(const std::string&)> on_queued_ GUARDED_BY(on_queued_mu_);

  Mutex pending_mu_;
  std::condition_variable_any pending_cv_;
  std::vector<PendingSubmit> pending_ GUARDED_BY(pending_mu_);
  bool stopping_ GUARDED_BY(pending_mu_) = false;

  std::atomic<uint64_t> commits_{0};
  UniqueFd stop_event_;  // an eventfd: wakes the listener to stop
  std::atomic<bool> listener_stop_{false};
  std::vector<std::thread> submitter_threads_;  // last: start after everything above exists
  std::thread listener_thread_;
};

}  // namespace berth
