#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <map>
#include <utility>

#include "common/log.h"
#include "common/random.h"
#include "job/job_spec.h"
#include "store/sqlite_connection.h"
#include "store/wal_coalescing_vfs.h"

namespace berth {
namespace {

constexpr int kSchemaVersion = 7;

constexpr const char* kSchema = R"sql(
CREATE TABLE jobs(
  id TEXT PRIMARY KEY,
  spec TEXT NOT NULL,           -- JobSpecToJson(spec, include_secrets=true)
  image TEXT NOT NULL,
  state TEXT NOT NULL,
  exit_code INTEGER,
  reason TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,  -- unix ms
  started_at INTEGER,
  finished_at INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  seq INTEGER NOT NULL,         -- submission order; ListJobs is newest (highest) first
  idempotency_key TEXT,         -- the client's Idempotency-Key, NULL when none
  history TEXT NOT NULL DEFAULT '[]',  -- AttemptsToJson: finished runs
  cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs(idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX jobs_seq ON jobs(seq);
CREATE INDEX jobs_state_seq ON jobs(state, seq);
CREATE TABLE messages(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  dequeue_count INTEGER NOT NULL DEFAULT 0,
  pop_receipt TEXT,             -- NULL while nobody holds it
  inserted_at INTEGER NOT NULL,
  next_visible INTEGER NOT NULL
);
CREATE INDEX messages_queue_visible ON messages(queue, next_visible, id);
CREATE INDEX messages_job ON messages(job_id);
PRAGMA user_version = 2;
)sql";

// From schema 1 (no idempotency keys, attempt history or cancel requests) to 2.
constexpr const char* kMigrateV1 = R"sql(
ALTER TABLE jobs ADD COLUMN idempotency_key TEXT;
ALTER TABLE jobs ADD COLUMN history TEXT NOT NULL DEFAULT '[]';
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX jobs_idempotency ON jobs(idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE finished_at IS NOT NULL;
PRAGMA user_version = 2;
)sql";

// From schema 2 to 3: schedules (triggers/), and the schedule that made a job.
constexpr const char* kMigrateV2 = R"sql(
ALTER TABLE jobs ADD COLUMN schedule TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN scheduled_at INTEGER;
CREATE TABLE schedules(
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,               -- ScheduleSpecToJson(spec, include_secrets=true)
  created_at INTEGER NOT NULL,      -- unix ms
  updated_at INTEGER NOT NULL,
  handled_through INTEGER NOT NULL, -- every firing at or before this is handled
  last_fired_at INTEGER,
  last_job_id TEXT NOT NULL DEFAULT '',
  fired_count INTEGER NOT NULL DEFAULT 0,
  skipped_count INTEGER NOT NULL DEFAULT 0
);
PRAGMA user_version = 3;
)sql";

// From schema 3 to 4: the completion callbacks' outbox.
constexpr const char* kMigrateV3 = R"sql(
ALTER TABLE jobs ADD COLUMN callback_url TEXT NOT NULL DEFAULT '';
CREATE TABLE callbacks(
  job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
  url TEXT NOT NULL,
  state TEXT NOT NULL,              -- Pending, Delivered, Failed
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,          -- while Pending: due then (a claim pushes it out)
  last_error TEXT NOT NULL DEFAULT '',
  delivered_at INTEGER,
  created_at INTEGER NOT NULL
);
CREATE INDEX callbacks_due ON callbacks(next_attempt_at) WHERE state = 'Pending';
PRAGMA user_version = 4;
)sql";

// From schema 4 to 5: job arrays. A parent counts its children as they end.
constexpr const char* kMigrateV4 = R"sql(
ALTER TABLE jobs ADD COLUMN parent_id TEXT;
ALTER TABLE jobs ADD COLUMN array_index INTEGER;
ALTER TABLE jobs ADD COLUMN array_count INTEGER NOT NULL DEFAULT 0;  -- a parent: its children
ALTER TABLE jobs ADD COLUMN array_queue TEXT NOT NULL DEFAULT '';    -- where they are queued
ALTER TABLE jobs ADD COLUMN array_ended INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN array_succeeded INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_parent ON jobs(parent_id, array_index) WHERE parent_id IS NOT NULL;
PRAGMA user_version = 5;
)sql";

// From schema 5 to 6: many nodes (issue 11). The node that owns a job while it starts or runs;
// the nodes' heartbeats; logs shipped from the workers in chunks; keys kept in the store.
constexpr const char* kMigrateV5 = R"sql(
ALTER TABLE jobs ADD COLUMN node TEXT NOT NULL DEFAULT '';  -- owner while Pending/Running
CREATE INDEX jobs_node ON jobs(node, state) WHERE node <> '';
CREATE TABLE nodes(
  id TEXT PRIMARY KEY,              -- NodeId
  role TEXT NOT NULL,               -- all, api, worker
  version TEXT NOT NULL DEFAULT '',
  started_at INTEGER NOT NULL,      -- unix ms
  heartbeat_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL,     -- lost once this passes without a heartbeat
  jobs_running INTEGER NOT NULL DEFAULT 0,
  capacity INTEGER NOT NULL DEFAULT 0,
  lost_at INTEGER                   -- set when another node handled its loss
);
CREATE TABLE job_logs(
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  stream_offset INTEGER NOT NULL,   -- bytes of the job's output before this chunk
  data BLOB NOT NULL,
  PRIMARY KEY(job_id, stream_offset)
);
CREATE TABLE keys(
  scope TEXT NOT NULL,              -- '' = host (and _master), else the function
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY(scope, name)
);
PRAGMA user_version = 6;
)sql";

// From schema 6 to 7: a message names its job by the job's seq as well as its id, and the index
// that finds a job's messages (and the delete's cascade) uses the seq. Ids are random UUIDs: that
// index took a random page per submit, written to the WAL and checkpointed, where the seq
// appends. Databases migrated from schema 1 get the unique index the foreign key needs.
constexpr const char* kMigrateV6 = R"sql(
CREATE UNIQUE INDEX IF NOT EXISTS jobs_seq ON jobs(seq);
CREATE TABLE messages_v7(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  job_id TEXT NOT NULL,
  job_seq INTEGER NOT NULL REFERENCES jobs(seq) ON DELETE CASCADE,
  dequeue_count INTEGER NOT NULL DEFAULT 0,
  pop_receipt TEXT,             -- NULL while nobody holds it
  inserted_at INTEGER NOT NULL,
  next_visible INTEGER NOT NULL
);
-- Message ids go on from where they were (AUTOINCREMENT never reuses one).
INSERT INTO sqlite_sequence(name, seq) SELECT 'messages_v7', seq FROM sqlite_sequence
  WHERE name = 'messages';
INSERT INTO messages_v7(id, queue, job_id, job_seq, dequeue_count, pop_receipt, inserted_at,
                        next_visible)
  SELECT m.id, m.queue, m.job_id, j.seq, m.dequeue_count, m.pop_receipt, m.inserted_at,
         m.next_visible
  FROM messages m JOIN jobs j ON j.id = m.job_id;
DROP TABLE messages;
ALTER TABLE messages_v7 RENAME TO messages;
CREATE INDEX messages_queue_visible ON messages(queue, next_visible, id);
CREATE INDEX messages_job ON messages(job_seq);
PRAGMA user_version = 7;
)sql";

// Migrations in order: kMigrations[v - 1] takes schema v to v + 1.
constexpr const char* kMigrations[] = {kMigrateV1, kMigrateV2, kMigrateV3,
                                       kMigrateV4, kMigrateV5, kMigrateV6};

constexpr const char* kJobColumns =
    "id, spec, state, exit_code, reason, created_at, started_at, finished_at, attempts, "
    "idempotency_key, history, cancel_requested, seq, schedule, scheduled_at, parent_id, "
    "array_index, node";
// A listing's columns (Store::ListJobSummaries): kJobColumns with the spec replaced by what a
// list shows of it, so that a page never parses the specs (up to 1 MiB each) it does not show.
// Only an array's spec is looked into, for two small fields.
constexpr const char* kJobSummaryColumns =
    "id, image, state, exit_code, reason, created_at, started_at, finished_at, attempts, "
    "idempotency_key, history, cancel_requested, seq, schedule, scheduled_at, parent_id, "
    "array_index, callback_url, array_count, "
    "CASE WHEN array_count > 0 THEN json_extract(spec, '$.parallelism') END, "
    "CASE WHEN array_count > 0 THEN json_extract(spec, '$.completionPolicy') END, node";
constexpr const char* kMessageColumns =
    "id, queue, job_id, dequeue_count, pop_receipt, inserted_at, next_visible";

using sqlite::OptMillis;
using sqlite::OptTime;
using sqlite::SqliteStatus;
using sqlite::Statement;

// Creates the database file with mode 0600 when it does not exist (it holds job secrets); SQLite
// gives its -wal and -shm files the same mode.
Status CreatePrivateFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create " + path.string(), errno);
  ::close(fd);
  return Status::Ok();
}

Result<int64_t> QueryInt(SqliteConnection& conn, const std::string& sql, std::string_view op) {
  ASSIGN_OR_RETURN(Statement st, conn.Prepare(sql, op));
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::Internal("sqlite: " + std::string(op) + ": no row");
  return st.Int(0);
}

// WAL, fsync on every commit, foreign keys; then the schema, created or checked.
Status PrepareWriter(SqliteConnection& conn) {
  {
    ASSIGN_OR_RETURN(Statement st, conn.Prepare("PRAGMA journal_mode=WAL", "enable WAL"));
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row || st.Text(0) != "wal") {
      return Status::FailedPrecondition("sqlite: enable WAL: the database stays in mode '" +
                                        (row ? st.Text(0) : std::string()) + "'");
    }
  }
  RETURN_IF_ERROR(conn.Exec(
      "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON", "set pragmas"));
  return conn.InTransaction("create schema", [&conn]() -> Status {
    ASSIGN_OR_RETURN(int64_t version, QueryInt(conn, "PRAGMA user_version", "read schema version"));
    if (version > kSchemaVersion || version < 0) {
      return Status::FailedPrecondition("sqlite: schema version " + std::to_string(version) +
                                        " is not " + std::to_string(kSchemaVersion) +
                                        " (a newer berth wrote this database?)");
    }
    if (version == 0) {
      RETURN_IF_ERROR(conn.Exec(kSchema, "create schema"));
      version = 2;
    }
    for (; version < kSchemaVersion; ++version) {
      RETURN_IF_ERROR(conn.Exec(
          kMigrations[version - 1],
          "migrate schema " + std::to_string(version) + " to " + std::to_string(version + 1)));
    }
    return Status::Ok();
  });
}

