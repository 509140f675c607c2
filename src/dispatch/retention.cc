#include "dispatch/retention.h"

#include <algorithm>
#include <cstdio>

#include "common/log.h"

namespace berth {

RetentionSweeper::RetentionSweeper(RetentionOptions opts, Store& store, Runtime& runtime,
                                   Clock& clock)
    : opts_(opts), store_(store), runtime_(runtime), clock_(clock), scheduler_(clock) {}

void RetentionSweeper::Start() {
  Sweep();
  ScheduleNext();
}

void RetentionSweeper::ScheduleNext() {
  milliseconds every = std::clamp(opts_.retention / 4, milliseconds(500), opts_.interval);
  scheduler_.After(every, [this] {
    Sweep();
    ScheduleNext();
  });
}

int RetentionSweeper::Sweep() {
  int removed = 0;
  for (;;) {
    auto ids = store_.ListFinishedBefore(clock_.Now() - opts_.retention, 256);
    if (!ids.ok()) {
      LogError("retention: list expired jobs", {{"error", ids.status().ToString()}});
      return removed;
    }
    int before = removed;
    for (const auto& id : *ids) {
      // Files first: a crash in between leaves a record without files, never an orphan dir.
      Status st = runtime_.Remove(id);
      if (st.ok()) st = store_.DeleteJob(id);
      if (st.ok() || st.IsNotFound()) {
        ++removed;
      } else {
        LogError("retention: remove job", {{"job", id}, {"error", st.ToString()}});
      }
    }
    if (ids->size() < 256 || removed == before) return removed;
  }
}

int RetentionSweeper::RemoveOrphans() {
  int removed = 0;
  for (const auto& id : runtime_.ListLocalJobs()) {
    auto job = store_.GetJob(id);
    if (job.ok() || !job.status().IsNotFound()) continue;
    Status st = runtime_.Remove(id);
    if (st.ok()) {
      ++removed;
      LogInfo("removed orphan job files (no record in the store)", {{"job", id}});
    } else {
      LogError("remove orphan job files", {{"job", id}, {"error", st.ToString()}});
    }
  }
  return removed;
}

}  // namespace berth
