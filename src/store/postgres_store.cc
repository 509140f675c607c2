#include "store/postgres_store.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <utility>

#include "common/random.h"
#include "job/job_spec.h"
#include "store/postgres_schema.h"

namespace berth {
namespace {

constexpr const char* kChannel = "berth_queued";

constexpr const char* kJobColumns =
    "id, spec, state, exit_code, reason, created_at, started_at, finished_at, attempts, "
    "idempotency_key, history, cancel_requested, seq, schedule, scheduled_at, parent_id, "
    "array_index";
constexpr const char* kMessageColumns =
    "id, queue, job_id, dequeue_count, pop_receipt, inserted_at, next_visible";
constexpr const char* kScheduleColumns =
    "name, spec, created_at, updated_at, handled_through, last_fired_at, last_job_id, "
    "fired_count, skipped_count";
constexpr const char* kCallbackColumns =
    "job_id, url, state, attempts, next_attempt_at, last_error, delivered_at";

std::optional<int64_t> OptMillis(const std::optional<TimePoint>& t) {
  return t ? std::optional<int64_t>(ToUnixMillis(*t)) : std::nullopt;
}
std::optional<TimePoint> OptTime(const std::optional<int64_t>& ms) {
  return ms ? std::optional<TimePoint>(FromUnixMillis(*ms)) : std::nullopt;
}
PgParam NullIfEmpty(std::string_view s) { return s.empty() ? PgParam() : PgParam(std::string(s)); }

// Reads row `i` selected with kJobColumns.
Result<JobRecord> JobFromRow(const PgRows& r, int i) {
  JobRecord job;
  job.id = r.Text(i, 0);
  Result<JobSpec> spec = ParseJobSpec(r.Text(i, 1));
  if (!spec.ok()) return spec.status().WithContext("postgres: stored spec of job " + job.id);
  job.spec = std::move(spec).value();
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
  return job;
}

Result<std::vector<JobRecord>> JobsFromRows(const PgRows& r) {
  std::vector<JobRecord> out;
  for (int i = 0; i < r.size(); ++i) {
    ASSIGN_OR_RETURN(JobRecord job, JobFromRow(r, i));
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
      "finished_at), attempts=$7, history=COALESCE($8, history) WHERE id=$1 AND state IN (";
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
  ASSIGN_OR_RETURN(PgRows r,
                   c.Exec("update job status", sql,
                          PgParams(id, ToString(u.state), code, u.reason, OptMillis(u.started_at),
                                   OptMillis(u.finished_at), int64_t{u.attempts}, history)));
  if (r.size() > 0) {
    if (u.state != JobState::kRunning && !IsTerminal(u.state)) return Status::Ok();
    std::string parent = r.IsNull(0, 0) ? "" : r.Text(0, 0);
    if (!parent.empty()) RETURN_IF_ERROR(ChildMoved(c, parent, u.state, now_ms));
    if (!IsTerminal(u.state)) return Status::Ok();
    return EnqueueCallback(c, id, now_ms);
  }
  ASSIGN_OR_RETURN(PgRows st, c.Exec("read job",
                                     "SELECT state, cancel_requested, array_count FROM jobs "
                                     "WHERE id=$1",
                                     PgParams(id)));
  if (st.empty()) return Status::NotFound("job " + std::string(id) + " does not exist");
  if (st.Int(0, 2) > 0) {
    return Status::FailedPrecondition("job " + std::string(id) +
                                      " is a job array: its state follows its children");
  }
  return TransitionRefused(id, st.Text(0, 0), u.state, st.Int(0, 1) != 0);
}

// The INSERT of a job's row: $1..$19 (see JobInsertParams).
constexpr const char* kInsertJob =
    "INSERT INTO jobs(id, spec, image, state, exit_code, reason, created_at, started_at, "
    "finished_at, attempts, idempotency_key, history, schedule, scheduled_at, callback_url, "
    "parent_id, array_index, array_count, array_queue) VALUES($1, $2, $3, $4, $5, $6, $7, $8, "
    "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)";

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
                 bool with_message = true) {
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

}  // namespace

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& conninfo,
                                                           Clock& clock,
                                                           PostgresStoreOptions options) {
  if (options.connections < 1) {
    return Status::InvalidArgument("postgres: connections must be at least 1");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> submitter, PgConnection::Connect(conninfo));
  RETURN_IF_ERROR(MigratePostgresSchema(*submitter));
  ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> listener, PgConnection::Connect(conninfo));
  RETURN_IF_ERROR(listener->Exec("listen", std::string("LISTEN ") + kChannel).status());
  ASSIGN_OR_RETURN(std::unique_ptr<PgPool> pool, PgPool::Open(conninfo, options.connections));
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) return ErrnoStatus("postgres: eventfd", errno);
  return std::unique_ptr<PostgresStore>(new PostgresStore(
      clock, std::move(pool), std::move(submitter), std::move(listener), std::move(stop)));
}