enum class JobRow { kFull, kSummary };

// Reads a row selected with kJobColumns (kFull) or kJobSummaryColumns (kSummary).
Result<JobRecord> JobFromRow(const Statement& st, JobRow kind = JobRow::kFull) {
  JobRecord job;
  job.id = st.Text(0);
  if (kind == JobRow::kFull) {
    Result<JobSpec> spec = ParseJobSpec(st.Text(1));
    if (!spec.ok()) return spec.status().WithContext("sqlite: stored spec of job " + job.id);
    job.spec = std::move(spec).value();
  } else {
    job.spec.image = st.Text(1);
    job.spec.callback_url = st.Text(17);
    job.spec.count = static_cast<int>(st.Int(18));
    job.spec.parallelism = static_cast<int>(st.OptInt(19).value_or(0));
    if (st.Text(20) == "Any") job.spec.completion_policy = CompletionPolicy::kAny;
  }
  std::optional<JobState> state = ParseJobState(st.Text(2));
  if (!state) return Status::Internal("sqlite: job " + job.id + ": bad state " + st.Text(2));
  job.state = *state;
  if (std::optional<int64_t> code = st.OptInt(3)) job.exit_code = static_cast<int>(*code);
  job.reason = st.Text(4);
  job.created_at = FromUnixMillis(st.Int(5));
  job.started_at = OptTime(st.OptInt(6));
  job.finished_at = OptTime(st.OptInt(7));
  job.attempts = static_cast<int>(st.Int(8));
  job.idempotency_key = st.Text(9);
  Result<std::vector<AttemptRecord>> history = AttemptsFromJson(st.Text(10));
  if (!history.ok()) return history.status().WithContext("sqlite: job " + job.id);
  job.history = std::move(history).value();
  job.cancel_requested = st.Int(11) != 0;
  job.seq = st.Int(12);
  job.schedule = st.Text(13);
  job.scheduled_at = OptTime(st.OptInt(14));
  job.parent_id = st.Text(15);
  if (std::optional<int64_t> i = st.OptInt(16)) job.array_index = static_cast<int>(*i);
  job.node = st.Text(kind == JobRow::kFull ? 17 : 21);
  return job;
}

// Reads a row selected with kMessageColumns.
QueueMessage MessageFromRow(const Statement& st) {
  QueueMessage m;
  m.id = st.Int(0);
  m.queue = st.Text(1);
  m.job_id = st.Text(2);
  m.dequeue_count = static_cast<int>(st.Int(3));
  m.pop_receipt = st.Text(4);
  m.inserted_at = FromUnixMillis(st.Int(5));
  m.next_visible = FromUnixMillis(st.Int(6));
  return m;
}

// Writes the completion callback's outbox row of job `id` (when it has a callbackUrl) as it
// ends: inside the transaction that makes it terminal, so an ended job's callback is never lost.
Status EnqueueCallback(SqliteConnection& conn, std::string_view id, int64_t now_ms) {
  ASSIGN_OR_RETURN(Statement ins,
                   conn.Prepare("INSERT OR IGNORE INTO callbacks(job_id, url, state, attempts, "
                                "next_attempt_at, created_at) SELECT id, callback_url, 'Pending', "
                                "0, ?2, ?2 FROM jobs WHERE id=?1 AND callback_url != ''",
                                "enqueue callback"));
  ins.Bind(1, id).Bind(2, now_ms);
  return ins.Run();
}

// Inserts a message for job `id` on `queue`, visible at `visible_ms` (inside the caller's
// transaction). The job's seq is looked up unless given. A job that is not there fails the
// insert (its seq is NULL).
Status InsertMessage(SqliteConnection& conn, std::string_view id, std::string_view queue,
                     int64_t now_ms, int64_t visible_ms,
                     std::optional<int64_t> seq = std::nullopt) {
  ASSIGN_OR_RETURN(Statement msg, conn.Prepare("INSERT INTO messages(queue, job_id, job_seq, "
                                               "inserted_at, next_visible) VALUES(?1, ?2, "
                                               "COALESCE(?5, (SELECT seq FROM jobs WHERE id=?2)), "
                                               "?3, ?4)",
                                               "insert message"));
  msg.Bind(1, queue).Bind(2, id).Bind(3, now_ms).Bind(4, visible_ms).Bind(5, seq);
  return msg.Run();
}

// Deletes the messages of job `id` (inside the caller's transaction).
Status DeleteMessages(SqliteConnection& conn, std::string_view id) {
  ASSIGN_OR_RETURN(Statement del,
                   conn.Prepare("DELETE FROM messages WHERE job_seq=(SELECT seq FROM jobs "
                                "WHERE id=?1)",
                                "delete the job's messages"));
  return del.Bind(1, id).Run();
}

// A child of array `parent` moved to `to` (Running or a terminal state), inside the
// transaction that moved it: the parent starts Running with its first child; when a child
// ends, the next waiting child gets its message (unless the array is being canceled), the
// parent counts it, and the last one ends the parent (completionPolicy) and its callback.
Status ChildMoved(SqliteConnection& conn, std::string_view parent, JobState to, int64_t now_ms) {
  if (to == JobState::kRunning) {
    ASSIGN_OR_RETURN(Statement up, conn.Prepare("UPDATE jobs SET state='Running', "
                                                "started_at=COALESCE(started_at, ?2) "
                                                "WHERE id=?1 AND state='Queued'",
                                                "array: parent running"));
    return up.Bind(1, parent).Bind(2, now_ms).Run();
  }
  {
    ASSIGN_OR_RETURN(Statement up, conn.Prepare("UPDATE jobs SET array_ended=array_ended+1, "
                                                "array_succeeded=array_succeeded+?2 WHERE id=?1",
                                                "array: count ended child"));
    RETURN_IF_ERROR(up.Bind(1, parent).Bind(2, int64_t{to == JobState::kSucceeded}).Run());
  }
  ASSIGN_OR_RETURN(Statement st, conn.Prepare("SELECT array_ended, array_count, array_succeeded, "
                                              "cancel_requested, array_queue, spec, state "
                                              "FROM jobs WHERE id=?1",
                                              "array: read parent"));
  st.Bind(1, parent);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::Ok();  // the parent is gone (retention): nothing to count on
  int64_t ended = st.Int(0), count = st.Int(1), succeeded = st.Int(2);
  bool canceling = st.Int(3) != 0;
  std::string queue = st.Text(4);
  std::string spec_json = st.Text(5);
  bool parent_terminal = IsTerminal(ParseJobState(st.Text(6)).value_or(JobState::kQueued));
  if (!canceling && !parent_terminal) {
    ASSIGN_OR_RETURN(Statement next, conn.Prepare("SELECT id FROM jobs j WHERE parent_id=?1 AND "
                                                  "state='Queued' AND NOT EXISTS (SELECT 1 FROM "
                                                  "messages m WHERE m.job_seq=j.seq) ORDER BY "
                                                  "array_index LIMIT 1",
                                                  "array: next waiting child"));
    next.Bind(1, parent);
    ASSIGN_OR_RETURN(bool waiting, next.Step());
    if (waiting) {
      std::string id = next.Text(0);
      RETURN_IF_ERROR(InsertMessage(conn, id, queue, now_ms, now_ms));
    }
  }
  if (ended < count || parent_terminal) return Status::Ok();
  Result<JobSpec> spec = ParseJobSpec(spec_json);
  bool any = spec.ok() && spec->completion_policy == CompletionPolicy::kAny;
  JobState final_state = canceling                                    ? JobState::kCanceled
                         : (any ? succeeded > 0 : succeeded == count) ? JobState::kSucceeded
                                                                      : JobState::kFailed;
  std::string reason = std::to_string(succeeded) + " of " + std::to_string(count) +
                       " children succeeded" + (canceling ? " (canceled)" : "");
  ASSIGN_OR_RETURN(Statement fin, conn.Prepare("UPDATE jobs SET state=?2, reason=?3, "
                                               "finished_at=?4, started_at=COALESCE(started_at, "
                                               "?4) WHERE id=?1",
                                               "array: end parent"));
  fin.Bind(1, parent).Bind(2, ToString(final_state)).Bind(3, reason).Bind(4, now_ms);
  RETURN_IF_ERROR(fin.Run());
  return EnqueueCallback(conn, parent, now_ms);
}

