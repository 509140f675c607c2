#include "dispatch/dispatcher.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace berth {

Dispatcher::Dispatcher(DispatcherOptions opts, Store& store, Runtime& runtime, Clock& clock)
    : opts_(std::move(opts)),
      store_(store),
      runtime_(runtime),
      clock_(clock),
      scheduler_(clock, milliseconds(20)) {}

Dispatcher::~Dispatcher() { Stop(); }

Status Dispatcher::Start() {
  starters_ = std::make_unique<ThreadPool>(opts_.start_threads);
  Reconcile();
  loop_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void Dispatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  starters_.reset();  // finishes the starts in progress
}

void Dispatcher::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

int Dispatcher::active() {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

void Dispatcher::Reconcile() {
  auto jobs = store_.ListJobs({JobState::kPending, JobState::kRunning}, 1'000'000);
  if (!jobs.ok()) {
    fprintf(stderr, "berth: reconcile: %s\n", jobs.status().ToString().c_str());
    return;
  }
  for (const JobRecord& job : *jobs) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++active_;
    }
    Status st = WatchJob(job.id);
    if (st.ok()) {
      Supervise(job);
      continue;
    }
    ReleaseSlot();
    if (job.state == JobState::kRunning) {
      JobStatusUpdate u{JobState::kFailed,
                        std::nullopt,
                        "MonitorLost: no monitor found for a running job after a restart",
                        job.started_at,
                        clock_.Now(),
                        job.attempts};
      (void)store_.UpdateJobStatus(job.id, u);
    }
    // A Pending job without a monitor never started: its message is redelivered.
  }
}

void Dispatcher::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    int free = opts_.max_concurrent - active_;
    if (free <= 0 || !woken_ || opts_.paused) {
      cv_.wait_for(lock, opts_.idle_poll);
      woken_ = woken_ || free > 0;  // an idle poll also looks at the queue
      continue;
    }
    woken_ = false;
    int want = std::min(free, 64);
    lock.unlock();
    auto claimed = store_.ClaimMessages(opts_.queue, want, opts_.lease);
    lock.lock();
    if (!claimed.ok()) {
      fprintf(stderr, "berth: claim: %s\n", claimed.status().ToString().c_str());
      continue;
    }
    active_ += static_cast<int>(claimed->size());
    for (auto& msg : *claimed) {
      starters_->Post([this, msg] { Launch(msg); });
    }
    // A full batch may mean more is waiting.
    if (static_cast<int>(claimed->size()) == want) woken_ = true;
  }
}

void Dispatcher::RenewWhileStarting(const QueueMessage& msg,
                                    std::shared_ptr<std::atomic<bool>> starting) {
  scheduler_.After(opts_.lease / 2, [this, msg, starting] {
    if (!starting->load()) return;
    if (store_.RenewLease(msg, opts_.lease).ok()) RenewWhileStarting(msg, starting);
  });
}

void Dispatcher::Launch(const QueueMessage& msg) {
  auto job = store_.GetJob(msg.job_id);
  if (!job.ok() || IsTerminal(job->state)) {
    // Nothing to run: the job is gone, or ended (e.g. canceled) before its message was taken.
    (void)store_.DeleteMessage(msg);
    ReleaseSlot();
    return;
  }
  if (job->cancel_requested) {
    // Canceled while an earlier start attempt was under way: never start it.
    JobStatusUpdate canceled{JobState::kCanceled, std::nullopt, "Canceled before it started",
                             std::nullopt,        clock_.Now(), job->attempts};
    (void)store_.UpdateJobStatus(job->id, canceled);
    (void)store_.DeleteMessage(msg);
    ReleaseSlot();
    return;
  }
  job->attempts = static_cast<int>(job->history.size()) + msg.dequeue_count;
  int attempts = job->attempts;
  auto set_detail = [this, id = job->id, attempts](const std::string& detail) {
    JobStatusUpdate pending{JobState::kPending, std::nullopt, detail,
                            std::nullopt,       std::nullopt, attempts};
    (void)store_.UpdateJobStatus(id, pending);
  };
  set_detail("claimed; preparing its container");
  auto starting = std::make_shared<std::atomic<bool>>(true);
  RenewWhileStarting(msg, starting);
  auto started = runtime_.Start(job->id, job->spec, set_detail);
  starting->store(false);
  if (started.ok() || started.status().code() == StatusCode::kAlreadyExists) {
    Adopt(msg, *job);
    return;
  }
  LaunchFailed(msg, *job, started.status());
}