PostgresStore::PostgresStore(Clock& clock, std::unique_ptr<PgPool> pool,
                             std::unique_ptr<PgConnection> submitter,
                             std::unique_ptr<PgConnection> listener, UniqueFd stop_event)
    : clock_(clock),
      pool_(std::move(pool)),
      submitter_(std::move(submitter)),
      listener_(std::move(listener)),
      stop_event_(std::move(stop_event)),
      submitter_thread_([this] { SubmitterLoop(); }),
      listener_thread_([this] { ListenerLoop(); }) {}

PostgresStore::~PostgresStore() {
  {
    MutexLock lock(pending_mu_);
    stopping_ = true;
  }
  pending_cv_.notify_one();
  submitter_thread_.join();
  listener_stop_ = true;
  uint64_t one = 1;
  ssize_t n = ::write(stop_event_.get(), &one, sizeof one);
  (void)n;  // an eventfd write of 1 cannot fail short of overflow
  listener_thread_.join();
}

int64_t PostgresStore::NowMillis() const { return ToUnixMillis(clock_.Now()); }

void PostgresStore::SetOnQueued(std::function<void(const std::string&)> on_queued) {
  MutexLock lock(on_queued_mu_);
  on_queued_ = std::move(on_queued);
}

void PostgresStore::ListenerLoop() {
  while (!listener_stop_) {
    if (!listener_->healthy()) {
      // Lost the server: try again every second (until stopped), then listen again.
      pollfd stop{stop_event_.get(), POLLIN, 0};
      if (::poll(&stop, 1, 1000) > 0) return;
      if (listener_->Reset().ok()) {
        Status ignored = listener_->Exec("listen", std::string("LISTEN ") + kChannel).status();
        (void)ignored;  // a failure shows as an unhealthy connection on the next turn
      }
      continue;
    }
    pollfd fds[2] = {{listener_->socket(), POLLIN, 0}, {stop_event_.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents & POLLIN) != 0) return;
    Result<std::vector<std::string>> queues = listener_->ConsumeNotifications();
    if (!queues.ok()) continue;  // the connection broke: healthy() says so next turn
    std::set<std::string> distinct(queues->begin(), queues->end());
    // Called under the lock, so that once SetOnQueued(nullptr) returns no call is in flight.
    MutexLock lock(on_queued_mu_);
    if (on_queued_) {
      for (const std::string& q : distinct) on_queued_(q);
    }
  }
}

Status PostgresStore::Write(std::string_view op, const std::function<Status(PgConnection&)>& body) {
  Status st;
  for (int attempt = 0; attempt < 3; ++attempt) {
    Result<PgPool::Lease> lease = pool_->Borrow();
    if (!lease.ok()) return lease.status().WithContext(op);
    PgConnection& c = **lease;
    st = c.InTransaction(op, [&] { return body(c); });
    if (!Retryable(st)) return st;  // a deadlock or serialization failure is tried again
  }
  return st;
}