// Sets a job's status if the job state machine allows the move (AllowedSources, CanMove): a
// compare-and-set on the stored state (and, for Pending, on cancel_requested). Runs inside the
// caller's transaction.
Status ApplyJobStatus(SqliteConnection& conn, std::string_view id, const JobStatusUpdate& u,
                      int64_t now_ms) {
  std::vector<JobState> from = AllowedSources(u.state);
  {
    // One statement per target state (the source list is part of the SQL, prepared once each).
    std::string sql =
        "UPDATE jobs SET state=?2, exit_code=COALESCE(?3, exit_code), reason=?4, "
        "started_at=COALESCE(?5, started_at), finished_at=COALESCE(?6, finished_at), "
        "attempts=?7, history=COALESCE(?8, history), node=COALESCE(?9, node) "
        "WHERE id=?1 AND (?10 IS NULL OR node=?10) AND state IN (";
    for (size_t i = 0; i < from.size(); ++i) {
      sql += (i ? ", '" : "'") + std::string(ToString(from[i])) + "'";
    }
    // A job array's parent moves only with its children (ChildMoved, RequestCancel).
    sql += ") AND array_count=0";
    if (u.state == JobState::kPending) sql += " AND cancel_requested=0";
    ASSIGN_OR_RETURN(Statement st, conn.Prepare(sql, "update job status"));
    std::optional<int64_t> code;
    if (u.exit_code) code = *u.exit_code;
    st.Bind(1, id).Bind(2, ToString(u.state)).Bind(3, code).Bind(4, u.reason);
    st.Bind(5, OptMillis(u.started_at)).Bind(6, OptMillis(u.finished_at));
    st.Bind(7, int64_t{u.attempts});
    if (u.history) {
      st.Bind(8, AttemptsToJson(*u.history));
    } else {
      st.BindNull(8);
    }
    if (u.node) {
      st.Bind(9, *u.node);
    } else {
      st.BindNull(9);
    }
    if (u.expect_node) {
      st.Bind(10, *u.expect_node);
    } else {
      st.BindNull(10);
    }
    RETURN_IF_ERROR(st.Run());
    if (st.Changes() > 0) {
      if (u.state != JobState::kRunning && !IsTerminal(u.state)) return Status::Ok();
      ASSIGN_OR_RETURN(Statement p,
                       conn.Prepare("SELECT parent_id FROM jobs WHERE id=?1", "read parent id"));
      p.Bind(1, id);
      ASSIGN_OR_RETURN(bool has, p.Step());
      std::string parent = has ? p.Text(0) : "";
      if (!parent.empty()) RETURN_IF_ERROR(ChildMoved(conn, parent, u.state, now_ms));
      if (!IsTerminal(u.state)) return Status::Ok();
      return EnqueueCallback(conn, id, now_ms);
    }
  }
  ASSIGN_OR_RETURN(Statement st,
                   conn.Prepare("SELECT state, cancel_requested, array_count, node FROM jobs "
                                "WHERE id=?1",
                                "read job"));
  st.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("job " + std::string(id) + " does not exist");
  if (u.expect_node && st.Text(3) != *u.expect_node) {
    return NotOwner(id, *u.expect_node, st.Text(3));
  }
  if (st.Int(2) > 0) {
    return Status::FailedPrecondition("job " + std::string(id) +
                                      " is a job array: its state follows its children");
  }
  return TransitionRefused(id, st.Text(0), u.state, st.Int(1) != 0);
}

// Inserts `job`'s row, its spec stored as `spec_json` (JobSpecToJson with the secrets), inside
// the caller's transaction; returns the seq it got.
Result<int64_t> InsertJobRow(SqliteConnection& conn, const JobRecord& job, std::string_view queue,
                             std::string_view spec_json) {
  // The next seq is read first rather than returned by the insert (RETURNING): SQLite gathers
  // returned rows in a temporary table, made and dropped for every insert. Only the writer
  // inserts, inside its transaction, so the seq read is still free when the row goes in.
  int64_t seq = 0;
  {
    ASSIGN_OR_RETURN(Statement next, conn.Prepare("SELECT IFNULL(MAX(seq), 0) + 1 FROM jobs",
                                                  "submit job: next seq"));
    ASSIGN_OR_RETURN(bool row, next.Step());
    if (!row) return Status::Internal("sqlite: insert job " + job.id + ": no next seq");
    seq = next.Int(0);
  }
  ASSIGN_OR_RETURN(
      Statement ins,
      conn.Prepare("INSERT INTO jobs(id, spec, image, state, exit_code, reason, created_at, "
                   "started_at, finished_at, attempts, idempotency_key, history, seq, schedule, "
                   "scheduled_at, callback_url, parent_id, array_index, array_count, array_queue) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?20, ?13, ?14, ?15, "
                   "?16, ?17, ?18, ?19)",
                   "submit job: insert job"));
  std::optional<int64_t> code;
  if (job.exit_code) code = *job.exit_code;
  ins.Bind(1, job.id).Bind(2, spec_json);
  ins.Bind(3, job.spec.image).Bind(4, ToString(job.state)).Bind(5, code).Bind(6, job.reason);
  ins.Bind(7, ToUnixMillis(job.created_at)).Bind(8, OptMillis(job.started_at));
  ins.Bind(9, OptMillis(job.finished_at)).Bind(10, int64_t{job.attempts});
  if (job.idempotency_key.empty()) {
    ins.BindNull(11);
  } else {
    ins.Bind(11, job.idempotency_key);
  }
  ins.Bind(12, AttemptsToJson(job.history)).Bind(13, job.schedule);
  ins.Bind(14, OptMillis(job.scheduled_at)).Bind(15, job.spec.callback_url);
  if (job.parent_id.empty()) {
    ins.BindNull(16);
  } else {
    ins.Bind(16, job.parent_id);
  }
  std::optional<int64_t> index;
  if (job.array_index) index = *job.array_index;
  ins.Bind(17, index).Bind(18, int64_t{job.spec.count});
  ins.Bind(19, job.spec.count > 0 ? queue : std::string_view("")).Bind(20, seq);
  RETURN_IF_ERROR(ins.Run());
  return seq;
}

// Inserts `job` and, `with_message`, one message for it on `queue` (inside the caller's
// transaction).
Status InsertJob(SqliteConnection& conn, const JobRecord& job, std::string_view queue,
                 int64_t now_ms, bool with_message = true) {
  ASSIGN_OR_RETURN(int64_t seq, InsertJobRow(conn, job, queue,
                                             JobSpecToJson(job.spec, /*include_secrets=*/true)));
  if (!with_message) return Status::Ok();
  return InsertMessage(conn, job.id, queue, now_ms, now_ms, seq);
}

constexpr const char* kCallbackColumns =
    "job_id, url, state, attempts, next_attempt_at, last_error, delivered_at";

// Reads a row selected with kCallbackColumns.
Result<CallbackDelivery> CallbackFromRow(const Statement& st) {
  CallbackDelivery d;
  d.job_id = st.Text(0);
  d.status.url = st.Text(1);
  std::optional<CallbackState> state = ParseCallbackState(st.Text(2));
  if (!state) return Status::Internal("sqlite: callback of job " + d.job_id + ": bad state");
  d.status.state = *state;
  d.status.attempts = static_cast<int>(st.Int(3));
  if (d.status.state == CallbackState::kPending) d.status.next_attempt_at = OptTime(st.OptInt(4));
  d.status.last_error = st.Text(5);
  d.status.delivered_at = OptTime(st.OptInt(6));
  return d;
}

// The callback delivery of job `id`; nullopt before the job has ended.
Result<std::optional<CallbackStatus>> ReadCallback(SqliteConnection& conn, std::string_view id) {
  ASSIGN_OR_RETURN(Statement st, conn.Prepare(std::string("SELECT ") + kCallbackColumns +
                                                  " FROM callbacks WHERE job_id=?1",
                                              "read callback"));
  st.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<CallbackStatus>();
  ASSIGN_OR_RETURN(CallbackDelivery d, CallbackFromRow(st));
  return std::optional<CallbackStatus>(std::move(d.status));
}

// Writes job array `parent` (no message: it never runs itself) and its spec.count children,
// the first `parallelism` of them with a message on `queue`.
Status InsertArray(SqliteConnection& conn, const JobRecord& parent, std::string_view queue,
                   int64_t now_ms) {
  RETURN_IF_ERROR(InsertJob(conn, parent, queue, now_ms, /*with_message=*/false));
  const int n = parent.spec.count;
  const int running = parent.spec.parallelism > 0 ? std::min(parent.spec.parallelism, n) : n;
  JobRecord child;
  child.spec = parent.spec;
  child.spec.count = 0;
  child.spec.parallelism = 0;
  child.spec.completion_policy = CompletionPolicy::kAll;
  child.spec.callback_url.clear();  // the parent is called back, once, for the whole array
  child.spec.env["BERTH_JOB_COUNT"] = std::to_string(n);
  child.state = JobState::kQueued;
  child.created_at = parent.created_at;
  child.parent_id = parent.id;
  child.schedule = parent.schedule;
  for (int i = 0; i < n; ++i) {
    child.id = NewUuidV4();
    child.array_index = i;
    child.spec.env["BERTH_JOB_INDEX"] = std::to_string(i);
    RETURN_IF_ERROR(InsertJob(conn, child, queue, now_ms, /*with_message=*/i < running));
  }
  return Status::Ok();
}

// Cancels job array `parent` (inside the caller's transaction): its queued children end
// Canceled at once (their messages go), the starting and running ones get cancel_requested (the
// caller stops them), and the parent ends Canceled when no child is left running.
Status CancelArray(SqliteConnection& conn, std::string_view parent, int64_t now_ms) {
  {
    ASSIGN_OR_RETURN(Statement del,
                     conn.Prepare("DELETE FROM messages WHERE job_seq IN (SELECT seq "
                                  "FROM jobs WHERE parent_id=?1 AND "
                                  "state='Queued')",
                                  "cancel array: delete messages"));
    RETURN_IF_ERROR(del.Bind(1, parent).Run());
  }
  int64_t canceled = 0;
  {
    ASSIGN_OR_RETURN(Statement up, conn.Prepare("UPDATE jobs SET state='Canceled', reason="
                                                "'Canceled before it started (array canceled)', "
                                                "finished_at=?2 WHERE parent_id=?1 AND "
                                                "state='Queued'",
                                                "cancel array: queued children"));
    RETURN_IF_ERROR(up.Bind(1, parent).Bind(2, now_ms).Run());
    canceled = up.Changes();
  }
  {
    ASSIGN_OR_RETURN(Statement up, conn.Prepare("UPDATE jobs SET cancel_requested=1 WHERE "
                                                "parent_id=?1 AND state IN ('Pending', "
                                                "'Running')",
                                                "cancel array: running children"));
    RETURN_IF_ERROR(up.Bind(1, parent).Run());
  }
  {
    ASSIGN_OR_RETURN(Statement up, conn.Prepare("UPDATE jobs SET cancel_requested=1, "
                                                "array_ended=array_ended+?2 WHERE id=?1",
                                                "cancel array: parent"));
    RETURN_IF_ERROR(up.Bind(1, parent).Bind(2, canceled).Run());
  }
  ASSIGN_OR_RETURN(Statement st, conn.Prepare("SELECT array_ended, array_count, array_succeeded "
                                              "FROM jobs WHERE id=?1",
                                              "cancel array: read parent"));
  st.Bind(1, parent);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row || st.Int(0) < st.Int(1)) return Status::Ok();
  std::string reason = std::to_string(st.Int(2)) + " of " + std::to_string(st.Int(1)) +
                       " children succeeded (canceled)";
  ASSIGN_OR_RETURN(Statement fin, conn.Prepare("UPDATE jobs SET state='Canceled', reason=?2, "
                                               "finished_at=?3 WHERE id=?1",
                                               "cancel array: end parent"));
  RETURN_IF_ERROR(fin.Bind(1, parent).Bind(2, reason).Bind(3, now_ms).Run());
  return EnqueueCallback(conn, parent, now_ms);
}

