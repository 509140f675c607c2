// RetentionSweeper: removes finished jobs (record, log, bundle, upper dir) once they are older
// than the retention period, and at start-up removes this node's orphans: job files that no
// store record claims. Runs on a Scheduler. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/clock.h"
#include "common/scheduler.h"
#include "runtime/runtime.h"
#include "store/store.h"

namespace berth {

struct RetentionOptions {
  milliseconds retention{72LL * 3600 * 1000};  // JobRetentionHours: finished jobs kept this long
  milliseconds interval{60'000};               // how often to sweep (capped by retention / 4)
};

class RetentionSweeper {
 public:
  RetentionSweeper(RetentionOptions opts, Store& store, Runtime& runtime, Clock& clock);

  // Sweeps now and then every interval, until destroyed.
  void Start();

  // Removes expired jobs; returns how many were removed.
  int Sweep();

  // Removes job files on this node that have no store record; returns how many.
  int RemoveOrphans();

 private:
  void ScheduleNext();

  RetentionOptions opts_;
  Store& store_;
  Runtime& runtime_;
  Clock& clock_;
  Scheduler scheduler_;
};

}  // namespace berth
