#include "triggers/schedule_runner.h"

#include <cstdio>

#include "common/log.h"
#include "common/random.h"
#include "triggers/cron.h"

namespace berth {

ScheduleRunner::ScheduleRunner(ScheduleRunnerOptions opts, TriggerStore& triggers, Store& jobs,
                               Clock& clock)
    : opts_(std::move(opts)), triggers_(triggers), jobs_(jobs), clock_(clock) {}

ScheduleRunner::~ScheduleRunner() { Stop(); }

void ScheduleRunner::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void ScheduleRunner::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ScheduleRunner::Wake() {
  {
    MutexLock lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void ScheduleRunner::Loop() {
  for (;;) {
    TimePoint next = RunDue();
    MutexLock lock(mu_);
    if (stopping_) return;
    auto wait = std::chrono::duration_cast<milliseconds>(next - clock_.Now());
    if (wait > milliseconds(0) && !woken_) {
      auto until = std::chrono::steady_clock::now() + wait;
      while (!stopping_ && !woken_ && cv_.wait_until(lock, until) == std::cv_status::no_timeout) {
      }
    }
    if (stopping_) return;
    woken_ = false;
  }
}

TimePoint ScheduleRunner::RunDue() {
  MutexLock run_lock(run_mu_);
  TimePoint now = clock_.Now();
  TimePoint next = now + opts_.max_sleep;
  auto schedules = triggers_.ListSchedules();
  if (!schedules.ok()) {
    LogError("schedules: list", {{"error", schedules.status().ToString()}});
    return next;
  }
  for (ScheduleRecord& s : *schedules) {
    if (std::optional<TimePoint> t = RunSchedule(std::move(s), now); t && *t < next) next = *t;
  }
  return next;
}

std::optional<TimePoint> ScheduleRunner::RunSchedule(ScheduleRecord s, TimePoint now) {
  if (!s.spec.enabled) return std::nullopt;
  auto cron = CronExpression::Parse(s.spec.schedule, s.spec.time_zone);
  if (!cron.ok()) {  // stored before a stricter parser, or tz data gone: say so, do not fire
    LogError("schedule: parse", {{"schedule", s.spec.name}, {"error", cron.status().ToString()}});
    return std::nullopt;
  }
  const milliseconds deadline(int64_t{s.spec.starting_deadline_seconds} * 1000);
  const std::string& name = s.spec.name;
  for (int fired = 0; fired < opts_.max_firings_per_pass; ++fired) {
    std::optional<TimePoint> t = cron->Next(s.handled_through);
    if (!t || *t > now) return t;
    TimePoint expected = s.handled_through;
    Status st;
    if (now - *t > deadline) {
      // Missed: every firing up to the deadline window's start.
      TimePoint window = FromUnixMillis(ToUnixMillis(now - deadline));
      int missed = 0;
      for (std::optional<TimePoint> m = t; m && *m <= window && missed < 100'000;
           m = cron->Next(*m)) {
        ++missed;
      }
      if (s.spec.catch_up) {
        st = Fire(s, expected, *t, window, missed - 1);
      } else {
        st = triggers_.AdvanceSchedule(name, expected, window, std::nullopt, "", missed);
      }
      if (st.ok()) s.handled_through = window;
    } else if (std::string prev = s.last_job_id;
               !prev.empty() && s.spec.concurrency_policy != ConcurrencyPolicy::kAllow && [&] {
                 auto job = jobs_.GetJob(prev);
                 return job.ok() && !IsTerminal(job->state);
               }()) {
      if (s.spec.concurrency_policy == ConcurrencyPolicy::kForbid) {
        st = triggers_.AdvanceSchedule(name, expected, *t, std::nullopt, "", 1);
        if (st.ok()) s.handled_through = *t;
      } else {
        if (opts_.cancel) {
          Status canceled = opts_.cancel(prev);
          if (!canceled.ok()) {
            LogError("schedule: cancel the previous job",
                     {{"schedule", name}, {"job", prev}, {"error", canceled.ToString()}});
          }
        }
        st = Fire(s, expected, *t, *t, 0);
      }
    } else {
      st = Fire(s, expected, *t, *t, 0);
    }
    if (!st.ok()) {
      if (st.code() != StatusCode::kFailedPrecondition) {
        LogError("schedule: fire", {{"schedule", name}, {"error", st.ToString()}});
      }
      return now + milliseconds(200);  // read it again soon (changed, or the store was busy)
    }
    auto fresh = triggers_.GetSchedule(name);
    if (!fresh.ok()) return std::nullopt;
    s = std::move(fresh).value();
  }
  return now;  // more firings due than one pass takes: go again at once
}

Status ScheduleRunner::Fire(const ScheduleRecord& s, TimePoint expected, TimePoint at,
                            TimePoint through, int skipped) {
  JobRecord job;
  job.id = NewUuidV4();
  job.spec = s.spec.job;
  job.state = JobState::kQueued;
  job.created_at = clock_.Now();
  job.schedule = s.spec.name;
  job.scheduled_at = at;
  // Deterministic per firing: a second writer of the same firing collides on it.
  job.idempotency_key = "schedule/" + s.spec.name + "/" + std::to_string(ToUnixMillis(at));
  Status st = triggers_.AdvanceSchedule(s.spec.name, expected, through, job, opts_.queue, skipped);
  if (st.code() == StatusCode::kAlreadyExists) {
    // This firing's job exists (made before the schedule was replaced): only move on.
    st = triggers_.AdvanceSchedule(s.spec.name, expected, through, std::nullopt, "", skipped);
  } else if (st.ok() && opts_.wake) {
    opts_.wake();
  }
  return st;
}

ScheduleView ScheduleRunner::View(ScheduleRecord r) const {
  ScheduleView v;
  if (r.spec.enabled) {
    if (auto cron = CronExpression::Parse(r.spec.schedule, r.spec.time_zone); cron.ok()) {
      v.next_fire_at = cron->Next(std::max(r.handled_through, clock_.Now()));
    }
  }
  v.record = std::move(r);
  return v;
}

Result<ScheduleView> ScheduleRunner::Create(ScheduleSpec spec) {
  RETURN_IF_ERROR(ValidateScheduleName(spec.name));
  ASSIGN_OR_RETURN(CronExpression cron, CronExpression::Parse(spec.schedule, spec.time_zone));
  TimePoint now = clock_.Now();
  if (!cron.Next(now)) {
    return Status::InvalidArgument("field 'schedule': '" + spec.schedule +
                                   "' never fires (no matching time within 5 years)");
  }
  ScheduleRecord r;
  r.spec = std::move(spec);
  r.created_at = r.updated_at = r.handled_through = FromUnixMillis(ToUnixMillis(now));
  RETURN_IF_ERROR(triggers_.CreateSchedule(r));
  Wake();
  return View(std::move(r));
}

Result<ScheduleView> ScheduleRunner::Put(ScheduleSpec spec) {
  auto existing = triggers_.GetSchedule(spec.name);
  if (existing.status().IsNotFound()) {
    ASSIGN_OR_RETURN(ScheduleView v, Create(std::move(spec)));
    v.created = true;
    return v;
  }
  if (!existing.ok()) return existing.status();
  ASSIGN_OR_RETURN(CronExpression cron, CronExpression::Parse(spec.schedule, spec.time_zone));
  TimePoint now = FromUnixMillis(ToUnixMillis(clock_.Now()));
  if (!cron.Next(now)) {
    return Status::InvalidArgument("field 'schedule': '" + spec.schedule +
                                   "' never fires (no matching time within 5 years)");
  }
  ScheduleRecord r = std::move(existing).value();
  // A new expression, zone or a re-enable starts from now: no firings from before the change.
  bool restart = r.spec.schedule != spec.schedule || r.spec.time_zone != spec.time_zone ||
                 (!r.spec.enabled && spec.enabled);
  r.spec = std::move(spec);
  r.updated_at = now;
  if (restart) r.handled_through = std::max(r.handled_through, now);
  RETURN_IF_ERROR(triggers_.ReplaceSchedule(r));
  Wake();
  ASSIGN_OR_RETURN(ScheduleRecord stored, triggers_.GetSchedule(r.spec.name));
  return View(std::move(stored));
}

Result<ScheduleView> ScheduleRunner::Get(std::string_view name) {
  ASSIGN_OR_RETURN(ScheduleRecord r, triggers_.GetSchedule(name));
  return View(std::move(r));
}

Result<std::vector<ScheduleView>> ScheduleRunner::List() {
  ASSIGN_OR_RETURN(std::vector<ScheduleRecord> all, triggers_.ListSchedules());
  std::vector<ScheduleView> out;
  for (ScheduleRecord& r : all) out.push_back(View(std::move(r)));
  return out;
}

Result<ScheduleView> ScheduleRunner::SetEnabled(std::string_view name, bool enabled) {
  ASSIGN_OR_RETURN(ScheduleRecord r, triggers_.GetSchedule(name));
  r.spec.enabled = enabled;
  return Put(std::move(r.spec));
}

Status ScheduleRunner::Delete(std::string_view name) {
  RETURN_IF_ERROR(triggers_.DeleteSchedule(name));
  Wake();
  return Status::Ok();
}

}  // namespace berth