void Dispatcher::Adopt(const QueueMessage& msg, const JobRecord& job) {
  JobRecord running = job;
  running.state = JobState::kRunning;
  // Adopting a container that was already running keeps its start; a new run starts now.
  running.started_at =
      job.state == JobState::kRunning && job.started_at ? *job.started_at : clock_.Now();
  JobStatusUpdate update{JobState::kRunning, std::nullopt, "",
                         running.started_at, std::nullopt, job.attempts};
  (void)store_.UpdateJobStatus(job.id, update);
  if (opts_.fault_point == "after-start-before-delete") {
    fprintf(stderr, "berth: fault injection: dying between start and message delete\n");
    ::kill(::getpid(), SIGKILL);
  }
  Status del = store_.DeleteMessage(msg);
  if (!del.ok()) fprintf(stderr, "berth: delete message: %s\n", del.ToString().c_str());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (watching_.count(job.id)) {
      // Already adopted (by reconciliation): this slot was counted twice.
      --active_;
      return;
    }
  }
  Status st = WatchJob(job.id);
  if (!st.ok()) {
    OnExit(job.id, MonitorLost{st.ToString()});
    return;
  }
  Supervise(running);
}

void Dispatcher::LaunchFailed(const QueueMessage& msg, const JobRecord& job, const Status& why) {
  fprintf(stderr, "berth: job %s: start attempt %d failed: %s\n", job.id.c_str(), msg.dequeue_count,
          why.ToString().c_str());
  bool permanent = why.code() == StatusCode::kFailedPrecondition;
  if (permanent || msg.dequeue_count >= opts_.max_dequeue_count) {
    std::string poison = opts_.queue + "-poison";
    std::string reason = permanent ? why.message()
                                   : "Poison: the job could not be started in " +
                                         std::to_string(msg.dequeue_count) +
                                         " attempts and its message moved to queue '" + poison +
                                         "'; last error: " + why.message();
    JobStatusUpdate failed{JobState::kFailed, std::nullopt, reason,
                           std::nullopt,      clock_.Now(), job.attempts};
    Status st = store_.PoisonMessage(msg, poison, failed);
    // The job ended meanwhile (e.g. canceled): its message is simply done.
    if (st.code() == StatusCode::kFailedPrecondition) st = store_.DeleteMessage(msg);
    if (!st.ok()) fprintf(stderr, "berth: poison message: %s\n", st.ToString().c_str());
  } else {
    JobStatusUpdate queued{JobState::kQueued,
                           std::nullopt,
                           "start attempt " + std::to_string(msg.dequeue_count) + " of " +
                               std::to_string(opts_.max_dequeue_count) +
                               " failed: " + why.message(),
                           std::nullopt,
                           std::nullopt,
                           job.attempts};
    (void)store_.UpdateJobStatus(job.id, queued);
    Status st = store_.ReleaseMessage(msg, opts_.retry_delay);
    if (!st.ok()) fprintf(stderr, "berth: release message: %s\n", st.ToString().c_str());
    if (opts_.retry_delay.count() > 0) scheduler_.After(opts_.retry_delay, [this] { Wake(); });
  }
  ReleaseSlot();
}

Status Dispatcher::WatchJob(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    watching_.insert(id);
  }
  Status st = runtime_.Watch(
      id, [this](const std::string& job_id, Outcome outcome) { OnExit(job_id, outcome); });
  if (!st.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    watching_.erase(id);
  }
  return st;
}

void Dispatcher::ReleaseSlot() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --active_;
    woken_ = true;
  }
  cv_.notify_all();
}

}  // namespace berth