Status StaleReceipt(const QueueMessage& msg) {
  return Status::FailedPrecondition("message " + std::to_string(msg.id) + " of job " + msg.job_id +
                                    ": pop receipt is stale (lease lost or message gone)");
}

// Runs a write that names the message by id and pop receipt; FailedPrecondition when no row
// matched. `sql` binds ?1 = id, ?2 = receipt, ?3 and on from `extra`.
Status WriteWithReceipt(SqliteConnection& conn, const std::string& sql, std::string_view op,
                        const QueueMessage& msg, const std::vector<int64_t>& extra) {
  ASSIGN_OR_RETURN(Statement st, conn.Prepare(sql, op));
  st.Bind(1, msg.id).Bind(2, msg.pop_receipt);
  for (size_t i = 0; i < extra.size(); ++i) st.Bind(static_cast<int>(i) + 3, extra[i]);
  RETURN_IF_ERROR(st.Run());
  return st.Changes() > 0 ? Status::Ok() : StaleReceipt(msg);
}

}  // namespace

// Borrows an idle reader connection for one read, waiting when all are in use.
class SqliteStore::ReaderLease {
 public:
  explicit ReaderLease(SqliteStore& store) : store_(store) {
    MutexLock lock(store_.readers_mu_);
    while (store_.idle_readers_.empty()) store_.readers_cv_.wait(lock);
    conn_ = std::move(store_.idle_readers_.back());
    store_.idle_readers_.pop_back();
  }
  ~ReaderLease() {
    {
      MutexLock lock(store_.readers_mu_);
      store_.idle_readers_.push_back(std::move(conn_));
    }
    store_.readers_cv_.notify_one();
  }
  ReaderLease(const ReaderLease&) = delete;
  ReaderLease& operator=(const ReaderLease&) = delete;

  SqliteConnection* operator->() { return conn_.get(); }
  SqliteConnection& operator*() { return *conn_; }

 private:
  SqliteStore& store_;
  std::unique_ptr<SqliteConnection> conn_;
};

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::filesystem::path& db_path,
                                                       Clock& clock, SqliteStoreOptions options) {
  if (options.reader_connections < 1) {
    return Status::InvalidArgument("sqlite: reader_connections must be at least 1");
  }
  if (options.writer_cache_kib < 1) {
    return Status::InvalidArgument("sqlite: writer_cache_kib must be at least 1");
  }
  if (options.checkpoint_pages < 1 || options.wal_limit_pages < options.checkpoint_pages) {
    return Status::InvalidArgument(
        "sqlite: checkpoint_pages must be at least 1 and wal_limit_pages at least that");
  }
  RETURN_IF_ERROR(CreatePrivateFile(db_path));
  // The writer's frames of a commit go to the WAL in one write when the commit is whole.
  ASSIGN_OR_RETURN(std::string writer_vfs, sqlite::WalCoalescingVfs(options.vfs));
  ASSIGN_OR_RETURN(
      std::unique_ptr<SqliteConnection> writer,
      SqliteConnection::Open(db_path, SQLITE_OPEN_READWRITE, options.busy_timeout, writer_vfs));
  RETURN_IF_ERROR(PrepareWriter(*writer));
  std::string cache_size = "PRAGMA cache_size=-" + std::to_string(options.writer_cache_kib);
  RETURN_IF_ERROR(writer->Exec(cache_size.c_str(), "size the writer's page cache"));
  std::vector<std::unique_ptr<SqliteConnection>> readers;
  for (int i = 0; i < options.reader_connections; ++i) {
    ASSIGN_OR_RETURN(
        std::unique_ptr<SqliteConnection> reader,
        SqliteConnection::Open(db_path, SQLITE_OPEN_READONLY, options.busy_timeout, options.vfs));
    readers.push_back(std::move(reader));
  }
  ASSIGN_OR_RETURN(
      std::unique_ptr<SqliteConnection> checkpointer,
      SqliteConnection::Open(db_path, SQLITE_OPEN_READWRITE, options.busy_timeout, options.vfs));
  // Reading the journal mode opens the WAL on this connection (else its checkpoints do nothing);
  // FULL: a checkpoint fsyncs the database before the WAL may start over.
  RETURN_IF_ERROR(checkpointer->Exec("PRAGMA journal_mode; PRAGMA synchronous=FULL",
                                     "prepare the checkpoint connection"));
  return std::unique_ptr<SqliteStore>(new SqliteStore(clock, options, std::move(writer),
                                                      std::move(readers), std::move(checkpointer)));
}

SqliteStore::SqliteStore(Clock& clock, SqliteStoreOptions options,
                         std::unique_ptr<SqliteConnection> writer,
                         std::vector<std::unique_ptr<SqliteConnection>> readers,
                         std::unique_ptr<SqliteConnection> checkpointer)
    : clock_(clock),
      writer_(std::move(writer)),
      idle_readers_(std::move(readers)),
      options_(std::move(options)),
      checkpointer_(std::move(checkpointer)),
      checkpoint_thread_([this] { CheckpointLoop(); }),
      completion_thread_([this] { CompletionLoop(); }),
      writer_thread_([this] { WriterLoop(); }) {
  // Replaces SQLite's auto-checkpoint, which would run on the writer after a commit and hold the
  // next commits back while it writes and fsyncs the database file. Nothing commits before the
  // constructor returns.
  MutexLock lock(write_mu_);
  sqlite3_wal_hook(writer_->db(), &SqliteStore::OnWalCommit, this);
}

namespace {

// Fsyncs the database file of `db`'s connection through its VFS.
bool SyncDatabase(sqlite3* db) {
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK ||
      file == nullptr || file->pMethods == nullptr) {
    return false;
  }
  return file->pMethods->xSync(file, SQLITE_SYNC_NORMAL) == SQLITE_OK;
}

}  // namespace

int SqliteStore::OnWalCommit(void* self, sqlite3* db, const char*, int pages) {
  auto* store = static_cast<SqliteStore*>(self);
  store->commits_.fetch_add(1);
  MutexLock lock(store->checkpoint_mu_);
  if (store->checkpoint_phase_ == CheckpointPhase::kTailDue) {
    // The checkpoint thread copied the bulk of the WAL; the few pages committed since are copied
    // here, on the writer (no other writer can add more meanwhile), so that the next write
    // transaction starts the WAL over instead of growing it.
    store->checkpoint_phase_ = CheckpointPhase::kIdle;
    lock.unlock();
    int copied = 0;
    if (sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, &copied) ==
            SQLITE_OK &&
        copied > 0) {
      store->checkpoints_.fetch_add(1);
    }
    return SQLITE_OK;
  }
  if (store->checkpoint_phase_ == CheckpointPhase::kIdle &&
      pages >= store->options_.checkpoint_pages) {
    store->checkpoint_phase_ = CheckpointPhase::kRequested;
    store->wal_pages_ = pages;
    store->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteStore::CheckpointLoop() {
  MutexLock lock(checkpoint_mu_);
  for (;;) {
    while (!checkpoint_stopping_ && checkpoint_phase_ != CheckpointPhase::kRequested) {
      checkpoint_cv_.wait(lock);
    }
    if (checkpoint_stopping_) return;
    int pages = wal_pages_;
    lock.unlock();
    sqlite3* db = checkpointer_->db();
    // Copies what the WAL holds into the database and fsyncs it, without the writer's lock
    // (PASSIVE); the next commit then copies the rest (OnWalCommit). Past the limit, TRUNCATE
    // waits (busy_timeout) for the writer and the readers, copies the rest and empties the WAL
    // file. A failure (busy, I/O) is left for a later commit's request to retry.
    bool truncate = pages >= options_.wal_limit_pages;
    int log = 0, copied = 0;  // the WAL's frames when the checkpoint began; those in the database
    bool ok = sqlite3_wal_checkpoint_v2(
                  db, nullptr, truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE,
                  &log, &copied) == SQLITE_OK;
    if (ok && copied > 0) checkpoints_.fetch_add(1);
    // SQLite fsyncs the database only when a pass reaches the WAL's end. Commits made during the
    // pass leave it short, and the fsync of everything it wrote would fall to whoever copies the
    // last frames: the writer's tail copy, a commit waiting for the disk. Synced here, the tail's
    // fsync has only the tail's few pages to write.
    if (ok && !truncate && copied > 0) ok = SyncDatabase(db);
    lock.lock();
    // The writer copies the tail only once this pass copied the whole WAL it saw. A pass held
    // back by a reader (one that began on an empty WAL blocks every copy) still answers OK: the
    // tail would be the whole WAL. A later commit asks again instead.
    bool whole = ok && log > 0 && copied == log;
    checkpoint_phase_ = whole && !truncate ? CheckpointPhase::kTailDue : CheckpointPhase::kIdle;
  }
}

Status SqliteStore::WithWriterDb(std::string_view op, const std::function<Status(sqlite3*)>& body) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  return writer.InTransaction(op, [&] { return body(writer.db()); });
}

Status SqliteStore::WithReaderDb(std::string_view op, const std::function<Status(sqlite3*)>& body) {
  ReaderLease reader(*this);
  RETURN_IF_ERROR(reader->Run("BEGIN", op));
  Status st = body(reader->db());
  reader->RollbackIfActive();  // a read-only transaction: ending it releases the snapshot
  return st;
}

Status SqliteStore::StatusOf(sqlite3* db, int rc, std::string_view op) {
  return SqliteStatus(db, rc, op);
}

SqliteStore::~SqliteStore() {
  {
    MutexLock lock(checkpoint_mu_);
    checkpoint_stopping_ = true;
  }
  checkpoint_cv_.notify_one();
  checkpoint_thread_.join();
  {
    MutexLock lock(pending_mu_);
    stopping_ = true;
  }
  pending_cv_.notify_one();
  writer_thread_.join();  // commits what is queued and hands it on
  {
    MutexLock lock(completed_mu_);
    writer_done_ = true;
  }
  completed_cv_.notify_one();
  completion_thread_.join();  // runs the callbacks handed on
}