void PostgresStore::SubmitJob(JobRecord job, std::string queue, std::function<void(Status)> done) {
  if (!done) done = [](Status) {};
  {
    MutexLock lock(pending_mu_);
    if (!stopping_) {
      pending_.push_back({std::move(job), std::move(queue), std::move(done)});
      pending_cv_.notify_one();
      return;
    }
  }
  done(Status::Unavailable("postgres: submit job: the store is shutting down"));
}

void PostgresStore::SubmitterLoop() {
  MutexLock lock(pending_mu_);
  for (;;) {
    while (!stopping_ && pending_.empty()) pending_cv_.wait(lock);
    if (pending_.empty()) return;  // stopping, and everything queued is committed
    std::vector<PendingSubmit> batch = std::exchange(pending_, {});
    lock.unlock();
    std::vector<Status> results = CommitBatch(batch);
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
    batch.clear();  // drop the callbacks' captures before taking the lock again
    lock.lock();
  }
}

std::vector<Status> PostgresStore::CommitBatch(const std::vector<PendingSubmit>& batch) {
  std::vector<Status> results(batch.size());
  int64_t now = NowMillis();
  // Plain jobs: one pipelined transaction. Each insert skips a taken id or idempotency key
  // (ON CONFLICT DO NOTHING) instead of failing, so a duplicate fails alone and the rest commit.
  std::vector<PgConnection::Piped> piped;
  std::vector<size_t> index;  // batch index of piped[k + 1]
  std::set<std::string> queues;
  piped.push_back({"BEGIN", {}});
  const std::string insert = std::string("WITH j AS (") + kInsertJob +
                             " ON CONFLICT DO NOTHING RETURNING id) INSERT INTO messages(queue, "
                             "job_id, inserted_at, next_visible) SELECT $20, id, $21, $21 FROM j";
  for (size_t i = 0; i < batch.size(); ++i) {
    const PendingSubmit& sub = batch[i];
    if (sub.job.id.empty()) {
      results[i] = Status::InvalidArgument("submit job: empty job id");
    } else if (sub.queue.empty()) {
      results[i] = Status::InvalidArgument("submit job " + sub.job.id + ": empty queue");
    } else if (sub.job.spec.count == 0) {
      std::vector<PgParam> params = JobInsertParams(sub.job, sub.queue);
      params.push_back(sub.queue);
      params.push_back(std::to_string(now));
      piped.push_back({insert, std::move(params)});
      index.push_back(i);
      queues.insert(sub.queue);
    }
  }
  if (!index.empty()) {
    for (const std::string& q : queues) {
      piped.push_back({"SELECT pg_notify($1, $2)", PgParams(kChannel, q)});
    }
    piped.push_back({"COMMIT", {}});
    Result<std::vector<PgRows>> rows = submitter_->Pipeline("submit jobs", piped);
    if (!rows.ok() && !submitter_->healthy()) {
      Status reset = submitter_->Reset();  // try the next batch on a fresh connection
      (void)reset;
    }
    for (size_t k = 0; k < index.size(); ++k) {
      const JobRecord& job = batch[index[k]].job;
      if (!rows.ok()) {
        results[index[k]] = rows.status().WithContext("job " + job.id);
      } else if ((*rows)[k + 1].affected() != 1) {
        results[index[k]] = Status::AlreadyExists("postgres: submit job " + job.id +
                                                  ": the id or the idempotency key is taken");
      }
    }
    if (rows.ok()) commits_.fetch_add(1);
  }
  // Job arrays (parent and children): one transaction each.
  for (size_t i = 0; i < batch.size(); ++i) {
    const PendingSubmit& sub = batch[i];
    if (sub.job.spec.count == 0 || !results[i].ok()) continue;
    results[i] = Write("submit job array",
                       [&](PgConnection& c) { return InsertArray(c, sub.job, sub.queue, now); });
    if (results[i].ok()) commits_.fetch_add(1);
  }
  return results;
}

