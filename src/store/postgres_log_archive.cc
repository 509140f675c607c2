// PostgresStore's LogArchive half: jobs' logs in table job_logs (BYTEA, sent and read as hex
// text), one row per chunk. One job's appends are serialized by a transaction-scoped advisory
// lock on the job (two nodes shipping the same job still store each byte once); reads run in one
// REPEATABLE READ snapshot. The arithmetic is log_archive.h's, shared with SqliteStore.
#include <utility>

#include "store/postgres_store.h"

namespace berth {
namespace {

using log_archive::StoredRange;

// The advisory lock class of job logs (the first key of pg_advisory_xact_lock(int, int)).
constexpr const char* kLockClass = "1819240307";  // "logs"

std::string Hex(std::string_view data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (unsigned char c : data) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> Unhex(const std::string& hex) {
  if (hex.size() % 2 != 0) return Status::Internal("postgres: read job log: odd hex length");
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexDigit(hex[2 * i]), lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Status::Internal("postgres: read job log: not hex");
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

// The job's stored range and its last chunk; nullopt when nothing is stored.
struct Stored {
  StoredRange range;
  uint64_t last_offset = 0;
  uint64_t last_size = 0;
};

Result<std::optional<Stored>> ReadStored(PgConnection& c, std::string_view job_id,
                                         std::string_view op) {
  ASSIGN_OR_RETURN(PgRows r,
                   c.Exec(op,
                          "SELECT (SELECT stream_offset FROM job_logs WHERE job_id=$1 "
                          "ORDER BY stream_offset LIMIT 1), s.stream_offset, length(s.data) "
                          "FROM job_logs s WHERE s.job_id=$1 ORDER BY s.stream_offset DESC LIMIT 1",
                          PgParams(job_id)));
  if (r.empty()) return std::optional<Stored>();
  Stored s;
  s.last_offset = static_cast<uint64_t>(r.Int(0, 1));
  s.last_size = static_cast<uint64_t>(r.Int(0, 2));
  s.range = {static_cast<uint64_t>(r.Int(0, 0)), s.last_offset + s.last_size};
  return std::optional<Stored>(s);
}

std::optional<StoredRange> RangeOf(const std::optional<Stored>& s) {
  return s ? std::optional<StoredRange>(s->range) : std::nullopt;
}

// Reads the chunks overlapping [from, from + n): the one holding `from`, and those after it.
log_archive::RowReader RowsOf(PgConnection& c, std::string_view job_id) {
  return [&c, job_id](uint64_t from, uint64_t n) -> Result<log_archive::Rows> {
    ASSIGN_OR_RETURN(
        PgRows r,
        c.Exec("read job log",
               "SELECT stream_offset, encode(data, 'hex') FROM job_logs WHERE job_id=$1 AND "
               "stream_offset >= coalesce((SELECT stream_offset FROM job_logs WHERE job_id=$1 "
               "AND stream_offset <= $2 ORDER BY stream_offset DESC LIMIT 1), 0) "
               "AND stream_offset < $3 ORDER BY stream_offset",
               PgParams(job_id, static_cast<int64_t>(from), static_cast<int64_t>(from + n))));
    log_archive::Rows rows;
    for (int i = 0; i < r.size(); ++i) {
      ASSIGN_OR_RETURN(std::string data, Unhex(r.Text(i, 1)));
      rows.emplace_back(static_cast<uint64_t>(r.Int(i, 0)), std::move(data));
    }
    return rows;
  };
}

}  // namespace

Status PostgresStore::ReadSnapshot(std::string_view op,
                                   const std::function<Status(PgConnection&)>& body) {
  ASSIGN_OR_RETURN(PgPool::Lease lease, pool_->Borrow());
  PgConnection& c = *lease;
  return c.InTransaction(op, [&]() -> Status {
    RETURN_IF_ERROR(
        c.Exec(op, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").status());
    return body(c);
  });
}

Status PostgresStore::AppendLog(std::string_view job_id, uint64_t offset, std::string_view data,
                                uint64_t keep_bytes) {
  constexpr std::string_view kOp = "append job log";
  return Write(kOp, [&](PgConnection& c) -> Status {
    RETURN_IF_ERROR(
        c.Exec(kOp, std::string("SELECT pg_advisory_xact_lock(") + kLockClass + ", hashtext($1))",
               PgParams(job_id))
            .status());
    // KEY SHARE: the job cannot be deleted under the append (nor is anything else held up).
    ASSIGN_OR_RETURN(PgRows job,
                     c.Exec(kOp, "SELECT 1 FROM jobs WHERE id=$1 FOR KEY SHARE", PgParams(job_id)));
    if (job.empty()) return Status::NotFound("job " + std::string(job_id) + " does not exist");
    ASSIGN_OR_RETURN(std::optional<Stored> stored, ReadStored(c, job_id, kOp));
    log_archive::AppendPlan plan =
        log_archive::PlanAppend(RangeOf(stored), stored ? stored->last_offset : 0,
                                stored ? stored->last_size : 0, offset, data, keep_bytes);
    if (plan.nothing) return Status::Ok();
    if (plan.drop_all) {
      RETURN_IF_ERROR(
          c.Exec(kOp, "DELETE FROM job_logs WHERE job_id=$1", PgParams(job_id)).status());
    }
    if (plan.grow_last) {
      RETURN_IF_ERROR(
          c.Exec(kOp,
                 "UPDATE job_logs SET data = data || decode($3, 'hex') "
                 "WHERE job_id=$1 AND stream_offset=$2",
                 PgParams(job_id, static_cast<int64_t>(stored->last_offset), Hex(plan.data)))
              .status());
    } else {
      RETURN_IF_ERROR(c.Exec(kOp,
                             "INSERT INTO job_logs(job_id, stream_offset, data) "
                             "VALUES($1, $2, decode($3, 'hex'))",
                             PgParams(job_id, static_cast<int64_t>(plan.offset), Hex(plan.data)))
                          .status());
    }
    if (plan.drop_below > 0) {
      RETURN_IF_ERROR(c.Exec(kOp, "DELETE FROM job_logs WHERE job_id=$1 AND stream_offset < $2",
                             PgParams(job_id, static_cast<int64_t>(plan.drop_below)))
                          .status());
    }
    return Status::Ok();
  });
}

Result<uint64_t> PostgresStore::StoredLogEnd(std::string_view job_id) {
  constexpr std::string_view kOp = "stored log end";
  uint64_t end = 0;
  RETURN_IF_ERROR(ReadSnapshot(kOp, [&](PgConnection& c) -> Status {
    ASSIGN_OR_RETURN(std::optional<Stored> stored, ReadStored(c, job_id, kOp));
    if (stored) end = stored->range.end;
    return Status::Ok();
  }));
  return end;
}

Result<LogChunk> PostgresStore::ReadLogFrom(std::string_view job_id, uint64_t offset,
                                            size_t max_bytes) {
  constexpr std::string_view kOp = "read job log";
  {
    // A follower mostly asks for output that is not there yet: one statement says so, without
    // the snapshot transaction that reading chunks needs.
    ASSIGN_OR_RETURN(PgPool::Lease lease, pool_->Borrow());
    ASSIGN_OR_RETURN(std::optional<Stored> stored, ReadStored(*lease, job_id, kOp));
    if (!stored || (offset >= stored->range.end && offset >= stored->range.start)) {
      return LogChunk{"", offset};
    }
  }
  LogChunk chunk;
  RETURN_IF_ERROR(ReadSnapshot(kOp, [&](PgConnection& c) -> Status {
    ASSIGN_OR_RETURN(std::optional<Stored> stored, ReadStored(c, job_id, kOp));
    ASSIGN_OR_RETURN(chunk,
                     log_archive::ReadFrom(RangeOf(stored), offset, max_bytes, RowsOf(c, job_id)));
    return Status::Ok();
  }));
  return chunk;
}

Result<JobLog> PostgresStore::ReadLogTail(std::string_view job_id, size_t max_bytes) {
  constexpr std::string_view kOp = "read job log tail";
  JobLog log;
  RETURN_IF_ERROR(ReadSnapshot(kOp, [&](PgConnection& c) -> Status {
    ASSIGN_OR_RETURN(std::optional<Stored> stored, ReadStored(c, job_id, kOp));
    ASSIGN_OR_RETURN(log, log_archive::ReadTail(RangeOf(stored), max_bytes, RowsOf(c, job_id)));
    return Status::Ok();
  }));
  return log;
}

}  // namespace berth