int64_t SqliteStore::NowMillis() const { return ToUnixMillis(clock_.Now()); }

void SqliteStore::SubmitJob(JobRecord job, std::string queue, std::function<void(Status)> done) {
  if (!done) done = [](Status) {};
  // Made here, on the caller's thread: the writer commits for every submitter.
  std::string spec_json =
      job.spec.count == 0 ? JobSpecToJson(job.spec, /*include_secrets=*/true) : std::string();
  {
    MutexLock lock(pending_mu_);
    if (!stopping_) {
      pending_.push_back({std::move(job), std::move(queue), std::move(done), std::move(spec_json)});
      pending_cv_.notify_one();
      return;
    }
  }
  done(Status::Unavailable("sqlite: submit job: the store is shutting down"));
}

void SqliteStore::WriterLoop() {
  MutexLock lock(pending_mu_);
  for (;;) {
    while (!stopping_ && pending_.empty()) pending_cv_.wait(lock);
    if (pending_.empty()) return;  // stopping, and everything queued is committed
    std::vector<PendingSubmit> batch = std::exchange(pending_, {});
    lock.unlock();
    std::vector<Status> results = CommitBatch(batch);
    {
      MutexLock done_lock(completed_mu_);
      completed_.push_back({std::move(batch), std::move(results)});
    }
    completed_cv_.notify_one();
    lock.lock();
  }
}

void SqliteStore::CompletionLoop() {
  MutexLock lock(completed_mu_);
  for (;;) {
    while (!writer_done_ && completed_.empty()) completed_cv_.wait(lock);
    if (completed_.empty()) return;  // the writer has stopped and every callback has run
    std::vector<Completed> ready = std::exchange(completed_, {});
    lock.unlock();
    for (Completed& c : ready) {
      for (size_t i = 0; i < c.batch.size(); ++i) c.batch[i].done(std::move(c.results[i]));
    }
    ready.clear();  // drop the callbacks' captures before taking the lock again
    lock.lock();
  }
}

std::vector<Status> SqliteStore::CommitBatch(const std::vector<PendingSubmit>& batch) {
  std::vector<Status> results(batch.size());
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  Status st = writer.Run("BEGIN IMMEDIATE", "submit jobs: begin");
  int64_t now = NowMillis();
  for (size_t i = 0; st.ok() && i < batch.size(); ++i) {
    results[i] = InsertSubmission(batch[i], now);
    // A bad submission fails alone; anything else (disk full, I/O) fails the whole batch.
    StatusCode code = results[i].code();
    bool alone = code == StatusCode::kAlreadyExists || code == StatusCode::kInvalidArgument;
    if (!results[i].ok() && !alone) st = results[i];
  }
  if (st.ok()) st = writer.Run("COMMIT", "submit jobs: commit");
  if (!st.ok()) {
    writer.RollbackIfActive();
    return std::vector<Status>(batch.size(), st);
  }
  return results;
}

Status SqliteStore::InsertSubmission(const PendingSubmit& sub, int64_t now_ms) {
  const JobRecord& job = sub.job;
  if (job.id.empty()) return Status::InvalidArgument("submit job: empty job id");
  if (sub.queue.empty()) return Status::InvalidArgument("submit job " + job.id + ": empty queue");
  if (job.spec.count == 0) {
    // No savepoint: a failed INSERT leaves nothing behind (SQLite undoes a failed statement), so
    // a job that fails alone (a duplicate id or key) fails at its row insert; once the row is in,
    // a failing message insert fails the whole batch, which is rolled back.
    Result<int64_t> seq = InsertJobRow(*writer_, job, sub.queue, sub.spec_json);
    if (!seq.ok()) return seq.status().WithContext("job " + job.id);
    Status msg = InsertMessage(*writer_, job.id, sub.queue, now_ms, now_ms, *seq);
    if (msg.ok()) return msg;
    return Status::Internal("job " + job.id + ": " + msg.message());
  }
  RETURN_IF_ERROR(writer_->Run("SAVEPOINT submit", "submit job: savepoint"));
  Status st = InsertArray(*writer_, job, sub.queue, now_ms);
  if (!st.ok()) {
    Status ignored = writer_->Run("ROLLBACK TO submit", "submit job: rollback to savepoint");
    (void)ignored;  // if this fails too, the batch error below rolls everything back
  }
  Status released = writer_->Run("RELEASE submit", "submit job: release savepoint");
  st = st.ok() ? released : st;
  return st.WithContext("job " + job.id);
}

Result<JobRecord> SqliteStore::GetJob(std::string_view id) {
  if (auto cached = finished_.Get(id)) return std::move(*cached);
  uint64_t generation = finished_.generation();
  ASSIGN_OR_RETURN(JobRecord job, ReadJobRow(id));
  finished_.Put(job, generation);
  return job;
}

Result<JobRecord> SqliteStore::ReadJobRow(std::string_view id) {
  ReaderLease reader(*this);
  JobRecord job;
  {
    ASSIGN_OR_RETURN(Statement st, reader->Prepare(std::string("SELECT ") + kJobColumns +
                                                       " FROM jobs WHERE id=?1",
                                                   "get job"));
    st.Bind(1, id);
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("job " + std::string(id) + " does not exist");
    ASSIGN_OR_RETURN(job, JobFromRow(st));
  }
  if (!job.spec.callback_url.empty()) {
    ASSIGN_OR_RETURN(job.callback, ReadCallback(*reader, id));
  }
  if (job.spec.count > 0) {
    ASSIGN_OR_RETURN(Statement st, reader->Prepare("SELECT state, COUNT(*) FROM jobs WHERE "
                                                   "parent_id=?1 GROUP BY state",
                                                   "count children"));
    st.Bind(1, id);
    for (;;) {
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      if (auto s = ParseJobState(st.Text(0))) job.children[*s] = static_cast<int>(st.Int(1));
    }
  }
  return job;
}

Result<std::vector<JobRecord>> SqliteStore::ListJobsPage(const std::vector<JobState>& states,
                                                         int limit, int64_t before_seq) {
  return ListJobRows(states, limit, before_seq, /*summaries=*/false);
}

Result<std::vector<JobRecord>> SqliteStore::ListJobSummaries(const std::vector<JobState>& states,
                                                             int limit, int64_t before_seq) {
  return ListJobRows(states, limit, before_seq, /*summaries=*/true);
}

Result<std::vector<JobRecord>> SqliteStore::ListJobRows(const std::vector<JobState>& states,
                                                        int limit, int64_t before_seq,
                                                        bool summaries) {
  if (limit < 0) return Status::InvalidArgument("list jobs: negative limit");
  std::string sql = std::string("SELECT ") + (summaries ? kJobSummaryColumns : kJobColumns) +
                    " FROM jobs WHERE seq < ?";
  if (!states.empty()) {
    sql += " AND state IN (?";
    for (size_t i = 1; i < states.size(); ++i) sql += ", ?";
    sql += ")";
  }
  sql += " ORDER BY seq DESC LIMIT ?";
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(Statement st, reader->Prepare(sql, "list jobs"));
  st.Bind(1, before_seq);
  for (size_t i = 0; i < states.size(); ++i) st.Bind(static_cast<int>(i) + 2, ToString(states[i]));
  st.Bind(static_cast<int>(states.size()) + 2, int64_t{limit});
  std::vector<JobRecord> jobs;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return jobs;
    ASSIGN_OR_RETURN(JobRecord job, JobFromRow(st, summaries ? JobRow::kSummary : JobRow::kFull));
    jobs.push_back(std::move(job));
  }
}

struct SqliteStore::GroupedWrite {
  std::string_view op;
  const std::function<Status(SqliteConnection&)>* body;
  Status result;
  bool done = false;
};

Status SqliteStore::WriteGrouped(std::string_view op,
                                 const std::function<Status(SqliteConnection&)>& body) {
  GroupedWrite write{op, &body, Status::Ok()};
  MutexLock lock(group_mu_);
  group_queue_.push_back(&write);
  while (!write.done && group_leading_) group_cv_.wait(lock);
  if (write.done) return write.result;
  // No group is committing: this one leads, for every write queued so far (itself included).
  group_leading_ = true;
  std::vector<GroupedWrite*> group = std::exchange(group_queue_, {});
  lock.unlock();
  CommitGrouped(group);
  lock.lock();
  group_leading_ = false;
  for (GroupedWrite* w : group) w->done = true;
  group_cv_.notify_all();  // the group's writes return; one of those queued since leads next
  return write.result;
}

void SqliteStore::CommitGrouped(const std::vector<GroupedWrite*>& group) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  auto fail_all = [&](const Status& st) {
    writer.RollbackIfActive();
    for (GroupedWrite* w : group) w->result = st;
  };
  if (group.size() == 1) {  // alone: no savepoint needed
    group[0]->result =
        writer.InTransaction(group[0]->op, [&] { return (*group[0]->body)(writer); });
    return;
  }
  if (Status st = writer.Run("BEGIN IMMEDIATE", "grouped writes: begin"); !st.ok()) {
    return fail_all(st);
  }
  for (GroupedWrite* w : group) {
    if (Status st = writer.Run("SAVEPOINT grouped", w->op); !st.ok()) return fail_all(st);
    w->result = (*w->body)(writer);
    if (!w->result.ok()) {
      // SQLite rolls the whole transaction back on some errors (a full disk, I/O): then the
      // bodies before this one are undone too.
      if (sqlite3_get_autocommit(writer.db()) != 0) return fail_all(w->result);
      if (Status st = writer.Run("ROLLBACK TO grouped", w->op); !st.ok()) return fail_all(st);
    }
    if (Status st = writer.Run("RELEASE grouped", w->op); !st.ok()) return fail_all(st);
  }
  if (Status st = writer.Run("COMMIT", "grouped writes: commit"); !st.ok()) {
    writer.RollbackIfActive();
    for (GroupedWrite* w : group) {
      if (w->result.ok()) w->result = st;
    }
  }
}

