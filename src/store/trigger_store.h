// TriggerStore: what the triggers (triggers/: schedules) keep in the store, beside the jobs.
// A second interface rather than more of Store, so the Store wrappers (fault injection,
// metrics) stay as they are; SqliteStore implements both. Every method is thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "job/job.h"
#include "job/schedule.h"

namespace berth {

// One completion callback in the outbox (see triggers/callback_deliverer.h).
struct CallbackDelivery {
  std::string job_id;
  CallbackStatus status;
};

class TriggerStore {
 public:
  virtual ~TriggerStore() = default;

  // Stores a new schedule. AlreadyExists when the name is taken.
  virtual Status CreateSchedule(const ScheduleRecord& schedule) = 0;

  // Replaces a schedule's spec and updated_at; its handled_through becomes the later of the
  // stored one and `schedule.handled_through` (firing counters and last job are kept).
  // NotFound when there is none.
  virtual Status ReplaceSchedule(const ScheduleRecord& schedule) = 0;

  virtual Result<ScheduleRecord> GetSchedule(std::string_view name) = 0;
  // Every schedule, by name.
  virtual Result<std::vector<ScheduleRecord>> ListSchedules() = 0;
  // NotFound when there is none.
  virtual Status DeleteSchedule(std::string_view name) = 0;

  // One step of a schedule, in one transaction, only while its handled_through is still
  // `expected` (a compare-and-set: a second node, a restart or a PUT that got there first wins):
  // sets handled_through to `through`; with `job`, inserts it (Queued, one message on `queue`)
  // and records it as the newest firing (at `through`); adds `skipped` to the skipped count.
  // FailedPrecondition (and nothing written) when the schedule changed or is gone.
  virtual Status AdvanceSchedule(std::string_view name, TimePoint expected, TimePoint through,
                                 const std::optional<JobRecord>& job, std::string_view queue,
                                 int skipped) = 0;

  // Completion callbacks. The outbox row of a job with a callbackUrl is written by the Store in
  // the same transaction as the job's terminal state (Pending, due at once).
  //
  // Claims up to `max` Pending deliveries that are due: each counts one more attempt and is not
  // due again before now + `lease` (a crashed deliverer's claim runs out).
  virtual Result<std::vector<CallbackDelivery>> ClaimCallbacks(int max, milliseconds lease) = 0;
  // Records how an attempt went: `after`'s state, last error, next attempt and delivery time.
  virtual Status RecordCallbackAttempt(std::string_view job_id, const CallbackStatus& after) = 0;

  // Job arrays. SubmitJob of a spec with count N writes the parent (no message: it never runs)
  // and N children, and gives messages to the first `parallelism` of them; each child's end
  // gives the next waiting child its message and is counted on the parent, in the same
  // transaction, and the last one ends the parent. RequestCancel of a parent cancels every child.
  //
  // The children of `parent` with index > `after_index`, by index, at most `limit`, only those
  // in `state` when given, as summaries (see Store::ListJobSummaries: an array of 10,000
  // children is listed without reading 10,000 specs). NotFound when there is no such job.
  virtual Result<std::vector<JobRecord>> ListChildren(std::string_view parent,
                                                      std::optional<JobState> state, int limit,
                                                      int after_index) = 0;
};

}  // namespace berth
