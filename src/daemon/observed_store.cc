#include "daemon/observed_store.h"

#include <algorithm>

namespace berth {
namespace {

double Seconds(TimePoint from, TimePoint to) {
  return std::max(0.0, std::chrono::duration<double>(to - from).count());
}

// A reason's first word ("Error: exited with code 3" -> "Error"), so labels stay few.
std::string ReasonLabel(const std::string& reason) {
  std::string word = reason.substr(0, reason.find_first_of(": "));
  if (word.size() > 32) word.resize(32);
  return word.empty() ? "None" : word;
}

// How many rows a scrape reads at most per gauge.
constexpr int kScrapeLimit = 1'000'000;

}  // namespace

ObservedStore::ObservedStore(Store& inner, const Clock& clock, Metrics& metrics,
                             JobEventHub& events)
    : inner_(inner), clock_(clock), metrics_(metrics), events_(events) {}

void ObservedStore::ObserveCommit(const char* op, TimePoint start) {
  metrics_
      .Histogram("berth_store_commit_seconds", "Time to commit a job change to the store",
                 LatencyBuckets(), {{"op", op}})
      .Observe(Seconds(start, clock_.Now()));
}

void ObservedStore::SubmitJob(JobRecord job, std::string queue, std::function<void(Status)> done) {
  TimePoint start = clock_.Now();
  std::string id = job.id;
  inner_.SubmitJob(
      std::move(job), std::move(queue), [this, start, id, done = std::move(done)](Status st) {
        if (st.ok()) {
          ObserveCommit("submit", start);
          metrics_.Counter("berth_jobs_submitted_total", "Jobs accepted (durably)").Increment();
          events_.Publish({id, JobState::kQueued, "", std::nullopt});
        }
        done(std::move(st));
      });
}

Status ObservedStore::UpdateJobStatus(std::string_view id, const JobStatusUpdate& update) {
  std::optional<JobRecord> before;
  if (update.state == JobState::kRunning) {
    // A redelivered message adopts a running job again: only a move into Running counts.
    if (auto job = inner_.GetJob(id); job.ok()) before = std::move(*job);
  }
  TimePoint start = clock_.Now();
  Status st = inner_.UpdateJobStatus(id, update);
  if (!st.ok()) return st;
  ObserveCommit("update", start);
  Changed(id, update, before ? &*before : nullptr);
  return st;
}

Status ObservedStore::RecordRunning(const QueueMessage& msg, const JobStatusUpdate& update) {
  std::optional<JobRecord> before;
  if (auto job = inner_.GetJob(msg.job_id); job.ok()) before = std::move(*job);
  TimePoint start = clock_.Now();
  Status st = inner_.RecordRunning(msg, update);
  if (!st.ok()) return st;
  ObserveCommit("update", start);
  Changed(msg.job_id, update, before ? &*before : nullptr);
  return st;
}

Result<std::vector<ClaimedJob>> ObservedStore::ClaimJobs(std::string_view queue, int max,
                                                         milliseconds lease,
                                                         const PendingClaim& pending) {
  TimePoint start = clock_.Now();
  auto claimed = inner_.ClaimJobs(queue, max, lease, pending);
  if (!claimed.ok()) return claimed;
  bool moved = false;
  for (const ClaimedJob& c : *claimed) {
    if (!c.pending) continue;
    JobStatusUpdate update{JobState::kPending, std::nullopt, c.pending->reason,
                           std::nullopt,       std::nullopt, c.pending->attempts};
    Changed(c.msg.job_id, update, nullptr);
    moved = true;
  }
  if (moved) ObserveCommit("update", start);
  return claimed;
}

Status ObservedStore::SettleLostJob(std::string_view node, std::string_view id,
                                    const JobStatusUpdate& update, std::string_view requeue_queue,
                                    milliseconds delay) {
  Status st = inner_.SettleLostJob(node, id, update, requeue_queue, delay);
  if (st.ok()) Changed(id, update, nullptr);
  return st;
}

Status ObservedStore::RequeueJob(std::string_view id, std::string_view queue, milliseconds delay,
                                 const JobStatusUpdate& update) {
  Status st = inner_.RequeueJob(id, queue, delay, update);
  if (st.ok()) Changed(id, update, nullptr);
  return st;
}

Status ObservedStore::PoisonMessage(const QueueMessage& msg, std::string_view poison_queue,
                                    const JobStatusUpdate& job_update) {
  Status st = inner_.PoisonMessage(msg, poison_queue, job_update);
  if (st.ok()) Changed(msg.job_id, job_update, nullptr);
  return st;
}

Result<JobRecord> ObservedStore::RequestCancel(std::string_view id) {
  auto before = inner_.GetJob(id);
  ASSIGN_OR_RETURN(JobRecord after, inner_.RequestCancel(id));
  if (before.ok() && !IsTerminal(before->state) && IsTerminal(after.state)) {
    JobStatusUpdate u{after.state,      after.exit_code,   after.reason,
                      after.started_at, after.finished_at, after.attempts};
    Changed(id, u, &*before);
  }
  return after;
}

void ObservedStore::Changed(std::string_view id, const JobStatusUpdate& update,
                            const JobRecord* before) {
  bool readopted = update.state == JobState::kRunning && before != nullptr &&
                   before->state == JobState::kRunning;
  if (update.state == JobState::kRunning && !readopted) {
    metrics_.Counter("berth_jobs_started_total", "Job runs started (containers running)")
        .Increment();
    // Start latency is the first run's: from the POST's commit to its container running.
    if (before != nullptr && before->history.empty() && update.started_at) {
      metrics_
          .Histogram("berth_job_start_latency_seconds",
                     "From a job's submission to its container running", LatencyBuckets())
          .Observe(Seconds(before->created_at, *update.started_at));
    }
  }
  if (IsTerminal(update.state)) {
    metrics_
        .Counter("berth_jobs_finished_total", "Jobs that ended, by final state and reason",
                 {{"state", std::string(ToString(update.state))},
                  {"reason", ReasonLabel(update.reason)}})
        .Increment();
    std::optional<TimePoint> started = update.started_at, finished = update.finished_at;
    if (!started || !finished) {
      if (auto job = inner_.GetJob(id); job.ok()) {
        started = job->started_at;
        finished = job->finished_at;
      }
    }
    if (started && finished) {
      metrics_
          .Histogram("berth_job_run_duration_seconds",
                     "From a job's (last) start to its end, for jobs that ran", LatencyBuckets())
          .Observe(Seconds(*started, *finished));
    }
  }
  if (readopted) return;
  events_.Publish({std::string(id), update.state, update.reason, update.exit_code});
}

void ObservedStore::AddGauges(const std::vector<std::string>& queues) {
  metrics_.AddCallback(
      "berth_jobs", "Jobs that are not finished, by state", MetricType::kGauge, [this] {
        std::vector<MetricSample> out;
        for (JobState s : {JobState::kQueued, JobState::kPending, JobState::kRunning}) {
          auto jobs = inner_.ListJobs({s}, kScrapeLimit);
          if (!jobs.ok()) continue;
          out.push_back({{{"state", std::string(ToString(s))}}, static_cast<double>(jobs->size())});
        }
        return out;
      });
  metrics_.AddCallback("berth_jobs_running", "Jobs whose container runs now", MetricType::kGauge,
                       [this] {
                         auto jobs = inner_.ListJobs({JobState::kRunning}, kScrapeLimit);
                         if (!jobs.ok()) return std::vector<MetricSample>{};
                         return std::vector<MetricSample>{{{}, static_cast<double>(jobs->size())}};
                       });
  auto peek = [this, queues](bool age) {
    std::vector<MetricSample> out;
    for (const std::string& q : queues) {
      auto msgs = inner_.PeekMessages(q, kScrapeLimit);
      if (!msgs.ok()) continue;
      double value = static_cast<double>(msgs->size());
      if (age) {
        value = 0;
        for (const QueueMessage& m : *msgs) {
          value = std::max(value, Seconds(m.inserted_at, clock_.Now()));
        }
      }
      out.push_back({{{"queue", q}}, value});
    }
    return out;
  };
  metrics_.AddCallback("berth_queue_messages", "Messages on each queue (claimed or not)",
                       MetricType::kGauge, [peek] { return peek(false); });
  metrics_.AddCallback("berth_queue_oldest_message_age_seconds",
                       "Age of the oldest message on each queue (0 when empty)", MetricType::kGauge,
                       [peek] { return peek(true); });
}

}  // namespace berth