Result<JobRecord> PostgresStore::GetJob(std::string_view id) {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(JobRecord job, ReadJob(*c, id, /*for_update=*/false));
  if (!job.spec.callback_url.empty()) {
    ASSIGN_OR_RETURN(PgRows r, c->Exec("read callback",
                                       std::string("SELECT ") + kCallbackColumns +
                                           " FROM callbacks WHERE job_id=$1",
                                       PgParams(id)));
    if (!r.empty()) {
      ASSIGN_OR_RETURN(CallbackDelivery d, CallbackFromRow(r, 0));
      job.callback = std::move(d.status);
    }
  }
  if (job.spec.count > 0) {
    ASSIGN_OR_RETURN(PgRows r, c->Exec("count children",
                                       "SELECT state, COUNT(*) FROM jobs WHERE parent_id=$1 "
                                       "GROUP BY state",
                                       PgParams(id)));
    for (int i = 0; i < r.size(); ++i) {
      if (auto s = ParseJobState(r.Text(i, 0))) job.children[*s] = static_cast<int>(r.Int(i, 1));
    }
  }
  return job;
}

Result<std::vector<JobRecord>> PostgresStore::ListJobsPage(const std::vector<JobState>& states,
                                                           int limit, int64_t before_seq) {
  if (limit < 0) return Status::InvalidArgument("list jobs: negative limit");
  std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE seq < $1";
  std::vector<PgParam> params = PgParams(before_seq, int64_t{limit});
  if (!states.empty()) {
    std::string list = "{";
    for (size_t i = 0; i < states.size(); ++i) {
      list += (i ? "," : "") + std::string(ToString(states[i]));
    }
    params.push_back(list + "}");
    sql += " AND state = ANY($3::text[])";
  }
  sql += " ORDER BY seq DESC LIMIT $2";
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(PgRows r, c->Exec("list jobs", sql, params));
  return JobsFromRows(r);
}

Result<JobRecord> PostgresStore::FindJobByIdempotencyKey(std::string_view idempotency_key) {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(PgRows r, c->Exec("find job by idempotency key",
                                     std::string("SELECT ") + kJobColumns +
                                         " FROM jobs WHERE idempotency_key=$1",
                                     PgParams(idempotency_key)));
  if (r.empty()) return Status::NotFound("no job has that idempotency key");
  return JobFromRow(r, 0);
}

