// PostgresStore's StoreImport (store/store_import.h): records of another store written whole.
#include <set>

#include "store/postgres_sql.h"
#include "store/postgres_store.h"

namespace berth {

using pgsql::JobInsertParams;
using pgsql::kInsertJob;
using pgsql::Notify;
using pgsql::OptMillis;

namespace {

// The callback outbox row of an imported job that has ended (`cb` as its source holds it).
Status InsertCallback(PgConnection& c, const JobRecord& job, const CallbackStatus& cb) {
  int64_t created = ToUnixMillis(job.finished_at.value_or(job.created_at));
  return c
      .Exec("import job: callback",
            "INSERT INTO callbacks(job_id, url, state, attempts, next_attempt_at, last_error, "
            "delivered_at, created_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8)",
            PgParams(job.id, cb.url, ToString(cb.state), int64_t{cb.attempts},
                     OptMillis(cb.next_attempt_at), cb.last_error, OptMillis(cb.delivered_at),
                     created))
      .status();
}

}  // namespace

Status PostgresStore::ImportJob(const ImportedJob& imported) {
  const JobRecord& job = imported.job;
  if (job.id.empty()) return Status::InvalidArgument("import job: empty job id");
  return Write("import job", [&](PgConnection& c) -> Status {
    ASSIGN_OR_RETURN(PgRows have, c.Exec("import job: exists", "SELECT 1 FROM jobs WHERE id=$1",
                                         PgParams(job.id)));
    if (!have.empty()) return Status::AlreadyExists("job " + job.id + " exists already");
    RETURN_IF_ERROR(
        c.Exec("import job: insert", kInsertJob, JobInsertParams(job, imported.array_queue))
            .status()
            .WithContext("job " + job.id));
    // What a submission never sets: the cancel request, the owner, an array's running counts.
    int64_t ended = 0, succeeded = 0;
    for (const auto& [state, n] : job.children) {
      if (IsTerminal(state)) ended += n;
      if (state == JobState::kSucceeded) succeeded += n;
    }
    RETURN_IF_ERROR(
        c.Exec("import job: status",
               "UPDATE jobs SET cancel_requested=$2, node=$3, array_ended=$4, "
               "array_succeeded=$5 WHERE id=$1",
               PgParams(job.id, int64_t{job.cancel_requested ? 1 : 0}, job.node, ended, succeeded))
            .status());
    if (job.callback) RETURN_IF_ERROR(InsertCallback(c, job, *job.callback));
    int64_t now = NowMillis();
    std::set<std::string> woken;
    for (const QueueMessage& m : imported.messages) {
      RETURN_IF_ERROR(c.Exec("import job: message",
                             "INSERT INTO messages(queue, job_id, dequeue_count, inserted_at, "
                             "next_visible) VALUES($1, $2, $3, $4, $5)",
                             PgParams(m.queue, job.id, int64_t{m.dequeue_count},
                                      ToUnixMillis(m.inserted_at), ToUnixMillis(m.next_visible)))
                          .status());
      if (ToUnixMillis(m.next_visible) <= now) woken.insert(m.queue);
    }
    for (const std::string& q : woken) RETURN_IF_ERROR(Notify(c, q));
    return Status::Ok();
  });
}

Status PostgresStore::ImportSchedule(const ScheduleRecord& s) {
  return Write("import schedule", [&](PgConnection& c) -> Status {
    ASSIGN_OR_RETURN(
        PgRows r, c.Exec("import schedule",
                         "INSERT INTO schedules(name, spec, created_at, updated_at, "
                         "handled_through, last_fired_at, last_job_id, fired_count, "
                         "skipped_count) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                         "ON CONFLICT (name) DO NOTHING",
                         PgParams(s.spec.name, ScheduleSpecToJson(s.spec, /*include_secrets=*/true),
                                  ToUnixMillis(s.created_at), ToUnixMillis(s.updated_at),
                                  ToUnixMillis(s.handled_through), OptMillis(s.last_fired_at),
                                  s.last_job_id, s.fired_count, s.skipped_count)));
    if (r.affected() == 0) {
      return Status::AlreadyExists("schedule '" + s.spec.name + "' exists already");
    }
    return Status::Ok();
  });
}

}  // namespace berth
