#include "store/postgres_store.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <utility>

#include "store/postgres_schema.h"
#include "store/postgres_sql.h"

namespace berth {

using pgsql::ApplyJobStatus;
using pgsql::CallbackFromRow;
using pgsql::CancelArray;
using pgsql::EnqueueCallback;
using pgsql::InsertArray;
using pgsql::InsertMessage;
using pgsql::JobFromRow;
using pgsql::JobInsertParams;
using pgsql::JobRow;
using pgsql::JobsFromRows;
using pgsql::kCallbackColumns;
using pgsql::kChannel;
using pgsql::kInsertJob;
using pgsql::kJobColumns;
using pgsql::kJobSummaryColumns;
using pgsql::kMessageColumns;
using pgsql::MessageFromRow;
using pgsql::Notify;
using pgsql::ReadJob;
using pgsql::Retryable;
using pgsql::StaleReceipt;

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& conninfo,
                                                           Clock& clock,
                                                           PostgresStoreOptions options) {
  if (options.connections < 1) {
    return Status::InvalidArgument("postgres: connections must be at least 1");
  }
  if (options.submitters < 1) {
    return Status::InvalidArgument("postgres: submitters must be at least 1");
  }
  std::vector<std::unique_ptr<PgConnection>> submitters;
  for (int i = 0; i < options.submitters; ++i) {
    ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, PgConnection::Connect(conninfo));
    submitters.push_back(std::move(conn));
  }
  RETURN_IF_ERROR(MigratePostgresSchema(*submitters.front()));
  ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> listener, PgConnection::Connect(conninfo));
  RETURN_IF_ERROR(listener->Exec("listen", std::string("LISTEN ") + kChannel).status());
  ASSIGN_OR_RETURN(std::unique_ptr<PgPool> pool, PgPool::Open(conninfo, options.connections));
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) return ErrnoStatus("postgres: eventfd", errno);
  return std::unique_ptr<PostgresStore>(new PostgresStore(
      clock, std::move(pool), std::move(submitters), std::move(listener), std::move(stop)));
}

PostgresStore::PostgresStore(Clock& clock, std::unique_ptr<PgPool> pool,
                             std::vector<std::unique_ptr<PgConnection>> submitters,
                             std::unique_ptr<PgConnection> listener, UniqueFd stop_event)
    : clock_(clock),
      pool_(std::move(pool)),
      submitters_(std::move(submitters)),
      listener_(std::move(listener)),
      stop_event_(std::move(stop_event)),
      listener_thread_([this] { ListenerLoop(); }) {
  for (auto& conn : submitters_) {
    submitter_threads_.emplace_back([this, c = conn.get()] { SubmitterLoop(*c); });
  }
}