Result<JobRecord> PostgresStore::RequestCancel(std::string_view id) {
  JobRecord after;
  int64_t now = NowMillis();
  Status st = Write("cancel job", [&](PgConnection& c) -> Status {
    ASSIGN_OR_RETURN(JobRecord job, ReadJob(c, id, /*for_update=*/true));
    if (IsTerminal(job.state)) {
      after = std::move(job);
      return Status::Ok();
    }
    if (job.spec.count > 0) {
      RETURN_IF_ERROR(CancelArray(c, id, now));
    } else if (job.state == JobState::kQueued) {
      RETURN_IF_ERROR(c.Exec("cancel queued job",
                             "UPDATE jobs SET state='Canceled', reason='Canceled before it "
                             "started', finished_at=$2::bigint WHERE id=$1",
                             PgParams(id, now))
                          .status());
      RETURN_IF_ERROR(EnqueueCallback(c, id, now));
      RETURN_IF_ERROR(c.Exec("cancel queued job: delete messages",
                             "DELETE FROM messages WHERE job_id=$1", PgParams(id))
                          .status());
    } else {
      RETURN_IF_ERROR(
          c.Exec("request cancel", "UPDATE jobs SET cancel_requested=1 WHERE id=$1", PgParams(id))
              .status());
    }
    ASSIGN_OR_RETURN(after, ReadJob(c, id, /*for_update=*/false));
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return after;
}

Status PostgresStore::RequeueJob(std::string_view id, std::string_view queue, milliseconds delay,
                                 const JobStatusUpdate& update) {
  int64_t now = NowMillis();
  return Write("requeue job", [&](PgConnection& c) -> Status {
    RETURN_IF_ERROR(ApplyJobStatus(c, id, update, now));
    // At most one live message per job: the retry's message replaces any other.
    RETURN_IF_ERROR(
        c.Exec("requeue job: delete messages", "DELETE FROM messages WHERE job_id=$1", PgParams(id))
            .status());
    RETURN_IF_ERROR(InsertMessage(c, queue, id, now, now + delay.count()));
    return delay.count() <= 0 ? Notify(c, queue) : Status::Ok();
  });
}

Result<std::vector<std::string>> PostgresStore::ListFinishedBefore(TimePoint cutoff, int limit) {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(PgRows r, c->Exec("list finished jobs",
                                     "SELECT id FROM jobs WHERE finished_at IS NOT NULL AND "
                                     "finished_at < $1 AND state IN ('Succeeded', 'Failed', "
                                     "'Canceled') ORDER BY finished_at LIMIT $2",
                                     PgParams(ToUnixMillis(cutoff), int64_t{limit})));
  std::vector<std::string> ids;
  for (int i = 0; i < r.size(); ++i) ids.push_back(r.Text(i, 0));
  return ids;
}

Status PostgresStore::DeleteJob(std::string_view id) {
  return Write("delete job", [&](PgConnection& c) -> Status {
    ASSIGN_OR_RETURN(PgRows r, c.Exec("delete job", "DELETE FROM jobs WHERE id=$1", PgParams(id)));
    if (r.affected() == 0) return Status::NotFound("job " + std::string(id) + " does not exist");
    return Status::Ok();
  });
}

Status PostgresStore::UpdateJobStatus(std::string_view id, const JobStatusUpdate& update) {
  return Write("update job status",
               [&](PgConnection& c) { return ApplyJobStatus(c, id, update, NowMillis()); });
}

Status PostgresStore::RecordRunning(const QueueMessage& msg, const JobStatusUpdate& update) {
  if (update.state != JobState::kRunning) {
    return Status::InvalidArgument("record running: the update must say Running");
  }
  return Write("record running", [&](PgConnection& c) -> Status {
    RETURN_IF_ERROR(ApplyJobStatus(c, msg.job_id, update, NowMillis()));
    return c
        .Exec("record running: delete message",
              "DELETE FROM messages WHERE id=$1 AND pop_receipt=$2",
              PgParams(msg.id, msg.pop_receipt))
        .status();
  });
}

Result<std::vector<QueueMessage>> PostgresStore::ClaimMessages(std::string_view queue, int max,
                                                               milliseconds lease) {
  if (max < 0) return Status::InvalidArgument("claim messages: negative max");
  if (lease <= milliseconds(0)) return Status::InvalidArgument("claim messages: lease must be > 0");
  int64_t now = NowMillis();
  // Rows another node is claiming right now are skipped, not waited for.
  std::string sql =
      "WITH c AS (SELECT id, next_visible AS was_visible FROM messages WHERE queue=$1 AND "
      "next_visible<=$2 ORDER BY next_visible, id LIMIT $3 FOR UPDATE SKIP LOCKED) "
      "UPDATE messages m SET dequeue_count=m.dequeue_count+1, pop_receipt=gen_random_uuid()::text, "
      "next_visible=$4 FROM c WHERE m.id=c.id RETURNING m.id, m.queue, m.job_id, "
      "m.dequeue_count, m.pop_receipt, m.inserted_at, m.next_visible, c.was_visible";
  std::vector<std::pair<int64_t, QueueMessage>> got;
  Status st = Write("claim messages", [&](PgConnection& c) -> Status {
    got.clear();
    ASSIGN_OR_RETURN(PgRows r, c.Exec("claim messages", sql,
                                      PgParams(queue, now, int64_t{max}, now + lease.count())));
    for (int i = 0; i < r.size(); ++i) got.emplace_back(r.Int(i, 7), MessageFromRow(r, i));
    return Status::Ok();
  });
  if (!st.ok()) return st.WithContext("queue " + std::string(queue));
  std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second.id < b.second.id;
  });
  std::vector<QueueMessage> claimed;
  for (auto& [visible, m] : got) claimed.push_back(std::move(m));
  return claimed;
}

