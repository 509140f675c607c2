#include "store/postgres_schema.h"

#include <string>

namespace berth {
namespace {

// Any constant shared by every berth node: the key of the advisory lock held while migrating.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(7301995042211)";

// Version 1: jobs, their queue messages, schedules, and the completion callbacks' outbox (the
// shape of SQLite's schema 5; times are unix milliseconds).
constexpr const char* kMigrateTo1 = R"sql(
CREATE TABLE jobs(
  id TEXT PRIMARY KEY,
  spec TEXT NOT NULL,            -- JobSpecToJson(spec, include_secrets=true)
  image TEXT NOT NULL,
  state TEXT NOT NULL,
  exit_code INTEGER,
  reason TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT,
  attempts INTEGER NOT NULL DEFAULT 0,
  seq BIGSERIAL NOT NULL,        -- submission order; ListJobs is newest (highest) first
  idempotency_key TEXT,
  history TEXT NOT NULL DEFAULT '[]',
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  schedule TEXT NOT NULL DEFAULT '',
  scheduled_at BIGINT,
  callback_url TEXT NOT NULL DEFAULT '',
  parent_id TEXT,
  array_index INTEGER,
  array_count INTEGER NOT NULL DEFAULT 0,
  array_queue TEXT NOT NULL DEFAULT '',
  array_ended INTEGER NOT NULL DEFAULT 0,
  array_succeeded INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs(idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX jobs_seq ON jobs(seq);
CREATE INDEX jobs_state_seq ON jobs(state, seq);
CREATE INDEX jobs_parent ON jobs(parent_id, array_index) WHERE parent_id IS NOT NULL;
CREATE TABLE messages(
  id BIGSERIAL PRIMARY KEY,
  queue TEXT NOT NULL,
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  dequeue_count INTEGER NOT NULL DEFAULT 0,
  pop_receipt TEXT,
  inserted_at BIGINT NOT NULL,
  next_visible BIGINT NOT NULL
);
CREATE INDEX messages_queue_visible ON messages(queue, next_visible, id);
CREATE INDEX messages_job ON messages(job_id);
CREATE TABLE schedules(
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  handled_through BIGINT NOT NULL,
  last_fired_at BIGINT,
  last_job_id TEXT NOT NULL DEFAULT '',
  fired_count BIGINT NOT NULL DEFAULT 0,
  skipped_count BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE callbacks(
  job_id TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
  url TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT,
  last_error TEXT NOT NULL DEFAULT '',
  delivered_at BIGINT,
  created_at BIGINT NOT NULL
);
CREATE INDEX callbacks_due ON callbacks(next_attempt_at) WHERE state = 'Pending';
)sql";

// Version 2: many nodes (the same shape as SQLite's schema 6).
constexpr const char* kMigrateTo2 = R"sql(
ALTER TABLE jobs ADD COLUMN node TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_node ON jobs(node, state) WHERE node <> '';
CREATE TABLE nodes(
  id TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  version TEXT NOT NULL DEFAULT '',
  started_at BIGINT NOT NULL,
  heartbeat_at BIGINT NOT NULL,
  lease_until BIGINT NOT NULL,
  jobs_running INTEGER NOT NULL DEFAULT 0,
  capacity INTEGER NOT NULL DEFAULT 0,
  lost_at BIGINT
);
CREATE TABLE job_logs(
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  stream_offset BIGINT NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY(job_id, stream_offset)
);
CREATE TABLE keys(
  scope TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY(scope, name)
);
)sql";

// kMigrations[v] takes the schema from version v to v + 1.
constexpr const char* kMigrations[] = {kMigrateTo1, kMigrateTo2};
static_assert(std::size(kMigrations) == kPostgresSchemaVersion);

}  // namespace

Result<int> ReadPostgresSchemaVersion(PgConnection& conn) {
  ASSIGN_OR_RETURN(
      PgRows t, conn.Exec("read schema version", "SELECT to_regclass('berth_schema') IS NOT NULL"));
  if (t.Text(0, 0) != "t") return 0;
  ASSIGN_OR_RETURN(PgRows r, conn.Exec("read schema version", "SELECT version FROM berth_schema"));
  return r.empty() ? 0 : static_cast<int>(r.Int(0, 0));
}

Status MigratePostgresSchema(PgConnection& conn) {
  return conn.InTransaction("migrate schema", [&conn]() -> Status {
    RETURN_IF_ERROR(conn.Exec("migrate schema: lock", kMigrationLock).status());
    RETURN_IF_ERROR(conn.ExecScript("migrate schema",
                                    "CREATE TABLE IF NOT EXISTS berth_schema(version INTEGER "
                                    "NOT NULL, one BOOLEAN PRIMARY KEY DEFAULT true "
                                    "CHECK (one))"));
    ASSIGN_OR_RETURN(int version, ReadPostgresSchemaVersion(conn));
    if (version > kPostgresSchemaVersion || version < 0) {
      return Status::FailedPrecondition(
          "postgres: the database's schema is version " + std::to_string(version) +
          ", newer than the newest this berth knows (" + std::to_string(kPostgresSchemaVersion) +
          "): a newer berth migrated it; upgrade this node");
    }
    for (int v = version; v < kPostgresSchemaVersion; ++v) {
      RETURN_IF_ERROR(conn.ExecScript(
          "migrate schema " + std::to_string(v) + " to " + std::to_string(v + 1), kMigrations[v]));
    }
    if (version == kPostgresSchemaVersion) return Status::Ok();
    return conn
        .Exec("record schema version",
              "INSERT INTO berth_schema(version) VALUES($1) ON CONFLICT (one) DO UPDATE SET "
              "version=EXCLUDED.version",
              PgParams(kPostgresSchemaVersion))
        .status();
  });
}

}  // namespace berth
