// SqliteStore's LogArchive half: jobs' logs in table job_logs, one row per chunk. Appends run in
// the writer's transaction (so one job's appends are serialized); reads in one reader snapshot.
// The arithmetic is log_archive.h's, shared with PostgresStore; only the SQL is here.
#include <sqlite3.h>

#include <utility>

#include "store/sqlite_store.h"

namespace berth {
namespace {

using log_archive::StoredRange;

// How a result code becomes a Status (SqliteStore::StatusOf, the store's one mapping).
using StatusFn = Status (*)(sqlite3*, int, std::string_view);

// A statement prepared for one use: bindings in, rows out, finalized on destruction.
class Query {
 public:
  Query(sqlite3* db, StatusFn status_of, const char* sql, std::string_view op)
      : db_(db), status_of_(status_of), op_(op) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Query() { sqlite3_finalize(stmt_); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& Bind(int i, std::string_view text) {
    return Check(
        sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT));
  }
  Query& Bind(int i, uint64_t v) {
    return Check(sqlite3_bind_int64(stmt_, i, static_cast<sqlite3_int64>(v)));
  }
  Query& BindBlob(int i, std::string_view data) {
    return Check(sqlite3_bind_blob64(stmt_, i, data.data(), data.size(), SQLITE_TRANSIENT));
  }

  // True when a row is ready.
  Result<bool> Step() {
    if (rc_ != SQLITE_OK) return status_of_(db_, rc_, op_);
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return status_of_(db_, rc, op_);
  }
  Status Run() {
    for (;;) {
      ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return Status::Ok();
    }
  }

  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  uint64_t Int(int col) const { return static_cast<uint64_t>(sqlite3_column_int64(stmt_, col)); }
  std::string Blob(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }

 private:
  Query& Check(int rc) {
    if (rc != SQLITE_OK && rc_ == SQLITE_OK) rc_ = rc;
    return *this;
  }

  sqlite3* db_;
  StatusFn status_of_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string_view op_;
  int rc_ = SQLITE_OK;
};

// The job's stored range and its last chunk; nullopt when nothing is stored.
struct Stored {
  StoredRange range;
  uint64_t last_offset = 0;
  uint64_t last_size = 0;
};

Result<std::optional<Stored>> ReadStored(sqlite3* db, StatusFn status_of, std::string_view job_id,
                                         std::string_view op) {
  Query q(db, status_of,
          "SELECT (SELECT stream_offset FROM job_logs WHERE job_id=?1 ORDER BY stream_offset "
          "LIMIT 1), s.stream_offset, length(s.data) FROM job_logs s WHERE s.job_id=?1 "
          "ORDER BY s.stream_offset DESC LIMIT 1",
          op);
  q.Bind(1, job_id);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<Stored>();
  Stored s;
  s.last_offset = q.Int(1);
  s.last_size = q.Int(2);
  s.range = {q.Int(0), s.last_offset + s.last_size};
  return std::optional<Stored>(s);
}

std::optional<StoredRange> RangeOf(const std::optional<Stored>& s) {
  return s ? std::optional<StoredRange>(s->range) : std::nullopt;
}

// Reads the chunks overlapping [from, from + n): the one holding `from`, and those after it.
log_archive::RowReader RowsOf(sqlite3* db, StatusFn status_of, std::string_view job_id) {
  return [=](uint64_t from, uint64_t n) -> Result<log_archive::Rows> {
    Query q(db, status_of,
            "SELECT stream_offset, data FROM job_logs WHERE job_id=?1 AND stream_offset >= "
            "coalesce((SELECT stream_offset FROM job_logs WHERE job_id=?1 AND stream_offset <= ?2 "
            "ORDER BY stream_offset DESC LIMIT 1), 0) AND stream_offset < ?3 "
            "ORDER BY stream_offset",
            "read job log");
    q.Bind(1, job_id).Bind(2, from).Bind(3, from + n);
    log_archive::Rows rows;
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) return rows;
      rows.emplace_back(q.Int(0), q.Blob(1));
    }
  };
}

}  // namespace

