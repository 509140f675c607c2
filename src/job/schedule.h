// Schedules: a job spec run on a cron schedule (the Functions timer trigger, Container Apps
// scheduled jobs, Kubernetes CronJob). Plain value types, their JSON, and the ScheduleService
// interface the API uses (implemented in triggers/). The cron grammar itself lives in
// triggers/cron.h: this layer only carries the expression.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "job/job_spec.h"

namespace berth {

// What happens when a firing comes while the schedule's previous job still runs.
// kAllow: run both. kForbid: skip the firing. kReplace: cancel the previous job, run the new one.
enum class ConcurrencyPolicy { kAllow, kForbid, kReplace };
std::string_view ToString(ConcurrencyPolicy p);

struct ScheduleSpec {
  std::string name;               // [A-Za-z0-9][A-Za-z0-9._-]{0,62}; the URL segment
  std::string schedule;           // NCRONTAB with seconds (6 fields) or standard cron (5 fields)
  std::string time_zone = "UTC";  // timeZone: an IANA name ("Europe/Berlin")
  ConcurrencyPolicy concurrency_policy = ConcurrencyPolicy::kAllow;
  bool enabled = true;
  // catchUp: firings missed while berth was down (or the schedule disabled) run once at start.
  bool catch_up = false;
  // startingDeadlineSeconds (0..86400, default 10): a firing overdue by at most this much still
  // runs (late, as itself); older ones count as missed (skipped, or one catch-up run).
  int starting_deadline_seconds = 10;
  JobSpec job;  // what each firing runs
};

// A schedule as stored: its spec plus where its firing stands.
struct ScheduleRecord {
  ScheduleSpec spec;
  TimePoint created_at;
  TimePoint updated_at;
  // Every firing time at or before this is handled (fired, skipped or missed). The runner's
  // compare-and-set anchor: one job per firing, even across restarts and nodes.
  TimePoint handled_through;
  std::optional<TimePoint> last_fired_at;  // the firing time of the newest job it made
  std::string last_job_id;                 // that job; empty before the first
  int64_t fired_count = 0;                 // jobs made
  int64_t skipped_count = 0;               // firings skipped (Forbid) or missed
};

// Checks a schedule name: 1..63 of [A-Za-z0-9._-], starting with a letter or digit.
Status ValidateScheduleName(std::string_view name);

// Parses the API's schedule JSON: {"name", "schedule", "job", "timeZone"?, "concurrencyPolicy"?,
// "enabled"?, "catchUp"?, "startingDeadlineSeconds"?}. An unknown field, a wrong type or a bad
// job spec is InvalidArgument naming the field ("job.image" for the job's). The cron expression
// and time zone are checked by the ScheduleService (they need the cron parser and tz data).
Result<ScheduleSpec> ParseScheduleSpec(std::string_view json);

// The spec as JSON in the shape ParseScheduleSpec reads (the job's secrets only when asked).
std::string ScheduleSpecToJson(const ScheduleSpec& spec, bool include_secrets);

// A schedule as the API shows it, with its next firing time (when known).
struct ScheduleView {
  ScheduleRecord record;
  std::optional<TimePoint> next_fire_at;
  bool created = false;  // Put: it did not exist before
};

class ScheduleService {
 public:
  virtual ~ScheduleService() = default;
  // Creates a schedule. InvalidArgument for a bad expression or time zone; AlreadyExists.
  virtual Result<ScheduleView> Create(ScheduleSpec spec) = 0;
  // Creates or replaces the schedule `spec.name` (ScheduleView::created tells which).
  virtual Result<ScheduleView> Put(ScheduleSpec spec) = 0;
  virtual Result<ScheduleView> Get(std::string_view name) = 0;
  virtual Result<std::vector<ScheduleView>> List() = 0;
  // Enables or disables a schedule, keeping the rest (secrets included). NotFound.
  virtual Result<ScheduleView> SetEnabled(std::string_view name, bool enabled) = 0;
  // NotFound when there is none. A deleted schedule fires no more.
  virtual Status Delete(std::string_view name) = 0;
};

}  // namespace berth
