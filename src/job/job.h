// A job's record: its spec and where it is in its life. Plain value type.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "job/job_spec.h"

namespace berth {

// Queued: waiting in the queue. Pending: claimed, its container being set up.
// Running: its container runs. The rest are terminal: a job never leaves them.
enum class JobState { kQueued, kPending, kRunning, kSucceeded, kFailed, kCanceled };

std::string_view ToString(JobState s);
std::optional<JobState> ParseJobState(std::string_view s);
bool IsTerminal(JobState s);

// The job state machine: the states from which a job may move to `to`. Every Store engine
// enforces it as a compare-and-set on each status write, so a late or duplicate writer can never
// move a job backwards: Pending only from Queued (or Pending, a new detail), Running only from
// Pending (or Running, an adoption), Queued only from Pending or Running (a failed start, a
// retry), a terminal state from any non-terminal one. A terminal state is never left.
std::vector<JobState> AllowedSources(JobState to);

// Whether a job in `from` may move to `to` (see AllowedSources). A job whose cancel was
// requested never moves to Pending: it must not start.
bool CanMove(JobState from, JobState to, bool cancel_requested);

// The FailedPrecondition a store answers when the state machine refuses a move of job `id` from
// `from` (as stored) to `to`.
Status TransitionRefused(std::string_view id, std::string_view from, JobState to,
                         bool cancel_requested);

// One run of a job's container (OnFailure jobs may have several).
struct AttemptRecord {
  int number = 0;  // 1-based
  std::optional<int> exit_code;
  std::string reason;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
};

// Where the delivery of a job's completion callback (spec.callback_url) stands.
// Pending: waiting for its (next) attempt. Delivered: a 2xx came back. Failed: given up after
// CallbackMaxAttempts, or the URL is not allowed.
enum class CallbackState { kPending, kDelivered, kFailed };
std::string_view ToString(CallbackState s);
std::optional<CallbackState> ParseCallbackState(std::string_view s);

struct CallbackStatus {
  std::string url;
  CallbackState state = CallbackState::kPending;
  int attempts = 0;                          // POSTs tried so far
  std::string last_error;                    // why the last attempt failed; empty when none
  std::optional<TimePoint> next_attempt_at;  // while Pending
  std::optional<TimePoint> delivered_at;     // when Delivered
};

struct JobRecord {
  std::string id;  // UUIDv4; also the container's name
  JobSpec spec;
  JobState state = JobState::kQueued;
  std::optional<int> exit_code;
  std::string reason;  // why it ended or why it waits; empty when there is nothing to say
  TimePoint created_at;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
  int attempts = 0;                       // how many times a start was tried
  std::vector<AttemptRecord> history;     // finished runs, oldest first
  std::string idempotency_key;            // the client's Idempotency-Key; empty when none
  bool cancel_requested = false;          // a cancel arrived while it was starting or running
  int64_t seq = 0;                        // submission order (set by the store); list cursor
  std::string schedule;                   // the schedule whose firing made it; empty when none
  std::optional<TimePoint> scheduled_at;  // that firing's time
  // The completion callback's delivery, once the job has ended (nullopt before, or without a
  // callbackUrl).
  std::optional<CallbackStatus> callback;
  // Job arrays: a child names its parent and its index; a parent (spec.count > 0) has its
  // children counted by state (filled when the job is read).
  std::string parent_id;
  std::optional<int> array_index;
  std::map<JobState, int> children;
  // The node that owns the job while it starts or runs (its NodeId); empty before a node
  // claimed it, and on a single node that has no NodeId.
  std::string node;
};

// Attempt history as JSON (the store keeps it in one column) and back.
std::string AttemptsToJson(const std::vector<AttemptRecord>& history);
Result<std::vector<AttemptRecord>> AttemptsFromJson(std::string_view json);

}  // namespace berth