Status SqliteStore::AppendLog(std::string_view job_id, uint64_t offset, std::string_view data,
                              uint64_t keep_bytes) {
  constexpr std::string_view kOp = "append job log";
  return WithWriterDb(kOp, [&](sqlite3* db) -> Status {
    Query job(db, &StatusOf, "SELECT 1 FROM jobs WHERE id=?1", kOp);
    job.Bind(1, job_id);
    ASSIGN_OR_RETURN(bool exists, job.Step());
    if (!exists) return Status::NotFound("job " + std::string(job_id) + " does not exist");
    ASSIGN_OR_RETURN(std::optional<Stored> stored, ReadStored(db, &StatusOf, job_id, kOp));
    log_archive::AppendPlan plan =
        log_archive::PlanAppend(RangeOf(stored), stored ? stored->last_offset : 0,
                                stored ? stored->last_size : 0, offset, data, keep_bytes);
    if (plan.nothing) return Status::Ok();
    if (plan.drop_all) {
      Query drop(db, &StatusOf, "DELETE FROM job_logs WHERE job_id=?1", kOp);
      RETURN_IF_ERROR(drop.Bind(1, job_id).Run());
    }
    if (plan.grow_last) {
      // SQLite's || makes text of blobs: the chunk is rebuilt here (it is small by the rule).
      Query last(db, &StatusOf, "SELECT data FROM job_logs WHERE job_id=?1 AND stream_offset=?2",
                 kOp);
      last.Bind(1, job_id).Bind(2, stored->last_offset);
      ASSIGN_OR_RETURN(bool row, last.Step());
      if (!row) return Status::Internal("sqlite: append job log: the last chunk vanished");
      std::string grown = last.Blob(0);
      grown.append(plan.data);
      Query update(db, &StatusOf,
                   "UPDATE job_logs SET data=?3 WHERE job_id=?1 AND stream_offset=?2", kOp);
      RETURN_IF_ERROR(update.Bind(1, job_id).Bind(2, stored->last_offset).BindBlob(3, grown).Run());
    } else {
      Query insert(db, &StatusOf,
                   "INSERT INTO job_logs(job_id, stream_offset, data) VALUES(?1, ?2, ?3)", kOp);
      RETURN_IF_ERROR(insert.Bind(1, job_id).Bind(2, plan.offset).BindBlob(3, plan.data).Run());
    }
    if (plan.drop_below > 0) {
      Query trim(db, &StatusOf, "DELETE FROM job_logs WHERE job_id=?1 AND stream_offset < ?2", kOp);
      RETURN_IF_ERROR(trim.Bind(1, job_id).Bind(2, plan.drop_below).Run());
    }
    return Status::Ok();
  });
}

Result<uint64_t> SqliteStore::StoredLogEnd(std::string_view job_id) {
  constexpr std::string_view kOp = "stored log end";
  uint64_t end = 0;
  RETURN_IF_ERROR(WithReaderDb(kOp, [&](sqlite3* db) -> Status {
    ASSIGN_OR_RETURN(std::optional<Stored> stored, ReadStored(db, &StatusOf, job_id, kOp));
    if (stored) end = stored->range.end;
    return Status::Ok();
  }));
  return end;
}

Result<LogChunk> SqliteStore::ReadLogFrom(std::string_view job_id, uint64_t offset,
                                          size_t max_bytes) {
  constexpr std::string_view kOp = "read job log";
  LogChunk chunk;
  RETURN_IF_ERROR(WithReaderDb(kOp, [&](sqlite3* db) -> Status {
    ASSIGN_OR_RETURN(std::optional<Stored> stored, ReadStored(db, &StatusOf, job_id, kOp));
    ASSIGN_OR_RETURN(chunk, log_archive::ReadFrom(RangeOf(stored), offset, max_bytes,
                                                  RowsOf(db, &StatusOf, job_id)));
    return Status::Ok();
  }));
  return chunk;
}

Result<JobLog> SqliteStore::ReadLogTail(std::string_view job_id, size_t max_bytes) {
  constexpr std::string_view kOp = "read job log tail";
  JobLog log;
  RETURN_IF_ERROR(WithReaderDb(kOp, [&](sqlite3* db) -> Status {
    ASSIGN_OR_RETURN(std::optional<Stored> stored, ReadStored(db, &StatusOf, job_id, kOp));
    ASSIGN_OR_RETURN(
        log, log_archive::ReadTail(RangeOf(stored), max_bytes, RowsOf(db, &StatusOf, job_id)));
    return Status::Ok();
  }));
  return log;
}

}  // namespace berth