namespace {
// Runs a write naming the message by id and pop receipt ($1, $2; `extra` from $3);
// FailedPrecondition when no row matched.
Status WriteWithReceipt(PgConnection& c, const std::string& sql, std::string_view op,
                        const QueueMessage& msg, std::vector<PgParam> extra) {
  std::vector<PgParam> params = PgParams(msg.id, msg.pop_receipt);
  for (PgParam& p : extra) params.push_back(std::move(p));
  ASSIGN_OR_RETURN(PgRows r, c.Exec(op, sql, params));
  return r.affected() > 0 ? Status::Ok() : StaleReceipt(msg);
}
}  // namespace

Status PostgresStore::RenewLease(const QueueMessage& msg, milliseconds lease) {
  if (lease <= milliseconds(0)) return Status::InvalidArgument("renew lease: lease must be > 0");
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  return WriteWithReceipt(*c, "UPDATE messages SET next_visible=$3 WHERE id=$1 AND pop_receipt=$2",
                          "renew lease", msg, PgParams(NowMillis() + lease.count()));
}

Status PostgresStore::DeleteMessage(const QueueMessage& msg) {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  return WriteWithReceipt(*c, "DELETE FROM messages WHERE id=$1 AND pop_receipt=$2",
                          "delete message", msg, {});
}

Status PostgresStore::ReleaseMessage(const QueueMessage& msg, milliseconds delay) {
  if (delay < milliseconds(0)) return Status::InvalidArgument("release message: negative delay");
  return Write("release message", [&](PgConnection& c) -> Status {
    RETURN_IF_ERROR(WriteWithReceipt(c,
                                     "UPDATE messages SET next_visible=$3, pop_receipt=NULL "
                                     "WHERE id=$1 AND pop_receipt=$2",
                                     "release message", msg,
                                     PgParams(NowMillis() + delay.count())));
    return delay.count() == 0 ? Notify(c, msg.queue) : Status::Ok();
  });
}

Status PostgresStore::PoisonMessage(const QueueMessage& msg, std::string_view poison_queue,
                                    const JobStatusUpdate& job_update) {
  if (poison_queue.empty()) return Status::InvalidArgument("poison message: empty poison queue");
  return Write("poison message", [&](PgConnection& c) -> Status {
    RETURN_IF_ERROR(WriteWithReceipt(c,
                                     "UPDATE messages SET queue=$3, next_visible=$4, "
                                     "pop_receipt=NULL WHERE id=$1 AND pop_receipt=$2",
                                     "poison message", msg, PgParams(poison_queue, NowMillis())));
    return ApplyJobStatus(c, msg.job_id, job_update, NowMillis());
  });
}

Result<std::vector<QueueMessage>> PostgresStore::PeekMessages(std::string_view queue, int limit) {
  if (limit < 0) return Status::InvalidArgument("peek messages: negative limit");
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(PgRows r, c->Exec("peek messages",
                                     std::string("SELECT ") + kMessageColumns +
                                         " FROM messages WHERE queue=$1 ORDER BY id LIMIT $2",
                                     PgParams(queue, int64_t{limit})));
  std::vector<QueueMessage> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(MessageFromRow(r, i));
  return out;
}

Result<std::optional<TimePoint>> PostgresStore::NextVisibleAt(std::string_view queue) {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(
      PgRows r, c->Exec("next visible at", "SELECT MIN(next_visible) FROM messages WHERE queue=$1",
                        PgParams(queue)));
  if (r.empty() || r.IsNull(0, 0)) return std::optional<TimePoint>();
  return std::optional<TimePoint>(FromUnixMillis(r.Int(0, 0)));
}

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
  std::string sql = std::string("SELECT ") + kJobColumns +
                    " FROM jobs WHERE parent_id=$1 AND array_index>$2" +
                    (state ? " AND state=$4" : "") + " ORDER BY array_index LIMIT $3";
  std::vector<PgParam> params = PgParams(parent, int64_t{after_index}, int64_t{limit});
  if (state) params.push_back(std::string(ToString(*state)));
  ASSIGN_OR_RETURN(PgRows r, c->Exec("list children", sql, params));
  return JobsFromRows(r);
}

}  // namespace berth
