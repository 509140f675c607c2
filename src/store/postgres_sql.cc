#include "store/postgres_sql.h"

#include <algorithm>
#include <utility>

#include "common/random.h"
#include "job/job_spec.h"

namespace berth::pgsql {

std::optional<int64_t> OptMillis(const std::optional<TimePoint>& t) {
  return t ? std::optional<int64_t>(ToUnixMillis(*t)) : std::nullopt;
}
std::optional<TimePoint> OptTime(const std::optional<int64_t>& ms) {
  return ms ? std::optional<TimePoint>(FromUnixMillis(*ms)) : std::nullopt;
}
namespace {
PgParam NullIfEmpty(std::string_view s) { return s.empty() ? PgParam() : PgParam(std::string(s)); }
}  // namespace

Result<JobRecord> JobFromRow(const PgRows& r, int i, JobRow kind) {
  JobRecord job;
  job.id = r.Text(i, 0);
  if (kind == JobRow::kFull) {
    Result<JobSpec> spec = ParseJobSpec(r.Text(i, 1));
    if (!spec.ok()) return spec.status().WithContext("postgres: stored spec of job " + job.id);
    job.spec = std::move(spec).value();
  } else {
    job.spec.image = r.Text(i, 1);
    job.spec.callback_url = r.Text(i, 17);
    job.spec.count = static_cast<int>(r.Int(i, 18));
    job.spec.parallelism = static_cast<int>(r.OptInt(i, 19).value_or(0));
    if (r.Text(i, 20) == "Any") job.spec.completion_policy = CompletionPolicy::kAny;
  }
  std::optional<JobState> state = ParseJobState(r.Text(i, 2));
  if (!state) return Status::Internal("postgres: job " + job.id + ": bad state " + r.Text(i, 2));
  job.state = *state;
  if (std::optional<int64_t> code = r.OptInt(i, 3)) job.exit_code = static_cast<int>(*code);
  job.reason = r.Text(i, 4);
  job.created_at = FromUnixMillis(r.Int(i, 5));
  job.started_at = OptTime(r.OptInt(i, 6));
  job.finished_at = OptTime(r.OptInt(i, 7));
  job.attempts = static_cast<int>(r.Int(i, 8));
  job.idempotency_key = r.Text(i, 9);
  Result<std::vector<AttemptRecord>> history = AttemptsFromJson(r.Text(i, 10));
  if (!history.ok()) return history.status().WithContext("postgres: job " + job.id);
  job.history = std::move(history).value();
  job.cancel_requested = r.Int(i, 11) != 0;
  job.seq = r.Int(i, 12);
  job.schedule = r.Text(i, 13);
  job.scheduled_at = OptTime(r.OptInt(i, 14));
  job.parent_id = r.Text(i, 15);
  if (std::optional<int64_t> idx = r.OptInt(i, 16)) job.array_index = static_cast<int>(*idx);
  job.node = r.Text(i, kind == JobRow::kFull ? 17 : 21);
  return job;
}

Result<std::vector<JobRecord>> JobsFromRows(const PgRows& r, JobRow kind) {
  std::vector<JobRecord> out;
  for (int i = 0; i < r.size(); ++i) {
    ASSIGN_OR_RETURN(JobRecord job, JobFromRow(r, i, kind));
    out.push_back(std::move(job));
  }
  return out;
}

QueueMessage MessageFromRow(const PgRows& r, int i) {
  QueueMessage m;
  m.id = r.Int(i, 0);
  m.queue = r.Text(i, 1);
  m.job_id = r.Text(i, 2);
  m.dequeue_count = static_cast<int>(r.Int(i, 3));
  m.pop_receipt = r.Text(i, 4);
  m.inserted_at = FromUnixMillis(r.Int(i, 5));
  m.next_visible = FromUnixMillis(r.Int(i, 6));
  return m;
}

NodeRecord NodeFromRow(const PgRows& r, int i) {
  NodeRecord n;
  n.id = r.Text(i, 0);
  n.role = r.Text(i, 1);
  n.version = r.Text(i, 2);
  n.started_at = FromUnixMillis(r.Int(i, 3));
  n.heartbeat_at = FromUnixMillis(r.Int(i, 4));
  n.lease_until = FromUnixMillis(r.Int(i, 5));
  n.jobs_running = static_cast<int>(r.Int(i, 6));
  n.capacity = static_cast<int>(r.Int(i, 7));
  n.lost_at = OptTime(r.OptInt(i, 8));
  return n;
}

Result<CallbackDelivery> CallbackFromRow(const PgRows& r, int i) {
  CallbackDelivery d;
  d.job_id = r.Text(i, 0);
  d.status.url = r.Text(i, 1);
  std::optional<CallbackState> state = ParseCallbackState(r.Text(i, 2));
  if (!state) return Status::Internal("postgres: callback of job " + d.job_id + ": bad state");
  d.status.state = *state;
  d.status.attempts = static_cast<int>(r.Int(i, 3));
  if (d.status.state == CallbackState::kPending) d.status.next_attempt_at = OptTime(r.OptInt(i, 4));
  d.status.last_error = r.Text(i, 5);
  d.status.delivered_at = OptTime(r.OptInt(i, 6));
  return d;
}

Result<ScheduleRecord> ScheduleFromRow(const PgRows& r, int i) {
  ScheduleRecord s;
  Result<ScheduleSpec> spec = ParseScheduleSpec(r.Text(i, 1));
  if (!spec.ok()) return spec.status().WithContext("postgres: stored schedule " + r.Text(i, 0));
  s.spec = std::move(spec).value();
  s.created_at = FromUnixMillis(r.Int(i, 2));
  s.updated_at = FromUnixMillis(r.Int(i, 3));
  s.handled_through = FromUnixMillis(r.Int(i, 4));
  s.last_fired_at = OptTime(r.OptInt(i, 5));
  s.last_job_id = r.Text(i, 6);
  s.fired_count = r.Int(i, 7);
  s.skipped_count = r.Int(i, 8);
  return s;
}

// Tells every node's listener that `queue` has a visible message (sent at commit).
Status Notify(PgConnection& c, std::string_view queue) {
  return c.Exec("notify", "SELECT pg_notify($1, $2)", PgParams(kChannel, queue)).status();
}

// Writes the completion callback's outbox row of job `id` (when it has a callbackUrl), inside
// the transaction that ends the job.
Status EnqueueCallback(PgConnection& c, std::string_view id, int64_t now_ms) {
  return c
      .Exec("enqueue callback",
            "INSERT INTO callbacks(job_id, url, state, attempts, next_attempt_at, created_at) "
            "SELECT id, callback_url, 'Pending', 0, $2::bigint, $2::bigint FROM jobs "
            "WHERE id=$1 AND callback_url <> '' ON CONFLICT DO NOTHING",
            PgParams(id, now_ms))
      .status();
}

Status InsertMessage(PgConnection& c, std::string_view queue, std::string_view job_id,
                     int64_t now_ms, int64_t visible_ms) {
  return c
      .Exec("insert message",
            "INSERT INTO messages(queue, job_id, inserted_at, next_visible) VALUES($1, $2, $3, $4)",
            PgParams(queue, job_id, now_ms, visible_ms))
      .status();
}

// A child of array `parent` moved to `to` (Running or terminal), inside the transaction that
// moved it; see SqliteStore's ChildMoved: the same rules. The parent's row lock (taken by the
// first UPDATE) serializes children ending at once.
Status ChildMoved(PgConnection& c, std::string_view parent, JobState to, int64_t now_ms) {
  if (to == JobState::kRunning) {
    return c
        .Exec("array: parent running",
              "UPDATE jobs SET state='Running', started_at=COALESCE(started_at, $2::bigint) "
              "WHERE id=$1 AND state='Queued'",
              PgParams(parent, now_ms))
        .status();
  }
  ASSIGN_OR_RETURN(PgRows p, c.Exec("array: count ended child",
                                    "UPDATE jobs SET array_ended=array_ended+1, "
                                    "array_succeeded=array_succeeded+$2::int WHERE id=$1 RETURNING "
                                    "array_ended, array_count, array_succeeded, cancel_requested, "
                                    "array_queue, spec, state",
                                    PgParams(parent, int64_t{to == JobState::kSucceeded})));
  if (p.empty()) return Status::Ok();  // the parent is gone (retention)
  int64_t ended = p.Int(0, 0), count = p.Int(0, 1), succeeded = p.Int(0, 2);
  bool canceling = p.Int(0, 3) != 0;
  std::string queue = p.Text(0, 4);
  bool parent_terminal = IsTerminal(ParseJobState(p.Text(0, 6)).value_or(JobState::kQueued));
  if (!canceling && !parent_terminal) {
    ASSIGN_OR_RETURN(PgRows next,
                     c.Exec("array: next waiting child",
                            "SELECT id FROM jobs j WHERE parent_id=$1 AND state='Queued' AND "
                            "NOT EXISTS (SELECT 1 FROM messages m WHERE m.job_id=j.id) "
                            "ORDER BY array_index LIMIT 1",
                            PgParams(parent)));
    if (!next.empty()) {
      RETURN_IF_ERROR(InsertMessage(c, queue, next.Text(0, 0), now_ms, now_ms));
      RETURN_IF_ERROR(Notify(c, queue));
    }
  }
  if (ended < count || parent_terminal) return Status::Ok();
  Result<JobSpec> spec = ParseJobSpec(p.Text(0, 5));
  bool any = spec.ok() && spec->completion_policy == CompletionPolicy::kAny;
  JobState final_state = canceling                                    ? JobState::kCanceled
                         : (any ? succeeded > 0 : succeeded == count) ? JobState::kSucceeded
                                                                      : JobState::kFailed;
  std::string reason = std::to_string(succeeded) + " of " + std::to_string(count) +
                       " children succeeded" + (canceling ? " (canceled)" : "");
  RETURN_IF_ERROR(c.Exec("array: end parent",
                         "UPDATE jobs SET state=$2, reason=$3, finished_at=$4::bigint, "
                         "started_at=COALESCE(started_at, $4::bigint) WHERE id=$1",
                         PgParams(parent, ToString(final_state), reason, now_ms))
                      .status());
  return EnqueueCallback(c, parent, now_ms);
}

// Sets a job's status if the state machine allows the move: a compare-and-set on the stored
// state (and, for Pending, on cancel_requested), inside the caller's transaction.
Status ApplyJobStatus(PgConnection& c, std::string_view id, const JobStatusUpdate& u,
                      int64_t now_ms) {
  std::vector<JobState> from = AllowedSources(u.state);
  std::string sql =
      "UPDATE jobs SET state=$2, exit_code=COALESCE($3::int, exit_code), reason=$4, "
      "started_at=COALESCE($5::bigint, started_at), finished_at=COALESCE($6::bigint, "
      "finished_at), attempts=$7, history=COALESCE($8, history), node=COALESCE($9::text, node) "
      "WHERE id=$1 AND ($10::text IS NULL OR node=$10::text) AND state IN (";
  for (size_t i = 0; i < from.size(); ++i) {
    sql += (i ? ", '" : "'") + std::string(ToString(from[i])) + "'";
  }
  sql += ") AND array_count=0";
  if (u.state == JobState::kPending) sql += " AND cancel_requested=0";
  sql += " RETURNING parent_id";
  std::optional<int64_t> code;
  if (u.exit_code) code = *u.exit_code;
  std::optional<std::string> history;
  if (u.history) history = AttemptsToJson(*u.history);
  ASSIGN_OR_RETURN(PgRows r, c.Exec("update job status", sql,
                                    PgParams(id, ToString(u.state), code, u.reason,
                                             OptMillis(u.started_at), OptMillis(u.finished_at),
                                             int64_t{u.attempts}, history, u.node, u.expect_node)));
  if (r.size() > 0) {
    if (u.state != JobState::kRunning && !IsTerminal(u.state)) return Status::Ok();
    std::string parent = r.IsNull(0, 0) ? "" : r.Text(0, 0);
    if (!parent.empty()) RETURN_IF_ERROR(ChildMoved(c, parent, u.state, now_ms));
    if (!IsTerminal(u.state)) return Status::Ok();
    return EnqueueCallback(c, id, now_ms);
  }
  ASSIGN_OR_RETURN(PgRows st, c.Exec("read job",
                                     "SELECT state, cancel_requested, array_count, node FROM jobs "
                                     "WHERE id=$1",
                                     PgParams(id)));
  if (st.empty()) return Status::NotFound("job " + std::string(id) + " does not exist");
  if (u.expect_node && st.Text(0, 3) != *u.expect_node) {
    return NotOwner(id, *u.expect_node, st.Text(0, 3));
  }
  if (st.Int(0, 2) > 0) {
    return Status::FailedPrecondition("job " + std::string(id) +
                                      " is a job array: its state follows its children");
  }
  return TransitionRefused(id, st.Text(0, 0), u.state, st.Int(0, 1) != 0);
}

std::vector<PgParam> JobInsertParams(const JobRecord& job, std::string_view queue) {
  std::optional<int64_t> code;
  if (job.exit_code) code = *job.exit_code;
  std::optional<int64_t> index;
  if (job.array_index) index = *job.array_index;
  std::vector<PgParam> p =
      PgParams(job.id, JobSpecToJson(job.spec, /*include_secrets=*/true), job.spec.image,
               ToString(job.state), code, job.reason, ToUnixMillis(job.created_at),
               OptMillis(job.started_at), OptMillis(job.finished_at), int64_t{job.attempts});
  p.push_back(NullIfEmpty(job.idempotency_key));
  p.push_back(AttemptsToJson(job.history));
  p.push_back(job.schedule);
  p.push_back(ToPgParam(OptMillis(job.scheduled_at)));
  p.push_back(job.spec.callback_url);
  p.push_back(NullIfEmpty(job.parent_id));
  p.push_back(ToPgParam(index));
  p.push_back(std::to_string(job.spec.count));
  p.push_back(job.spec.count > 0 ? std::string(queue) : std::string());
  return p;
}

// Inserts `job` and (with_message) one message for it on `queue`, inside the caller's
// transaction. AlreadyExists when its id or idempotency key is taken.
Status InsertJob(PgConnection& c, const JobRecord& job, std::string_view queue, int64_t now_ms,
                 bool with_message) {
  RETURN_IF_ERROR(c.Exec("submit job: insert job", kInsertJob, JobInsertParams(job, queue))
                      .status()
                      .WithContext("job " + job.id));
  if (!with_message) return Status::Ok();
  RETURN_IF_ERROR(InsertMessage(c, queue, job.id, now_ms, now_ms));
  return Notify(c, queue);
}

// Writes job array `parent` (no message: it never runs) and its children, the first
// `parallelism` with a message on `queue`.
Status InsertArray(PgConnection& c, const JobRecord& parent, std::string_view queue,
                   int64_t now_ms) {
  RETURN_IF_ERROR(InsertJob(c, parent, queue, now_ms, /*with_message=*/false));
  const int n = parent.spec.count;
  const int running = parent.spec.parallelism > 0 ? std::min(parent.spec.parallelism, n) : n;
  JobRecord child;
  child.spec = parent.spec;
  child.spec.count = 0;
  child.spec.parallelism = 0;
  child.spec.completion_policy = CompletionPolicy::kAll;
  child.spec.callback_url.clear();  // the parent is called back, once, for the whole array
  child.spec.env["BERTH_JOB_COUNT"] = std::to_string(n);
  child.state = JobState::kQueued;
  child.created_at = parent.created_at;
  child.parent_id = parent.id;
  child.schedule = parent.schedule;
  for (int i = 0; i < n; ++i) {
    child.id = NewUuidV4();
    child.array_index = i;
    child.spec.env["BERTH_JOB_INDEX"] = std::to_string(i);
    RETURN_IF_ERROR(InsertJob(c, child, queue, now_ms, /*with_message=*/i < running));
  }
  return Status::Ok();
}

// Cancels job array `parent` (its row locked by the caller); see SqliteStore's CancelArray.
Status CancelArray(PgConnection& c, std::string_view parent, int64_t now_ms) {
  RETURN_IF_ERROR(c.Exec("cancel array: delete messages",
                         "DELETE FROM messages WHERE job_id IN (SELECT id FROM jobs WHERE "
                         "parent_id=$1 AND state='Queued')",
                         PgParams(parent))
                      .status());
  ASSIGN_OR_RETURN(PgRows canceled,
                   c.Exec("cancel array: queued children",
                          "UPDATE jobs SET state='Canceled', reason='Canceled before it started "
                          "(array canceled)', finished_at=$2::bigint WHERE parent_id=$1 AND "
                          "state='Queued'",
                          PgParams(parent, now_ms)));
  RETURN_IF_ERROR(c.Exec("cancel array: running children",
                         "UPDATE jobs SET cancel_requested=1 WHERE parent_id=$1 AND state IN "
                         "('Pending', 'Running')",
                         PgParams(parent))
                      .status());
  ASSIGN_OR_RETURN(PgRows p, c.Exec("cancel array: parent",
                                    "UPDATE jobs SET cancel_requested=1, array_ended=array_ended+"
                                    "$2::int WHERE id=$1 RETURNING array_ended, array_count, "
                                    "array_succeeded",
                                    PgParams(parent, canceled.affected())));
  if (p.empty() || p.Int(0, 0) < p.Int(0, 1)) return Status::Ok();
  std::string reason = std::to_string(p.Int(0, 2)) + " of " + std::to_string(p.Int(0, 1)) +
                       " children succeeded (canceled)";
  RETURN_IF_ERROR(c.Exec("cancel array: end parent",
                         "UPDATE jobs SET state='Canceled', reason=$2, finished_at=$3::bigint "
                         "WHERE id=$1",
                         PgParams(parent, reason, now_ms))
                      .status());
  return EnqueueCallback(c, parent, now_ms);
}

Status StaleReceipt(const QueueMessage& msg) {
  return Status::FailedPrecondition("message " + std::to_string(msg.id) + " of job " + msg.job_id +
                                    ": pop receipt is stale (lease lost or message gone)");
}

// Reads one job (with FOR UPDATE: locks its row until the transaction ends).
Result<JobRecord> ReadJob(PgConnection& c, std::string_view id, bool for_update) {
  ASSIGN_OR_RETURN(PgRows r,
                   c.Exec("read job",
                          std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id=$1" +
                              (for_update ? " FOR UPDATE" : ""),
                          PgParams(id)));
  if (r.empty()) return Status::NotFound("job " + std::string(id) + " does not exist");
  return JobFromRow(r, 0);
}

bool Retryable(const Status& st) {
  return st.code() == StatusCode::kUnavailable &&
         (st.message().find("SQLSTATE 40P01") != std::string::npos ||
          st.message().find("SQLSTATE 40001") != std::string::npos);
}

}  // namespace berth::pgsql