Status SqliteStore::UpdateJobStatus(std::string_view id, const JobStatusUpdate& update) {
  return WriteGrouped("update job status", [&](SqliteConnection& writer) {
    return ApplyJobStatus(writer, id, update, NowMillis());
  });
}

Status SqliteStore::RecordRunning(const QueueMessage& msg, const JobStatusUpdate& update) {
  if (update.state != JobState::kRunning) {
    return Status::InvalidArgument("record running: the update must say Running");
  }
  return WriteGrouped("record running", [&](SqliteConnection& writer) -> Status {
    RETURN_IF_ERROR(ApplyJobStatus(writer, msg.job_id, update, NowMillis()));
    ASSIGN_OR_RETURN(Statement del,
                     writer.Prepare("DELETE FROM messages WHERE id=?1 AND pop_receipt=?2",
                                    "record running: delete message"));
    del.Bind(1, msg.id).Bind(2, msg.pop_receipt);
    return del.Run();
  });
}

namespace {

// Claims up to `max` visible messages of `queue` (inside the caller's transaction).
Result<std::vector<QueueMessage>> ClaimVisible(SqliteConnection& writer, std::string_view queue,
                                               int max, milliseconds lease, int64_t now) {
  std::vector<QueueMessage> claimed;
  {
    ASSIGN_OR_RETURN(Statement sel, writer.Prepare(std::string("SELECT ") + kMessageColumns +
                                                       " FROM messages WHERE queue=?1 AND "
                                                       "next_visible<=?2 ORDER BY "
                                                       "next_visible, id LIMIT ?3",
                                                   "claim messages: select"));
    sel.Bind(1, queue).Bind(2, now).Bind(3, int64_t{max});
    for (;;) {
      ASSIGN_OR_RETURN(bool row, sel.Step());
      if (!row) break;
      claimed.push_back(MessageFromRow(sel));
    }
  }
  for (QueueMessage& m : claimed) {
    m.dequeue_count += 1;
    m.pop_receipt = NewUuidV4();
    m.next_visible = FromUnixMillis(now + lease.count());
    ASSIGN_OR_RETURN(Statement upd,
                     writer.Prepare("UPDATE messages SET dequeue_count=?2, pop_receipt=?3, "
                                    "next_visible=?4 WHERE id=?1",
                                    "claim messages: update"));
    upd.Bind(1, m.id).Bind(2, int64_t{m.dequeue_count}).Bind(3, m.pop_receipt);
    RETURN_IF_ERROR(upd.Bind(4, ToUnixMillis(m.next_visible)).Run());
  }
  return claimed;
}

// The first start's move of a claimed message's job to Pending (inside the claim's
// transaction): the job as stored after it, or nullopt when the job is not a first start that
// may begin (ApplyJobStatus's compare-and-set, narrowed to Queued jobs without a run).
Result<std::optional<JobRecord>> MoveToPending(SqliteConnection& writer, const QueueMessage& m,
                                               const PendingClaim& pending) {
  {
    ASSIGN_OR_RETURN(Statement upd,
                     writer.Prepare("UPDATE jobs SET state='Pending', reason=?2, attempts=?3, "
                                    "node=COALESCE(?4, node) WHERE id=?1 AND state='Queued' "
                                    "AND cancel_requested=0 AND array_count=0 AND history='[]'",
                                    "claim messages: move to Pending"));
    upd.Bind(1, m.job_id).Bind(2, pending.reason).Bind(3, int64_t{m.dequeue_count});
    if (pending.node) {
      upd.Bind(4, *pending.node);
    } else {
      upd.BindNull(4);
    }
    RETURN_IF_ERROR(upd.Run());
    if (upd.Changes() == 0) return std::optional<JobRecord>();
  }
  ASSIGN_OR_RETURN(Statement st,
                   writer.Prepare(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id=?1",
                                  "claim messages: read job"));
  st.Bind(1, m.job_id);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::Internal("job " + m.job_id + " vanished in its own transaction");
  ASSIGN_OR_RETURN(JobRecord job, JobFromRow(st));
  if (!job.spec.callback_url.empty()) {
    ASSIGN_OR_RETURN(job.callback, ReadCallback(writer, m.job_id));
  }
  return std::optional<JobRecord>(std::move(job));
}

// Runs `write` on the writer with synchronous=NORMAL: its commit is in the file system when it
// returns (a crash of the process keeps it, other connections see it; the WAL-coalescing VFS
// writes a commit's frames when its last one is whole) but not synced, so a power cut may undo
// it; the next synced commit makes it durable with its own. Only for writes a power cut may undo
// without losing anything acknowledged: a claim, undone, leaves its message visible and its
// job Queued, as before the claim, and the containers it started went with the power.
// synchronous may not change inside a transaction, and takes effect when the pragma is
// prepared: it runs unprepared (Exec), before and after the transaction.
Status Unsynced(SqliteConnection& writer, const std::function<Status()>& write) {
  RETURN_IF_ERROR(writer.Exec("PRAGMA synchronous=NORMAL", "unsynced write"));
  Status st = write();
  if (Status synced = writer.Exec("PRAGMA synchronous=FULL", "synced writes again"); !synced.ok()) {
    // Every later commit, acknowledged submits among them, would go unsynced.
    LogError("sqlite: the writer cannot sync its commits again; stopping",
             {{"error", synced.ToString()}});
    std::abort();
  }
  return st;
}

Status CheckClaimArguments(int max, milliseconds lease) {
  if (max < 0) return Status::InvalidArgument("claim messages: negative max");
  if (lease <= milliseconds(0)) return Status::InvalidArgument("claim messages: lease must be > 0");
  return Status::Ok();
}

}  // namespace

Result<std::vector<QueueMessage>> SqliteStore::ClaimMessages(std::string_view queue, int max,
                                                             milliseconds lease) {
  RETURN_IF_ERROR(CheckClaimArguments(max, lease));
  std::vector<QueueMessage> claimed;
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  Status st = Unsynced(writer, [&] {
    return writer.InTransaction("claim messages", [&]() -> Status {
      ASSIGN_OR_RETURN(claimed, ClaimVisible(writer, queue, max, lease, NowMillis()));
      return Status::Ok();
    });
  });
  if (!st.ok()) return st.WithContext("queue " + std::string(queue));
  return claimed;
}

Result<std::vector<ClaimedJob>> SqliteStore::ClaimJobs(std::string_view queue, int max,
                                                       milliseconds lease,
                                                       const PendingClaim& pending) {
  RETURN_IF_ERROR(CheckClaimArguments(max, lease));
  std::vector<ClaimedJob> claimed;
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  Status st = Unsynced(writer, [&] {
    return writer.InTransaction("claim messages", [&]() -> Status {
      claimed.clear();  // a retried transaction starts again
      ASSIGN_OR_RETURN(std::vector<QueueMessage> msgs,
                       ClaimVisible(writer, queue, max, lease, NowMillis()));
      for (QueueMessage& m : msgs) {
        ASSIGN_OR_RETURN(std::optional<JobRecord> job, MoveToPending(writer, m, pending));
        claimed.push_back({std::move(m), std::move(job)});
      }
      return Status::Ok();
    });
  });
  if (!st.ok()) return st.WithContext("queue " + std::string(queue));
  return claimed;
}

Status SqliteStore::RenewLease(const QueueMessage& msg, milliseconds lease) {
  if (lease <= milliseconds(0)) return Status::InvalidArgument("renew lease: lease must be > 0");
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  return WriteWithReceipt(writer,
                          "UPDATE messages SET next_visible=?3 WHERE id=?1 AND pop_receipt=?2",
                          "renew lease", msg, {NowMillis() + lease.count()});
}

Status SqliteStore::DeleteMessage(const QueueMessage& msg) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  return WriteWithReceipt(writer, "DELETE FROM messages WHERE id=?1 AND pop_receipt=?2",
                          "delete message", msg, {});
}

Status SqliteStore::ReleaseMessage(const QueueMessage& msg, milliseconds delay) {
  if (delay < milliseconds(0)) return Status::InvalidArgument("release message: negative delay");
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  return WriteWithReceipt(writer,
                          "UPDATE messages SET next_visible=?3, pop_receipt=NULL "
                          "WHERE id=?1 AND pop_receipt=?2",
                          "release message", msg, {NowMillis() + delay.count()});
}

Status SqliteStore::PoisonMessage(const QueueMessage& msg, std::string_view poison_queue,
                                  const JobStatusUpdate& job_update) {
  if (poison_queue.empty()) return Status::InvalidArgument("poison message: empty poison queue");
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  return writer.InTransaction("poison message", [&]() -> Status {
    {
      ASSIGN_OR_RETURN(Statement st, writer.Prepare("UPDATE messages SET queue=?3, "
                                                    "next_visible=?4, pop_receipt=NULL "
                                                    "WHERE id=?1 AND pop_receipt=?2",
                                                    "poison message"));
      st.Bind(1, msg.id).Bind(2, msg.pop_receipt).Bind(3, poison_queue).Bind(4, NowMillis());
      RETURN_IF_ERROR(st.Run());
      if (st.Changes() == 0) return StaleReceipt(msg);
    }
    return ApplyJobStatus(writer, msg.job_id, job_update, NowMillis());
  });
}

Result<std::vector<QueueMessage>> SqliteStore::PeekMessages(std::string_view queue, int limit) {
  if (limit < 0) return Status::InvalidArgument("peek messages: negative limit");
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(Statement st, reader->Prepare(std::string("SELECT ") + kMessageColumns +
                                                     " FROM messages WHERE queue=?1 "
                                                     "ORDER BY id LIMIT ?2",
                                                 "peek messages"));
  st.Bind(1, queue).Bind(2, int64_t{limit});
  std::vector<QueueMessage> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    out.push_back(MessageFromRow(st));
  }
}

Result<std::optional<TimePoint>> SqliteStore::NextVisibleAt(std::string_view queue) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(Statement st, reader->Prepare("SELECT MIN(next_visible) FROM messages "
                                                 "WHERE queue=?1",
                                                 "next visible at"));
  st.Bind(1, queue);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row || st.IsNull(0)) return std::optional<TimePoint>();
  return std::optional<TimePoint>(FromUnixMillis(st.Int(0)));
}

}  // namespace berth

