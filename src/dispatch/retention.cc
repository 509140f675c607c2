#include "dispatch/retention.h"

#include <algorithm>
#include <cstdio>

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
      fprintf(stderr, "berth: retention: %s\n", ids.status().ToString().c_str());
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
        fprintf(stderr, "berth: retention: job %s: %s\n", id.c_str(), st.ToString().c_str());
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
      fprintf(stderr, "berth: removed orphan job files %s (no record in the store)\n", id.c_str());
    } else {
      fprintf(stderr, "berth: orphan %s: %s\n", id.c_str(), st.ToString().c_str());
    }
  }
  return removed;
}

}  // namespace berth
