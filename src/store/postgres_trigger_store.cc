// PostgresStore's TriggerStore half: schedules, the completion callbacks' outbox, job arrays.
#include <algorithm>
#include <utility>

#include "store/postgres_sql.h"
#include "store/postgres_store.h"

namespace berth {

using pgsql::CallbackFromRow;
using pgsql::InsertArray;
using pgsql::InsertJob;
using pgsql::JobRow;
using pgsql::JobsFromRows;
using pgsql::kJobColumns;
using pgsql::kJobSummaryColumns;
using pgsql::kScheduleColumns;
using pgsql::OptMillis;
using pgsql::ScheduleFromRow;

// Schedules (TriggerStore).

Status PostgresStore::CreateSchedule(const ScheduleRecord& s) {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  Status st = c->Exec("create schedule",
                      "INSERT INTO schedules(name, spec, created_at, updated_at, handled_through) "
                      "VALUES($1, $2, $3, $4, $5)",
                      PgParams(s.spec.name, ScheduleSpecToJson(s.spec, /*include_secrets=*/true),
                               ToUnixMillis(s.created_at), ToUnixMillis(s.updated_at),
                               ToUnixMillis(s.handled_through)))
                  .status();
  if (st.code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists("schedule '" + s.spec.name + "' exists already");
  }
  return st;
}

Status PostgresStore::ReplaceSchedule(const ScheduleRecord& s) {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(PgRows r,
                   c->Exec("replace schedule",
                           "UPDATE schedules SET spec=$2, updated_at=$3, "
                           "handled_through=GREATEST(handled_through, $4::bigint) WHERE name=$1",
                           PgParams(s.spec.name, ScheduleSpecToJson(s.spec, true),
                                    ToUnixMillis(s.updated_at), ToUnixMillis(s.handled_through))));
  if (r.affected() == 0) return Status::NotFound("schedule '" + s.spec.name + "' does not exist");
  return Status::Ok();
}

Result<ScheduleRecord> PostgresStore::GetSchedule(std::string_view name) {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(
      PgRows r, c->Exec("get schedule",
                        std::string("SELECT ") + kScheduleColumns + " FROM schedules WHERE name=$1",
                        PgParams(name)));
  if (r.empty()) return Status::NotFound("schedule '" + std::string(name) + "' does not exist");
  return ScheduleFromRow(r, 0);
}

Result<std::vector<ScheduleRecord>> PostgresStore::ListSchedules() {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  // COLLATE "C": by name byte order, as SQLite sorts, whatever the database's locale.
  ASSIGN_OR_RETURN(PgRows r, c->Exec("list schedules", std::string("SELECT ") + kScheduleColumns +
                                                           " FROM schedules ORDER BY name "
                                                           "COLLATE \"C\""));
  std::vector<ScheduleRecord> out;
  for (int i = 0; i < r.size(); ++i) {
    ASSIGN_OR_RETURN(ScheduleRecord s, ScheduleFromRow(r, i));
    out.push_back(std::move(s));
  }
  return out;
}

Status PostgresStore::DeleteSchedule(std::string_view name) {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(
      PgRows r, c->Exec("delete schedule", "DELETE FROM schedules WHERE name=$1", PgParams(name)));
  if (r.affected() == 0) {
    return Status::NotFound("schedule '" + std::string(name) + "' does not exist");
  }
  return Status::Ok();
}

Status PostgresStore::AdvanceSchedule(std::string_view name, TimePoint expected, TimePoint through,
                                      const std::optional<JobRecord>& job, std::string_view queue,
                                      int skipped) {
  if (job && queue.empty()) return Status::InvalidArgument("advance schedule: empty queue");
  int64_t now = NowMillis();
  return Write("advance schedule", [&](PgConnection& c) -> Status {
    ASSIGN_OR_RETURN(
        PgRows r,
        c.Exec("advance schedule",
               "UPDATE schedules SET handled_through=$3::bigint, skipped_count=skipped_count+"
               "$4::bigint, fired_count=fired_count+$5::bigint, last_fired_at=CASE WHEN "
               "$5::bigint > 0 THEN $3::bigint ELSE last_fired_at END, last_job_id=CASE WHEN "
               "$5::bigint > 0 THEN $6::text ELSE last_job_id END WHERE name=$1 AND "
               "handled_through=$2::bigint",
               PgParams(name, ToUnixMillis(expected), ToUnixMillis(through), int64_t{skipped},
                        int64_t{job ? 1 : 0}, job ? std::string_view(job->id) : "")));
    if (r.affected() == 0) {
      return Status::FailedPrecondition("schedule '" + std::string(name) +
                                        "' changed or is gone (another firing got there first)");
    }
    if (!job) return Status::Ok();
    return job->spec.count > 0 ? InsertArray(c, *job, queue, now) : InsertJob(c, *job, queue, now);
  });
}

// Completion callbacks (TriggerStore).

Result<std::vector<CallbackDelivery>> PostgresStore::ClaimCallbacks(int max, milliseconds lease) {
  if (max < 0) return Status::InvalidArgument("claim callbacks: negative max");
  int64_t now = NowMillis();
  std::vector<std::pair<int64_t, CallbackDelivery>> got;
  Status st = Write("claim callbacks", [&](PgConnection& c) -> Status {
    got.clear();
    ASSIGN_OR_RETURN(
        PgRows r,
        c.Exec("claim callbacks",
               "WITH d AS (SELECT job_id, next_attempt_at AS was_due FROM callbacks WHERE "
               "state='Pending' AND next_attempt_at<=$1 ORDER BY next_attempt_at LIMIT $2 FOR "
               "UPDATE SKIP LOCKED) UPDATE callbacks cb SET attempts=cb.attempts+1, "
               "next_attempt_at=$3 FROM d WHERE cb.job_id=d.job_id RETURNING cb.job_id, cb.url, "
               "cb.state, cb.attempts, cb.next_attempt_at, cb.last_error, cb.delivered_at, "
               "d.was_due",
               PgParams(now, int64_t{max}, now + lease.count())));
    for (int i = 0; i < r.size(); ++i) {
      ASSIGN_OR_RETURN(CallbackDelivery d, CallbackFromRow(r, i));
      got.emplace_back(r.Int(i, 7), std::move(d));
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  std::stable_sort(got.begin(), got.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<CallbackDelivery> claimed;
  for (auto& [due, d] : got) claimed.push_back(std::move(d));
  return claimed;
}

Status PostgresStore::RecordCallbackAttempt(std::string_view job_id, const CallbackStatus& after) {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(
      PgRows r, c->Exec("record callback attempt",
                        "UPDATE callbacks SET state=$2, last_error=$3, "
                        "next_attempt_at=$4, delivered_at=$5 WHERE job_id=$1",
                        PgParams(job_id, ToString(after.state), after.last_error,
                                 OptMillis(after.next_attempt_at), OptMillis(after.delivered_at))));
  if (r.affected() == 0) return Status::NotFound("no callback for job " + std::string(job_id));
  return Status::Ok();
}

// Job arrays (TriggerStore).

Result<std::vector<JobRecord>> PostgresStore::ListChildren(std::string_view parent,
                                                           std::optional<JobState> state, int limit,
                                                           int after_index) {
  if (limit < 0) return Status::InvalidArgument("list children: negative limit");
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(PgRows p, c->Exec("list children: parent", "SELECT 1 FROM jobs WHERE id=$1",
                                     PgParams(parent)));
  if (p.empty()) return Status::NotFound("job " + std::string(parent) + " does not exist");
  std::string sql = std::string("SELECT ") + kJobSummaryColumns +
                    " FROM jobs WHERE parent_id=$1 AND array_index>$2" +
                    (state ? " AND state=$4" : "") + " ORDER BY array_index LIMIT $3";
  std::vector<PgParam> params = PgParams(parent, int64_t{after_index}, int64_t{limit});
  if (state) params.push_back(std::string(ToString(*state)));
  ASSIGN_OR_RETURN(PgRows r, c->Exec("list children", sql, params));
  return JobsFromRows(r, JobRow::kSummary);
}

}  // namespace berth
