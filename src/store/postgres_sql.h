// The SQL of PostgresStore shared by its Store half (postgres_store.cc) and its TriggerStore
// half (postgres_trigger_store.cc): row readers, and the writes several operations make inside
// their transaction (insert a job, move a job by compare-and-set, end an array child, NOTIFY).
// Internal to the store layer. Every function runs on the caller's connection (not thread-safe;
// the caller owns it for the transaction).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "job/job.h"
#include "job/schedule.h"
#include "store/pg_connection.h"
#include "store/store.h"
#include "store/trigger_store.h"

namespace berth::pgsql {

// The channel of NOTIFY berth_queued (payload: the queue's name).
inline constexpr const char* kChannel = "berth_queued";

inline constexpr const char* kJobColumns =
    "id, spec, state, exit_code, reason, created_at, started_at, finished_at, attempts, "
    "idempotency_key, history, cancel_requested, seq, schedule, scheduled_at, parent_id, "
    "array_index, node";
// A listing's columns (Store::ListJobSummaries): kJobColumns with the spec replaced by what a
// list shows of it; only an array's spec is looked into, for two small fields.
inline constexpr const char* kJobSummaryColumns =
    "id, image, state, exit_code, reason, created_at, started_at, finished_at, attempts, "
    "idempotency_key, history, cancel_requested, seq, schedule, scheduled_at, parent_id, "
    "array_index, callback_url, array_count, "
    "CASE WHEN array_count > 0 THEN (spec::jsonb->>'parallelism')::int END, "
    "CASE WHEN array_count > 0 THEN spec::jsonb->>'completionPolicy' END, node";
inline constexpr const char* kMessageColumns =
    "id, queue, job_id, dequeue_count, pop_receipt, inserted_at, next_visible";
inline constexpr const char* kScheduleColumns =
    "name, spec, created_at, updated_at, handled_through, last_fired_at, last_job_id, "
    "fired_count, skipped_count";
inline constexpr const char* kNodeColumns =
    "id, role, version, started_at, heartbeat_at, lease_until, jobs_running, capacity, lost_at";
inline constexpr const char* kCallbackColumns =
    "job_id, url, state, attempts, next_attempt_at, last_error, delivered_at";
// The INSERT of a job's row: $1..$19, see JobInsertParams.
inline constexpr const char* kInsertJob =
    "INSERT INTO jobs(id, spec, image, state, exit_code, reason, created_at, started_at, "
    "finished_at, attempts, idempotency_key, history, schedule, scheduled_at, callback_url, "
    "parent_id, array_index, array_count, array_queue) VALUES($1, $2, $3, $4, $5, $6, $7, $8, "
    "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)";

std::optional<int64_t> OptMillis(const std::optional<TimePoint>& t);
std::optional<TimePoint> OptTime(const std::optional<int64_t>& ms);

enum class JobRow { kFull, kSummary };

// Row `i` of a SELECT of kJobColumns, or of kJobSummaryColumns with JobRow::kSummary
// (kMessageColumns, kCallbackColumns, kScheduleColumns).
Result<JobRecord> JobFromRow(const PgRows& r, int i, JobRow kind = JobRow::kFull);
Result<std::vector<JobRecord>> JobsFromRows(const PgRows& r, JobRow kind = JobRow::kFull);
QueueMessage MessageFromRow(const PgRows& r, int i);
NodeRecord NodeFromRow(const PgRows& r, int i);
Result<CallbackDelivery> CallbackFromRow(const PgRows& r, int i);
Result<ScheduleRecord> ScheduleFromRow(const PgRows& r, int i);

// Tells every node's listener that `queue` has a visible message (sent at commit).
Status Notify(PgConnection& c, std::string_view queue);
// Writes the completion callback's outbox row of job `id` (when it has a callbackUrl), inside
// the transaction that ends the job.
Status EnqueueCallback(PgConnection& c, std::string_view id, int64_t now_ms);
Status InsertMessage(PgConnection& c, std::string_view queue, std::string_view job_id,
                     int64_t now_ms, int64_t visible_ms);
// Sets a job's status if the state machine allows the move: a compare-and-set on the stored
// state (and, for Pending, on cancel_requested); an array child's move is counted on its parent.
Status ApplyJobStatus(PgConnection& c, std::string_view id, const JobStatusUpdate& u,
                      int64_t now_ms);
// The parameters of kInsertJob for `job` (an array parent records `queue` for its children).
std::vector<PgParam> JobInsertParams(const JobRecord& job, std::string_view queue);
// Inserts `job` and (with_message) one message for it on `queue`. AlreadyExists when its id or
// idempotency key is taken.
Status InsertJob(PgConnection& c, const JobRecord& job, std::string_view queue, int64_t now_ms,
                 bool with_message = true);
// Writes job array `parent` (no message: it never runs) and its children, the first
// `parallelism` with a message on `queue`.
Status InsertArray(PgConnection& c, const JobRecord& parent, std::string_view queue,
                   int64_t now_ms);
// Cancels job array `parent` (its row locked by the caller).
Status CancelArray(PgConnection& c, std::string_view parent, int64_t now_ms);
Status StaleReceipt(const QueueMessage& msg);
// Reads one job (with `for_update`: locks its row until the transaction ends).
Result<JobRecord> ReadJob(PgConnection& c, std::string_view id, bool for_update);
// A deadlock or serialization failure: the transaction may simply be run again.
bool Retryable(const Status& st);

}  // namespace berth::pgsql
