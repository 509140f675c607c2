// StoreImport: writes records another store holds into this one whole, as they are (`berth store
// copy`, daemon/store_copy.h), instead of through SubmitJob's fresh Queued job. PostgresStore
// implements it (postgres_import.cc). Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "job/job.h"
#include "job/schedule.h"
#include "store/store.h"

namespace berth {

// A job as its source store holds it.
struct ImportedJob {
  // Every field as stored: state, exit code, reason, times, attempts, history, idempotency key,
  // cancel request, schedule and firing time, parent and index, node, the callback's delivery,
  // and for an array parent its children's counts by state (JobRecord::children: the ended and
  // succeeded counts the parent keeps are taken from them). `seq` is ignored: the destination
  // numbers the jobs it receives in the order they come.
  JobRecord job;
  // An array parent: the queue its waiting children get their messages on.
  std::string array_queue;
  // The job's queue messages (queue, dequeue count, insertion and visibility times). A claim
  // (pop receipt) is not carried over: a claimed message arrives unclaimed.
  std::vector<QueueMessage> messages;
};

class StoreImport {
 public:
  virtual ~StoreImport() = default;

  // Writes `imported` (its job, callback row and messages) in one transaction. AlreadyExists,
  // with nothing written, when a job with its id (or its idempotency key) exists.
  virtual Status ImportJob(const ImportedJob& imported) = 0;

  // Writes `schedule` whole (its firing state, counts and last job included). AlreadyExists,
  // with nothing written, when a schedule of that name exists.
  virtual Status ImportSchedule(const ScheduleRecord& schedule) = 0;
};

}  // namespace berth
