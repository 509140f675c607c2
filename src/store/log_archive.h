// LogArchive: jobs' logs kept in the store, so that any node serves any job's log (issue 11).
// A worker's monitor writes the log file locally; the worker ships it here in chunks, each
// addressed by its *stream offset* (bytes of the job's output before it; job/job_log.h), so a
// chunk shipped twice (a retry after a lost answer) is stored once. At most `max_bytes` of a
// job's newest output are kept (JobLogMaxBytes): older chunks are dropped, and readers learn how
// much was dropped the way a trimmed log file tells them (DroppedHeader).
//
// The rows live in the store's database (table job_logs) and go with their job (DeleteJob).
// Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "job/job_service.h"

namespace berth {

class LogArchive {
 public:
  virtual ~LogArchive() = default;

  // Stores `data`, the job's output from stream offset `offset` on. A chunk that starts before
  // what is stored already keeps only its new part; NotFound when the job does not exist.
  virtual Status AppendLog(std::string_view job_id, uint64_t offset, std::string_view data) = 0;

  // Stream offset where the job's stored output ends (0 before any), for a shipper restarting.
  virtual Result<uint64_t> StoredLogEnd(std::string_view job_id) = 0;

  // As ReadLogChunk (job/job_log.h), from the stored chunks.
  virtual Result<LogChunk> ReadLogFrom(std::string_view job_id, uint64_t offset,
                                       size_t max_bytes) = 0;

  // At most the last `max_bytes` of the stored output (truncated when older output exists).
  virtual Result<JobLog> ReadLogTail(std::string_view job_id, size_t max_bytes) = 0;
};

}  // namespace berth
