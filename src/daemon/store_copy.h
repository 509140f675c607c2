// `berth store copy`: moves a node's history into a PostgreSQL store, so that a user who
// outgrows one machine keeps what they have (issue 11). What moves: every job with its whole
// record (state, exit code, reason, times, attempts, history, idempotency key, schedule, array,
// callback delivery, node), the queue messages of the jobs that still wait (so they run after
// the move), the schedules with their firing state, the keys, and the jobs' logs.
//
// The source is a stopped node's data dir (its berth.db, key files and jobs/<id>/log files; the
// copy holds the dir's lock, so the daemon cannot start meanwhile) or a PostgreSQL connection.
// The destination is a PostgreSQL connection. A destination that holds jobs already is refused
// unless `merge`; with it, jobs and schedules already there are left as they are, so a copy that
// stopped half-way can simply be run again.
//
// CopyStore does the work over open stores (tests call it); RunStoreCopy opens them from the
// command's arguments. Neither is thread-safe with itself; the stores are.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "api/keys.h"
#include "common/clock.h"
#include "common/status.h"
#include "job/job_service.h"
#include "store/key_rows.h"
#include "store/log_archive.h"
#include "store/store.h"
#include "store/store_import.h"
#include "store/trigger_store.h"

namespace berth {

struct StoreCopyOptions {
  // Copy into a destination that holds jobs already; jobs and schedules there are kept, a key
  // there keeps its value. Default false: such a destination is refused.
  bool merge = false;
  // The job queues (JobQueueName) whose messages move; each one's poison queue
  // (`<queue>-poison`) moves too. Default {"jobs"}, berth's default queue.
  std::vector<std::string> queues = {"jobs"};
  // The most of each job's log the destination keeps (its nodes' JobLogMaxBytes).
  uint64_t log_keep_bytes = 64 << 20;
  // Called after each job with (jobs done, jobs in all); may be empty.
  std::function<void(int64_t done, int64_t total)> progress;
};

// Where the copy reads.
struct CopySource {
  Store* store = nullptr;
  TriggerStore* triggers = nullptr;
  std::vector<KeyRow> keys;  // the keys to copy, as rows (see store/key_rows.h)
  // A job's log from a stream offset (as ReadLogChunk in job/job_log.h); empty = no logs.
  std::function<Result<LogChunk>(const std::string& id, uint64_t offset, size_t max_bytes)>
      read_log;
};

// Where the copy writes.
struct CopyDestination {
  Store* store = nullptr;
  StoreImport* import = nullptr;
  KeyRows* keys = nullptr;
  LogArchive* logs = nullptr;  // null: logs are not copied (the report says so)
};

struct StoreCopyReport {
  int64_t jobs = 0;          // jobs in the source
  int64_t jobs_copied = 0;   // written to the destination
  int64_t jobs_present = 0;  // there already (merge): left as they were
  int64_t messages = 0;      // queue messages copied with their jobs
  int64_t schedules_copied = 0;
  int64_t schedules_present = 0;
  int64_t keys_copied = 0;  // written (new, or replacing another value without merge)
  int64_t keys_kept = 0;    // same-named keys that keep the destination's value (merge)
  int64_t logs = 0;         // jobs whose log was copied
  int64_t log_bytes = 0;
  bool logs_skipped = false;          // the destination keeps no logs (CopyDestination::logs)
  std::vector<std::string> warnings;  // what the user should know (printed by the command)
};

// The keys of a KeySet (api/keys.h) as rows: the master key as ("", "_master"), host keys with
// scope "", a function's keys with the function's name.
std::vector<KeyRow> KeyRowsOf(const KeySet& keys);

// Copies everything from `from` to `to` (see the top of this file). FailedPrecondition when the
// destination holds jobs and !opts.merge; the first store error otherwise (what was copied
// before it stays: run the copy again with merge).
Result<StoreCopyReport> CopyStore(const CopySource& from, const CopyDestination& to,
                                  const StoreCopyOptions& opts);

// The command: `from` is a data dir or a PostgreSQL connection (a postgresql:// URI or a libpq
// key=value string), `to` a PostgreSQL connection. FailedPrecondition when the data dir's daemon
// runs; InvalidArgument for a `from` or `to` that is neither.
Result<StoreCopyReport> RunStoreCopy(const std::string& from, const std::string& to,
                                     const StoreCopyOptions& opts, Clock& clock);

}  // namespace berth