namespace berth {
namespace {

// Reads one job through `conn` (inside the caller's transaction).
Result<JobRecord> ReadJob(SqliteConnection& conn, std::string_view id) {
  ASSIGN_OR_RETURN(
      Statement st,
      conn.Prepare(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id=?1", "read job"));
  st.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("job " + std::string(id) + " does not exist");
  return JobFromRow(st);
}

}  // namespace

Result<JobRecord> SqliteStore::FindJobByIdempotencyKey(std::string_view idempotency_key) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(Statement st, reader->Prepare(std::string("SELECT ") + kJobColumns +
                                                     " FROM jobs WHERE idempotency_key=?1",
                                                 "find job by idempotency key"));
  st.Bind(1, idempotency_key);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("no job has that idempotency key");
  return JobFromRow(st);
}

Result<JobRecord> SqliteStore::RequestCancel(std::string_view id) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  JobRecord after;
  int64_t now = NowMillis();
  Status st = writer.InTransaction("cancel job", [&]() -> Status {
    ASSIGN_OR_RETURN(JobRecord job, ReadJob(writer, id));
    if (IsTerminal(job.state)) {
      after = std::move(job);
      return Status::Ok();
    }
    if (job.spec.count > 0) {
      RETURN_IF_ERROR(CancelArray(writer, id, now));
    } else if (job.state == JobState::kQueued) {
      ASSIGN_OR_RETURN(Statement up,
                       writer.Prepare("UPDATE jobs SET state=?2, reason=?3, finished_at=?4 "
                                      "WHERE id=?1",
                                      "cancel queued job"));
      up.Bind(1, id).Bind(2, ToString(JobState::kCanceled));
      up.Bind(3, std::string_view("Canceled before it started")).Bind(4, now);
      RETURN_IF_ERROR(up.Run());
      RETURN_IF_ERROR(EnqueueCallback(writer, id, now));
      RETURN_IF_ERROR(DeleteMessages(writer, id));
    } else {
      ASSIGN_OR_RETURN(
          Statement up,
          writer.Prepare("UPDATE jobs SET cancel_requested=1 WHERE id=?1", "request cancel"));
      up.Bind(1, id);
      RETURN_IF_ERROR(up.Run());
    }
    ASSIGN_OR_RETURN(after, ReadJob(writer, id));
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return after;
}

Status SqliteStore::RequeueJob(std::string_view id, std::string_view queue, milliseconds delay,
                               const JobStatusUpdate& update) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  int64_t now = NowMillis();
  return writer.InTransaction("requeue job", [&]() -> Status {
    RETURN_IF_ERROR(ApplyJobStatus(writer, id, update, NowMillis()));
    // At most one live message per job: the retry's message replaces any other.
    RETURN_IF_ERROR(DeleteMessages(writer, id));
    return InsertMessage(writer, id, queue, now, now + delay.count());
  });
}

Result<std::vector<std::string>> SqliteStore::ListFinishedBefore(TimePoint cutoff, int limit) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(Statement st, reader->Prepare("SELECT id FROM jobs WHERE finished_at IS NOT "
                                                 "NULL AND finished_at < ?1 AND state IN (?2, "
                                                 "?3, ?4) ORDER BY finished_at LIMIT ?5",
                                                 "list finished jobs"));
  st.Bind(1, ToUnixMillis(cutoff)).Bind(2, ToString(JobState::kSucceeded));
  st.Bind(3, ToString(JobState::kFailed)).Bind(4, ToString(JobState::kCanceled));
  st.Bind(5, int64_t{limit});
  std::vector<std::string> ids;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return ids;
    ids.push_back(st.Text(0));
  }
}

Status SqliteStore::DeleteJob(std::string_view id) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  finished_.Erase(id);
  Status st = writer.InTransaction("delete job", [&]() -> Status {
    ASSIGN_OR_RETURN(Statement del, writer.Prepare("DELETE FROM jobs WHERE id=?1", "delete job"));
    del.Bind(1, id);
    RETURN_IF_ERROR(del.Run());
    if (del.Changes() == 0) return Status::NotFound("job " + std::string(id) + " does not exist");
    return Status::Ok();
  });
  finished_.Erase(id);  // and again: a read that raced with the delete cannot cache it now
  return st;
}

}  // namespace berth

// Schedules (TriggerStore).
namespace berth {
namespace {

constexpr const char* kScheduleColumns =
    "name, spec, created_at, updated_at, handled_through, last_fired_at, last_job_id, "
    "fired_count, skipped_count";

Result<ScheduleRecord> ScheduleFromRow(const Statement& st) {
  ScheduleRecord s;
  Result<ScheduleSpec> spec = ParseScheduleSpec(st.Text(1));
  if (!spec.ok()) return spec.status().WithContext("sqlite: stored schedule " + st.Text(0));
  s.spec = std::move(spec).value();
  s.created_at = FromUnixMillis(st.Int(2));
  s.updated_at = FromUnixMillis(st.Int(3));
  s.handled_through = FromUnixMillis(st.Int(4));
  s.last_fired_at = OptTime(st.OptInt(5));
  s.last_job_id = st.Text(6);
  s.fired_count = st.Int(7);
  s.skipped_count = st.Int(8);
  return s;
}

}  // namespace

Status SqliteStore::CreateSchedule(const ScheduleRecord& s) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  return writer.InTransaction("create schedule", [&]() -> Status {
    ASSIGN_OR_RETURN(Statement ins,
                     writer.Prepare("INSERT INTO schedules(name, spec, created_at, updated_at, "
                                    "handled_through) VALUES(?1, ?2, ?3, ?4, ?5)",
                                    "create schedule"));
    ins.Bind(1, s.spec.name).Bind(2, ScheduleSpecToJson(s.spec, /*include_secrets=*/true));
    ins.Bind(3, ToUnixMillis(s.created_at)).Bind(4, ToUnixMillis(s.updated_at));
    ins.Bind(5, ToUnixMillis(s.handled_through));
    Status st = ins.Run();
    if (st.code() == StatusCode::kAlreadyExists) {
      return Status::AlreadyExists("schedule '" + s.spec.name + "' exists already");
    }
    return st;
  });
}

Status SqliteStore::ReplaceSchedule(const ScheduleRecord& s) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  return writer.InTransaction("replace schedule", [&]() -> Status {
    ASSIGN_OR_RETURN(Statement up,
                     writer.Prepare("UPDATE schedules SET spec=?2, updated_at=?3, "
                                    "handled_through=MAX(handled_through, ?4) WHERE name=?1",
                                    "replace schedule"));
    up.Bind(1, s.spec.name).Bind(2, ScheduleSpecToJson(s.spec, /*include_secrets=*/true));
    up.Bind(3, ToUnixMillis(s.updated_at)).Bind(4, ToUnixMillis(s.handled_through));
    RETURN_IF_ERROR(up.Run());
    if (up.Changes() == 0) return Status::NotFound("schedule '" + s.spec.name + "' does not exist");
    return Status::Ok();
  });
}

Result<ScheduleRecord> SqliteStore::GetSchedule(std::string_view name) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(Statement st, reader->Prepare(std::string("SELECT ") + kScheduleColumns +
                                                     " FROM schedules WHERE name=?1",
                                                 "get schedule"));
  st.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("schedule '" + std::string(name) + "' does not exist");
  return ScheduleFromRow(st);
}

Result<std::vector<ScheduleRecord>> SqliteStore::ListSchedules() {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(Statement st, reader->Prepare(std::string("SELECT ") + kScheduleColumns +
                                                     " FROM schedules ORDER BY name",
                                                 "list schedules"));
  std::vector<ScheduleRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    ASSIGN_OR_RETURN(ScheduleRecord s, ScheduleFromRow(st));
    out.push_back(std::move(s));
  }
}

Status SqliteStore::DeleteSchedule(std::string_view name) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  return writer.InTransaction("delete schedule", [&]() -> Status {
    ASSIGN_OR_RETURN(Statement del,
                     writer.Prepare("DELETE FROM schedules WHERE name=?1", "delete schedule"));
    del.Bind(1, name);
    RETURN_IF_ERROR(del.Run());
    if (del.Changes() == 0) {
      return Status::NotFound("schedule '" + std::string(name) + "' does not exist");
    }
    return Status::Ok();
  });
}

Status SqliteStore::AdvanceSchedule(std::string_view name, TimePoint expected, TimePoint through,
                                    const std::optional<JobRecord>& job, std::string_view queue,
                                    int skipped) {
  if (job && queue.empty()) return Status::InvalidArgument("advance schedule: empty queue");
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  int64_t now = NowMillis();
  return writer.InTransaction("advance schedule", [&]() -> Status {
    {
      ASSIGN_OR_RETURN(
          Statement up,
          writer.Prepare("UPDATE schedules SET handled_through=?3, skipped_count="
                         "skipped_count+?4, fired_count=fired_count+?5, last_fired_at="
                         "CASE WHEN ?5 > 0 THEN ?3 ELSE last_fired_at END, last_job_id="
                         "CASE WHEN ?5 > 0 THEN ?6 ELSE last_job_id END "
                         "WHERE name=?1 AND handled_through=?2",
                         "advance schedule"));
      up.Bind(1, name).Bind(2, ToUnixMillis(expected)).Bind(3, ToUnixMillis(through));
      up.Bind(4, int64_t{skipped}).Bind(5, int64_t{job ? 1 : 0});
      up.Bind(6, job ? std::string_view(job->id) : std::string_view());
      RETURN_IF_ERROR(up.Run());
      if (up.Changes() == 0) {
        return Status::FailedPrecondition("schedule '" + std::string(name) +
                                          "' changed or is gone (another firing got there first)");
      }
    }
    if (!job) return Status::Ok();
    return InsertJob(writer, *job, queue, now);
  });
}

}  // namespace berth