PostgresStore::~PostgresStore() {
  {
    MutexLock lock(pending_mu_);
    stopping_ = true;
  }
  pending_cv_.notify_all();
  for (std::thread& t : submitter_threads_) t.join();
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

void PostgresStore::SubmitterLoop(PgConnection& conn) {
  MutexLock lock(pending_mu_);
  for (;;) {
    while (!stopping_ && pending_.empty()) pending_cv_.wait(lock);
    if (pending_.empty()) return;  // stopping, and everything queued is committed
    std::vector<PendingSubmit> batch = std::exchange(pending_, {});
    lock.unlock();
    std::vector<Status> results = CommitBatch(conn, batch);
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
    batch.clear();  // drop the callbacks' captures before taking the lock again
    lock.lock();
  }
}

std::vector<Status> PostgresStore::CommitBatch(PgConnection& conn,
                                               const std::vector<PendingSubmit>& batch) {
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
    Result<std::vector<PgRows>> rows = conn.Pipeline("submit jobs", piped);
    if (!rows.ok() && !conn.healthy()) {
      Status reset = conn.Reset();  // try the next batch on a fresh connection
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
  return ListJobRows(states, limit, before_seq, /*summaries=*/false);
}

Result<std::vector<JobRecord>> PostgresStore::ListJobSummaries(const std::vector<JobState>& states,
                                                               int limit, int64_t before_seq) {
  return ListJobRows(states, limit, before_seq, /*summaries=*/true);
}

Result<std::vector<JobRecord>> PostgresStore::ListJobRows(const std::vector<JobState>& states,
                                                          int limit, int64_t before_seq,
                                                          bool summaries) {
  if (limit < 0) return Status::InvalidArgument("list jobs: negative limit");
  std::string sql = std::string("SELECT ") + (summaries ? kJobSummaryColumns : kJobColumns) +
                    " FROM jobs WHERE seq < $1";
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
  return JobsFromRows(r, summaries ? JobRow::kSummary : JobRow::kFull);
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

}  // namespace berth

// Many nodes (issue 11): heartbeats, ownership and node loss.
namespace berth {

Status PostgresStore::Heartbeat(const NodeRecord& node, milliseconds lease) {
  if (node.id.empty()) return Status::InvalidArgument("heartbeat: empty node id");
  if (lease <= milliseconds(0)) return Status::InvalidArgument("heartbeat: lease must be > 0");
  int64_t now = NowMillis();
  // The row lock it takes waits for a loss being settled (SettleLostJob holds it): a node that
  // comes back sees, once its heartbeat commits, every job that was taken from it.
  return Write("heartbeat", [&](PgConnection& c) -> Status {
    return c
        .Exec("heartbeat",
              "INSERT INTO nodes(id, role, version, started_at, heartbeat_at, lease_until, "
              "jobs_running, capacity, lost_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8, NULL) "
              "ON CONFLICT(id) DO UPDATE SET role=excluded.role, version=excluded.version, "
              "started_at=excluded.started_at, heartbeat_at=excluded.heartbeat_at, "
              "lease_until=excluded.lease_until, jobs_running=excluded.jobs_running, "
              "capacity=excluded.capacity, lost_at=NULL",
              PgParams(node.id, node.role, node.version, ToUnixMillis(node.started_at), now,
                       now + lease.count(), int64_t{node.jobs_running}, int64_t{node.capacity}))
        .status();
  });
}

Result<std::vector<NodeRecord>> PostgresStore::ListNodes() {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(
      PgRows r,
      c->Exec("list nodes",
              std::string("SELECT ") + pgsql::kNodeColumns + " FROM nodes ORDER BY id", {}));
  std::vector<NodeRecord> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(pgsql::NodeFromRow(r, i));
  return out;
}

Result<bool> PostgresStore::MarkNodeLost(std::string_view id, std::string_view pending_reason) {
  int64_t now = NowMillis();
  bool marked = false;
  Status st = Write("mark node lost", [&](PgConnection& c) -> Status {
    marked = false;
    // Several nodes may try at once: the row lock and the re-checked WHERE let one win.
    ASSIGN_OR_RETURN(PgRows won, c.Exec("mark node lost",
                                        "UPDATE nodes SET lost_at=$2 WHERE id=$1 AND "
                                        "lease_until<$2 AND lost_at IS NULL RETURNING id",
                                        PgParams(id, now)));
    if (won.empty()) return Status::Ok();
    marked = true;
    ASSIGN_OR_RETURN(PgRows queues,
                     c.Exec("mark node lost: release messages",
                            "UPDATE messages SET next_visible=$2, pop_receipt=NULL WHERE job_id "
                            "IN (SELECT id FROM jobs WHERE node=$1 AND state='Pending') "
                            "RETURNING queue",
                            PgParams(id, now)));
    RETURN_IF_ERROR(c.Exec("mark node lost: queue pending jobs",
                           "UPDATE jobs SET state='Queued', node='', reason=$2 WHERE node=$1 AND "
                           "state='Pending'",
                           PgParams(id, pending_reason))
                        .status());
    std::set<std::string> distinct;
    for (int i = 0; i < queues.size(); ++i) distinct.insert(queues.Text(i, 0));
    for (const std::string& q : distinct) RETURN_IF_ERROR(Notify(c, q));
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return marked;
}

Result<std::vector<JobRecord>> PostgresStore::ListNodeJobs(std::string_view node,
                                                           const std::vector<JobState>& states) {
  std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE node=$1";
  std::vector<PgParam> params = PgParams(node);
  if (!states.empty()) {
    std::string list = "{";
    for (size_t i = 0; i < states.size(); ++i) {
      list += (i ? "," : "") + std::string(ToString(states[i]));
    }
    params.push_back(list + "}");
    sql += " AND state = ANY($2::text[])";
  }
  sql += " ORDER BY seq";
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(PgRows r, c->Exec("list node jobs", sql, params));
  return JobsFromRows(r);
}

Status PostgresStore::SettleLostJob(std::string_view node, std::string_view id,
                                    const JobStatusUpdate& update, std::string_view requeue_queue,
                                    milliseconds delay) {
  int64_t now = NowMillis();
  return Write("settle lost job", [&](PgConnection& c) -> Status {
    // Locks the node's row: a heartbeat of the node (which clears the loss) waits for this
    // transaction, and one that committed first makes this one refuse.
    ASSIGN_OR_RETURN(PgRows lost, c.Exec("settle lost job: node",
                                         "SELECT 1 FROM nodes WHERE id=$1 AND lost_at IS NOT "
                                         "NULL FOR UPDATE",
                                         PgParams(node)));
    if (lost.empty()) {
      return Status::FailedPrecondition("node '" + std::string(node) +
                                        "' is not recorded lost (it is back)");
    }
    JobStatusUpdate u = update;
    u.expect_node = std::string(node);
    RETURN_IF_ERROR(ApplyJobStatus(c, id, u, now));
    if (requeue_queue.empty()) return Status::Ok();
    RETURN_IF_ERROR(
        c.Exec("requeue job: delete messages", "DELETE FROM messages WHERE job_id=$1", PgParams(id))
            .status());
    RETURN_IF_ERROR(InsertMessage(c, requeue_queue, id, now, now + delay.count()));
    return delay.count() <= 0 ? Notify(c, requeue_queue) : Status::Ok();
  });
}

Result<std::vector<std::string>> PostgresStore::ListCancelRequested(std::string_view node) {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(PgRows r, c->Exec("list cancel requested",
                                     "SELECT id FROM jobs WHERE node=$1 AND state IN ('Pending', "
                                     "'Running') AND cancel_requested=1",
                                     PgParams(node)));
  std::vector<std::string> ids;
  for (int i = 0; i < r.size(); ++i) ids.push_back(r.Text(i, 0));
  return ids;
}

}  // namespace berth
