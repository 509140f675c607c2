// ScheduleRunner: the timer trigger. Keeps schedules in the TriggerStore and, on a thread of its
// own, turns each due firing into an ordinary job (Queued, one queue message, the schedule's
// name on it), in the same transaction that moves the schedule's handled_through past the
// firing. That compare-and-set makes a firing produce exactly one job, across restarts and
// nodes: whoever advances the schedule first makes the job; everybody else's write fails.
//
// A firing time T is on time while now - T <= startingDeadlineSeconds (a daemon that was down
// for a moment, or a busy store, fires it late, as itself). Older firings were missed: they are
// skipped (counted), or with catchUp the missed ones make one job between them, never one per
// missed tick. Concurrency policy: Forbid skips a firing while the schedule's previous job is
// not finished; Replace cancels that job first; Allow runs both.
//
// Also the ScheduleService the API uses (create, replace, list, delete; each wakes the loop).
// Thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/mutex.h"
#include "job/schedule.h"
#include "store/store.h"
#include "store/trigger_store.h"

namespace berth {

struct ScheduleRunnerOptions {
  std::string queue = "jobs";  // JobQueueName: where firings' jobs go
  // Runs after a firing made a job (the daemon wakes its dispatcher). May be empty.
  std::function<void()> wake;
  // Cancels a job (Replace policy); the daemon's JobService::Cancel. May be empty (no cancel).
  std::function<Status(const std::string& job_id)> cancel;
  // The loop re-reads the schedules at least this often (another node may have changed them).
  milliseconds max_sleep{1000};
  // At most this many firings of one schedule per pass (a tight schedule after a long stop).
  int max_firings_per_pass = 100;
};

class ScheduleRunner : public ScheduleService {
 public:
  // `triggers` keeps the schedules; `jobs` answers the previous job's state. All references
  // must outlive the runner.
  ScheduleRunner(ScheduleRunnerOptions opts, TriggerStore& triggers, Store& jobs, Clock& clock);
  ~ScheduleRunner() override;
  ScheduleRunner(const ScheduleRunner&) = delete;
  ScheduleRunner& operator=(const ScheduleRunner&) = delete;

  // Starts the loop thread (RunDue whenever a firing is due, or after a change).
  void Start();
  // Stops and joins the loop; idempotent.
  void Stop();

  // One pass at the clock's now: handles every due firing of every schedule. Returns when the
  // next firing is due (at most now + max_sleep). The loop's step; tests call it directly.
  TimePoint RunDue();

  Result<ScheduleView> Create(ScheduleSpec spec) override;
  Result<ScheduleView> Put(ScheduleSpec spec) override;
  Result<ScheduleView> Get(std::string_view name) override;
  Result<std::vector<ScheduleView>> List() override;
  Result<ScheduleView> SetEnabled(std::string_view name, bool enabled) override;
  Status Delete(std::string_view name) override;

 private:
  // Handles `s`'s due firings; returns its next firing time (nullopt: none, or disabled).
  std::optional<TimePoint> RunSchedule(ScheduleRecord s, TimePoint now);
  // Makes the job of firing `at` (with catch-up `late` in its key) and advances to `through`.
  Status Fire(const ScheduleRecord& s, TimePoint expected, TimePoint at, TimePoint through,
              int skipped);
  ScheduleView View(ScheduleRecord r) const;
  void Wake();
  void Loop();

  ScheduleRunnerOptions opts_;
  TriggerStore& triggers_;
  Store& jobs_;
  Clock& clock_;

  Mutex run_mu_;  // one RunDue at a time

  Mutex mu_;
  std::condition_variable_any cv_;
  bool woken_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace berth
