// LogArchive: jobs' logs kept in the store, so that any node serves any job's log (issue 11).
// A worker's monitor writes the log file locally; the worker ships it here in chunks, each
// addressed by its *stream offset* (bytes of the job's output before it; job/job_log.h), so a
// chunk shipped twice (a retry after a lost answer) is stored once. At most `keep_bytes` of a
// job's newest output are kept (JobLogMaxBytes): whole older chunks are dropped, and readers
// learn how much was dropped the way a trimmed log file tells them (DroppedHeader), so a
// follower addressing the log by stream offset never repeats or silently skips output.
//
// The stored output of a job is always one contiguous range of its stream [start, end): a chunk
// that starts past `end` (its node's file was trimmed before that output was shipped) drops
// everything older, as the file did.
//
// The rows live in the store's database (table job_logs) and go with their job (DeleteJob).
// Implemented by SqliteStore (sqlite_log_archive.cc) and PostgresStore (postgres_log_archive.cc).
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "job/job_service.h"

namespace berth {

class LogArchive {
 public:
  virtual ~LogArchive() = default;

  // Stores `data`, the job's output from stream offset `offset` on, then drops the job's oldest
  // whole chunks until at most `keep_bytes` remain (a chunk longer than that keeps its newest
  // `keep_bytes`). A chunk that starts before the stored end keeps only its new part (nothing
  // when it is all stored already): appends are idempotent by offset. NotFound when the job does
  // not exist.
  virtual Status AppendLog(std::string_view job_id, uint64_t offset, std::string_view data,
                           uint64_t keep_bytes) = 0;

  // Stream offset where the job's stored output ends (0 before any, and for an unknown job), for
  // a shipper restarting.
  virtual Result<uint64_t> StoredLogEnd(std::string_view job_id) = 0;

  // As ReadLogChunk (job/job_log.h), from the stored chunks: at most `max_bytes` from stream
  // offset `offset`; when `offset` names dropped output the chunk starts with the DroppedHeader
  // and goes on from the oldest output kept. Empty (next_offset = offset) at or past the end.
  virtual Result<LogChunk> ReadLogFrom(std::string_view job_id, uint64_t offset,
                                       size_t max_bytes) = 0;

  // At most the last `max_bytes` of the stored log as a trimmed file would hold it (the
  // DroppedHeader, then the output kept); `truncated` when older output exists beyond `text`.
  virtual Result<JobLog> ReadLogTail(std::string_view job_id, size_t max_bytes) = 0;
};

// For the engines: the arithmetic they share (log_archive.cc), so that both store and read the
// same way and only the SQL differs.
namespace log_archive {

// A chunk at most this long may grow by the next append instead of a new chunk following it
// (fewer rows for a job that prints a little at every shipment). Capped to keep_bytes / 4 so
// that the chunk being grown is never the one dropped.
constexpr uint64_t kCoalesceBytes = 32 << 10;

// The job's stored output: stream offsets [start, end).
struct StoredRange {
  uint64_t start = 0;
  uint64_t end = 0;
};

// What an append does, given the last stored chunk (`last_offset`, `last_size`) and the range.
struct AppendPlan {
  bool nothing = false;     // all of it is stored already
  bool drop_all = false;    // drop every stored chunk first (a gap, or data longer than keep)
  bool grow_last = false;   // append `data` to the last chunk instead of adding one
  uint64_t offset = 0;      // stream offset of `data`
  std::string_view data;    // what to store
  uint64_t drop_below = 0;  // afterwards drop the chunks that start before this offset
};
AppendPlan PlanAppend(const std::optional<StoredRange>& stored, uint64_t last_offset,
                      uint64_t last_size, uint64_t offset, std::string_view data,
                      uint64_t keep_bytes);

// Chunks as read from the store: (stream offset, data), ascending.
using Rows = std::vector<std::pair<uint64_t, std::string>>;
// Reads the stored bytes [from, from + n): the chunks that overlap it.
using RowReader = std::function<Result<Rows>(uint64_t from, uint64_t n)>;

// LogArchive::ReadLogFrom and ReadLogTail over `stored` (nullopt: nothing stored).
Result<LogChunk> ReadFrom(const std::optional<StoredRange>& stored, uint64_t offset,
                          size_t max_bytes, const RowReader& read);
Result<JobLog> ReadTail(const std::optional<StoredRange>& stored, size_t max_bytes,
                        const RowReader& read);

}  // namespace log_archive

}  // namespace berth