// Completion callbacks (TriggerStore).
namespace berth {

Result<std::vector<CallbackDelivery>> SqliteStore::ClaimCallbacks(int max, milliseconds lease) {
  if (max < 0) return Status::InvalidArgument("claim callbacks: negative max");
  std::vector<CallbackDelivery> claimed;
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  int64_t now = NowMillis();
  Status st = writer.InTransaction("claim callbacks", [&]() -> Status {
    {
      ASSIGN_OR_RETURN(Statement sel,
                       writer.Prepare(std::string("SELECT ") + kCallbackColumns +
                                          " FROM callbacks WHERE state='Pending' AND "
                                          "next_attempt_at<=?1 ORDER BY next_attempt_at "
                                          "LIMIT ?2",
                                      "claim callbacks: select"));
      sel.Bind(1, now).Bind(2, int64_t{max});
      for (;;) {
        ASSIGN_OR_RETURN(bool row, sel.Step());
        if (!row) break;
        ASSIGN_OR_RETURN(CallbackDelivery d, CallbackFromRow(sel));
        claimed.push_back(std::move(d));
      }
    }
    for (CallbackDelivery& d : claimed) {
      d.status.attempts += 1;
      d.status.next_attempt_at = FromUnixMillis(now + lease.count());
      ASSIGN_OR_RETURN(Statement up, writer.Prepare("UPDATE callbacks SET attempts=?2, "
                                                    "next_attempt_at=?3 WHERE job_id=?1",
                                                    "claim callbacks: update"));
      up.Bind(1, d.job_id).Bind(2, int64_t{d.status.attempts});
      RETURN_IF_ERROR(up.Bind(3, now + lease.count()).Run());
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  for (const CallbackDelivery& d : claimed) finished_.Erase(d.job_id);
  return claimed;
}

Status SqliteStore::RecordCallbackAttempt(std::string_view job_id, const CallbackStatus& after) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  Status st = writer.InTransaction("record callback attempt", [&]() -> Status {
    ASSIGN_OR_RETURN(Statement up,
                     writer.Prepare("UPDATE callbacks SET state=?2, last_error=?3, "
                                    "next_attempt_at=?4, delivered_at=?5 WHERE job_id=?1",
                                    "record callback attempt"));
    up.Bind(1, job_id).Bind(2, ToString(after.state)).Bind(3, after.last_error);
    up.Bind(4, OptMillis(after.next_attempt_at)).Bind(5, OptMillis(after.delivered_at));
    RETURN_IF_ERROR(up.Run());
    if (up.Changes() == 0) {
      return Status::NotFound("no callback for job " + std::string(job_id));
    }
    return Status::Ok();
  });
  finished_.Erase(job_id);  // a finished job's cached record shows the delivery's new state
  return st;
}

}  // namespace berth

// Job arrays (TriggerStore).
namespace berth {

Result<std::vector<JobRecord>> SqliteStore::ListChildren(std::string_view parent,
                                                         std::optional<JobState> state, int limit,
                                                         int after_index) {
  if (limit < 0) return Status::InvalidArgument("list children: negative limit");
  ReaderLease reader(*this);
  {
    ASSIGN_OR_RETURN(Statement st,
                     reader->Prepare("SELECT 1 FROM jobs WHERE id=?1", "list children: parent"));
    st.Bind(1, parent);
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("job " + std::string(parent) + " does not exist");
  }
  std::string sql = std::string("SELECT ") + kJobSummaryColumns +
                    " FROM jobs WHERE parent_id=?1 AND array_index>?2" +
                    (state ? " AND state=?4" : "") + " ORDER BY array_index LIMIT ?3";
  ASSIGN_OR_RETURN(Statement st, reader->Prepare(sql, "list children"));
  st.Bind(1, parent).Bind(2, int64_t{after_index}).Bind(3, int64_t{limit});
  if (state) st.Bind(4, ToString(*state));
  std::vector<JobRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    ASSIGN_OR_RETURN(JobRecord job, JobFromRow(st, JobRow::kSummary));
    out.push_back(std::move(job));
  }
}

}  // namespace berth

// Many nodes (issue 11): heartbeats, ownership and node loss.
namespace berth {
namespace {

constexpr const char* kNodeColumns =
    "id, role, version, started_at, heartbeat_at, lease_until, jobs_running, capacity, lost_at";

NodeRecord NodeFromRow(const Statement& st) {
  NodeRecord n;
  n.id = st.Text(0);
  n.role = st.Text(1);
  n.version = st.Text(2);
  n.started_at = FromUnixMillis(st.Int(3));
  n.heartbeat_at = FromUnixMillis(st.Int(4));
  n.lease_until = FromUnixMillis(st.Int(5));
  n.jobs_running = static_cast<int>(st.Int(6));
  n.capacity = static_cast<int>(st.Int(7));
  n.lost_at = OptTime(st.OptInt(8));
  return n;
}

}  // namespace

Status SqliteStore::Heartbeat(const NodeRecord& node, milliseconds lease) {
  if (node.id.empty()) return Status::InvalidArgument("heartbeat: empty node id");
  if (lease <= milliseconds(0)) return Status::InvalidArgument("heartbeat: lease must be > 0");
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  int64_t now = NowMillis();
  return writer.InTransaction("heartbeat", [&]() -> Status {
    ASSIGN_OR_RETURN(
        Statement st,
        writer.Prepare("INSERT INTO nodes(id, role, version, started_at, heartbeat_at, "
                       "lease_until, jobs_running, capacity, lost_at) VALUES(?1, ?2, ?3, ?4, ?5, "
                       "?6, ?7, ?8, NULL) ON CONFLICT(id) DO UPDATE SET role=excluded.role, "
                       "version=excluded.version, started_at=excluded.started_at, "
                       "heartbeat_at=excluded.heartbeat_at, lease_until=excluded.lease_until, "
                       "jobs_running=excluded.jobs_running, capacity=excluded.capacity, "
                       "lost_at=NULL",
                       "heartbeat"));
    st.Bind(1, node.id).Bind(2, node.role).Bind(3, node.version);
    st.Bind(4, ToUnixMillis(node.started_at)).Bind(5, now).Bind(6, now + lease.count());
    st.Bind(7, int64_t{node.jobs_running}).Bind(8, int64_t{node.capacity});
    return st.Run();
  });
}

Result<std::vector<NodeRecord>> SqliteStore::ListNodes() {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(Statement st, reader->Prepare(std::string("SELECT ") + kNodeColumns +
                                                     " FROM nodes ORDER BY id",
                                                 "list nodes"));
  std::vector<NodeRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    out.push_back(NodeFromRow(st));
  }
}

Result<bool> SqliteStore::MarkNodeLost(std::string_view id, std::string_view pending_reason) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  int64_t now = NowMillis();
  bool marked = false;
  Status st = writer.InTransaction("mark node lost", [&]() -> Status {
    marked = false;
    {
      ASSIGN_OR_RETURN(Statement up, writer.Prepare("UPDATE nodes SET lost_at=?2 WHERE id=?1 AND "
                                                    "lease_until<?2 AND lost_at IS NULL",
                                                    "mark node lost"));
      RETURN_IF_ERROR(up.Bind(1, id).Bind(2, now).Run());
      if (up.Changes() == 0) return Status::Ok();
    }
    marked = true;
    {
      // Its claims end now: the messages of the jobs it had not started are visible again.
      ASSIGN_OR_RETURN(Statement msgs,
                       writer.Prepare("UPDATE messages SET next_visible=?2, pop_receipt=NULL "
                                      "WHERE job_seq IN (SELECT seq FROM jobs WHERE node=?1 AND "
                                      "state='Pending')",
                                      "mark node lost: release messages"));
      RETURN_IF_ERROR(msgs.Bind(1, id).Bind(2, now).Run());
    }
    ASSIGN_OR_RETURN(Statement jobs,
                     writer.Prepare("UPDATE jobs SET state='Queued', node='', reason=?2 "
                                    "WHERE node=?1 AND state='Pending'",
                                    "mark node lost: queue pending jobs"));
    return jobs.Bind(1, id).Bind(2, pending_reason).Run();
  });
  if (!st.ok()) return st;
  return marked;
}

Result<std::vector<JobRecord>> SqliteStore::ListNodeJobs(std::string_view node,
                                                         const std::vector<JobState>& states) {
  std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE node=?1";
  if (!states.empty()) {
    sql += " AND state IN (";
    for (size_t i = 0; i < states.size(); ++i) {
      sql += (i ? ", '" : "'") + std::string(ToString(states[i])) + "'";
    }
    sql += ")";
  }
  sql += " ORDER BY seq";
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(Statement st, reader->Prepare(sql, "list node jobs"));
  st.Bind(1, node);
  std::vector<JobRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    ASSIGN_OR_RETURN(JobRecord job, JobFromRow(st));
    out.push_back(std::move(job));
  }
}

Status SqliteStore::SettleLostJob(std::string_view node, std::string_view id,
                                  const JobStatusUpdate& update, std::string_view requeue_queue,
                                  milliseconds delay) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  int64_t now = NowMillis();
  return writer.InTransaction("settle lost job", [&]() -> Status {
    {
      ASSIGN_OR_RETURN(Statement lost,
                       writer.Prepare("SELECT 1 FROM nodes WHERE id=?1 AND lost_at IS NOT NULL",
                                      "settle lost job: node"));
      lost.Bind(1, node);
      ASSIGN_OR_RETURN(bool row, lost.Step());
      if (!row) {
        return Status::FailedPrecondition("node '" + std::string(node) +
                                          "' is not recorded lost (it is back)");
      }
    }
    JobStatusUpdate u = update;
    u.expect_node = std::string(node);
    RETURN_IF_ERROR(ApplyJobStatus(writer, id, u, now));
    if (requeue_queue.empty()) return Status::Ok();
    RETURN_IF_ERROR(DeleteMessages(writer, id));
    return InsertMessage(writer, id, requeue_queue, now, now + delay.count());
  });
}

Result<std::vector<std::string>> SqliteStore::ListCancelRequested(std::string_view node) {
  ReaderLease reader(*this);
  ASSIGN_OR_RETURN(Statement st,
                   reader->Prepare("SELECT id FROM jobs WHERE node=?1 AND state IN ('Pending', "
                                   "'Running') AND cancel_requested=1",
                                   "list cancel requested"));
  st.Bind(1, node);
  std::vector<std::string> ids;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return ids;
    ids.push_back(st.Text(0));
  }
}

}  // namespace berth
