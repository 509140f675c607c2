#include "azure/azure_queue_store.h"

#include <algorithm>
#include <cctype>

#include "common/log.h"
#include "common/random.h"

namespace berth {
namespace {

using std::chrono::seconds;

// Azure counts visibility in whole seconds: a lease is rounded up, never down.
seconds CeilSeconds(milliseconds ms) {
  return seconds((std::max<int64_t>(ms.count(), 0) + 999) / 1000);
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

constexpr int kRelayBatch = 32;
constexpr milliseconds kRelayLease{60'000};

}  // namespace

Result<MessageEncoding> ParseMessageEncoding(std::string_view name) {
  if (name == "base64") return MessageEncoding::kBase64;
  if (name == "none") return MessageEncoding::kNone;
  return Status::InvalidArgument("must be base64 or none, got '" + std::string(name) + "'");
}

AzureQueueStore::AzureQueueStore(AzureQueueStoreOptions opts, Store& inner, QueueService& azure,
                                 const Clock& clock)
    : opts_(std::move(opts)), inner_(inner), azure_(azure), clock_(clock) {}

AzureQueueStore::~AzureQueueStore() { Stop(); }

void AzureQueueStore::Start() {
  if (Status st = EnsureQueues(); !st.ok()) {
    LogWarn("azure queue: cannot create the queues yet; submitted jobs wait in the outbox",
            {{"queue", opts_.queue}, {"error", st.ToString()}});
  }
  relay_ = std::thread([this] { RelayLoop(); });
}

void AzureQueueStore::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (relay_.joinable()) relay_.join();
}

void AzureQueueStore::WakeRelay() {
  {
    MutexLock lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void AzureQueueStore::SetOnRelayed(std::function<void()> wake) {
  MutexLock lock(mu_);
  on_relayed_ = std::move(wake);
}

Status AzureQueueStore::EnsureQueues() {
  RETURN_IF_ERROR(azure_.CreateQueue(opts_.queue));
  RETURN_IF_ERROR(azure_.CreateQueue(opts_.queue + "-poison"));
  MutexLock lock(mu_);
  queues_ready_ = true;
  return Status::Ok();
}

Status AzureQueueStore::WithQueue(const std::function<Status()>& call) {
  Status st = call();
  if (!st.IsNotFound()) return st;
  RETURN_IF_ERROR(EnsureQueues());
  return call();
}

std::string AzureQueueStore::Encode(std::string_view text) const {
  return opts_.encoding == MessageEncoding::kBase64 ? azure::Base64Encode(text) : std::string(text);
}

Result<std::string> AzureQueueStore::Decode(std::string_view text) const {
  if (opts_.encoding == MessageEncoding::kNone) return std::string(text);
  auto decoded = azure::Base64Decode(Trim(text));
  if (!decoded.ok()) {
    return Status::InvalidArgument("its text is not base64 (QueueMessageEncoding is base64)");
  }
  return decoded;
}

// ---- The outbox relay ----

void AzureQueueStore::SubmitJob(JobRecord job, std::string queue,
                                std::function<void(Status)> done) {
  inner_.SubmitJob(std::move(job), std::move(queue), [this, done = std::move(done)](Status st) {
    if (st.ok()) WakeRelay();
    done(std::move(st));
  });
}

Status AzureQueueStore::RequeueJob(std::string_view id, std::string_view queue, milliseconds delay,
                                   const JobStatusUpdate& update) {
  Status st = inner_.RequeueJob(id, queue, delay, update);
  if (st.ok()) WakeRelay();
  return st;
}

void AzureQueueStore::DropInbox() {
  auto inbox = inner_.ClaimMessages(InboxQueue(), kRelayBatch, kRelayLease);
  if (!inbox.ok()) return;
  for (const QueueMessage& m : *inbox) (void)inner_.DeleteMessage(m);
}

Result<int> AzureQueueStore::RelayOnce() {
  bool ready;
  {
    MutexLock lock(mu_);
    ready = queues_ready_;
  }
  if (!ready) RETURN_IF_ERROR(EnsureQueues());
  DropInbox();
  ASSIGN_OR_RETURN(std::vector<QueueMessage> msgs,
                   inner_.ClaimMessages(opts_.queue, kRelayBatch, kRelayLease));
  int sent = 0;
  Status failed;
  for (const QueueMessage& m : msgs) {
    if (failed.ok()) {
      failed = WithQueue([&] { return azure_.PutMessage(opts_.queue, Encode(m.job_id), {}); });
      if (failed.ok()) {
        // Only now is the job's message in Azure. A failed delete relays it twice: the second
        // delivery finds the job under way or done and is dropped.
        if (Status del = inner_.DeleteMessage(m); !del.ok()) {
          LogWarn("azure queue: relayed message not removed from the outbox",
                  {{"job", m.job_id}, {"error", del.ToString()}});
        }
        ++sent;
        continue;
      }
    }
    (void)inner_.ReleaseMessage(m, milliseconds(0));  // relayed on a later pass
  }
  std::function<void()> wake;
  {
    MutexLock lock(mu_);
    wake = on_relayed_;
  }
  if (sent > 0 && wake) wake();
  if (!failed.ok()) return failed;
  return static_cast<int>(msgs.size());
}

void AzureQueueStore::RelayLoop() {
  milliseconds backoff(100);
  bool failing = false;
  for (;;) {
    {
      MutexLock lock(mu_);
      if (stopping_) return;
    }
    Result<int> n = RelayOnce();
    milliseconds wait = opts_.relay_poll;
    if (!n.ok()) {
      if (!failing) {
        LogWarn("azure queue: cannot relay submitted jobs; they wait in the outbox",
                {{"queue", opts_.queue}, {"error", n.status().ToString()}});
      }
      failing = true;
      wait = backoff;
      backoff = std::min(backoff * 2, opts_.relay_backoff_max);
    } else {
      if (failing) LogInfo("azure queue: relaying again", {{"queue", opts_.queue}});
      failing = false;
      backoff = milliseconds(100);
      if (*n >= kRelayBatch) {
        wait = milliseconds(0);
      } else if (auto next = inner_.NextVisibleAt(opts_.queue); next.ok() && *next) {
        auto until = std::chrono::duration_cast<milliseconds>(**next - clock_.Now());
        wait = std::clamp(until, milliseconds(0), wait);
      }
    }
    MutexLock lock(mu_);
    auto until = std::chrono::steady_clock::now() + wait;
    while (!woken_ && !stopping_ && cv_.wait_until(lock, until) == std::cv_status::no_timeout) {
    }
    woken_ = false;
  }
}

// ---- The consumer side ----

void AzureQueueStore::PoisonUnrunnable(const AzureMessage& m, const std::string& reason) {
  std::string poison = opts_.queue + "-poison";
  LogWarn("azure queue: message moved to the poison queue",
          {{"queue", opts_.queue}, {"message", m.id}, {"poison", poison}, {"reason", reason}});
  Status put = WithQueue([&] { return azure_.PutMessage(poison, m.text, {}); });
  if (!put.ok()) {
    LogError("azure queue: poison copy failed; the message comes back after its lease",
             {{"message", m.id}, {"error", put.ToString()}});
    return;
  }
  if (Status del = azure_.DeleteMessage(opts_.queue, m.id, m.pop_receipt); !del.ok()) {
    LogWarn("azure queue: poisoned message not deleted",
            {{"message", m.id}, {"error", del.ToString()}});
  }
}

Result<AzureQueueStore::Resolved> AzureQueueStore::JobFromSpec(const AzureMessage& m,
                                                               JobSpec spec) {
  std::string key = "azure-queue:" + opts_.queue + ":" + m.id;
  auto existing = inner_.FindJobByIdempotencyKey(key);
  if (!existing.ok() && !existing.status().IsNotFound()) return existing.status();
  bool array = spec.count > 0;
  if (!existing.ok()) {
    JobRecord job;
    job.id = NewUuidV4();
    job.spec = std::move(spec);
    job.state = JobState::kQueued;
    job.created_at = clock_.Now();
    job.idempotency_key = key;
    // An array's children go through the outbox like any submitted job; a plain job's own
    // message is the Azure one, so its local message goes to the inbox, which is dropped.
    Status st = inner_.SubmitJobAndWait(job, array ? opts_.queue : InboxQueue());
    if (st.code() == StatusCode::kAlreadyExists) {
      existing = inner_.FindJobByIdempotencyKey(key);  // a concurrent delivery won
      if (!existing.ok()) return existing.status();
    } else if (!st.ok()) {
      return st;
    } else {
      LogInfo("azure queue: job made from a queued spec",
              {{"job", job.id}, {"queue", opts_.queue}, {"message", m.id}});
      existing = std::move(job);
      if (array) WakeRelay();
      DropInbox();
    }
  }
  if (array) {
    // The parent never runs: the message is done once the array is stored.
    (void)azure_.DeleteMessage(opts_.queue, m.id, m.pop_receipt);
    return Resolved{};
  }
  return Resolved{existing->id};
}

Result<AzureQueueStore::Resolved> AzureQueueStore::Resolve(const AzureMessage& m) {
  auto text = Decode(m.text);
  if (!text.ok()) {
    PoisonUnrunnable(m, text.status().message());
    return Resolved{};
  }
  std::string body = Trim(*text);
  if (IsCanonicalUuid(body)) {
    std::string id = Lower(body);
    auto job = inner_.GetJob(id);
    if (job.ok()) return Resolved{job->id};
    if (!job.status().IsNotFound()) return job.status();
    PoisonUnrunnable(m, "no stored job has id " + id);
    return Resolved{};
  }
  if (!body.empty() && body.front() == '{') {
    auto spec = ParseJobSpec(body);
    if (!spec.ok()) {
      PoisonUnrunnable(m, "not a valid job spec: " + spec.status().message());
      return Resolved{};
    }
    if (opts_.check_spec) {
      if (Status st = opts_.check_spec(*spec); !st.ok()) {
        PoisonUnrunnable(m, "job spec refused: " + st.message());
        return Resolved{};
      }
    }
    return JobFromSpec(m, std::move(*spec));
  }
  PoisonUnrunnable(m, "its text is neither the id of a stored job nor a JSON job spec");
  return Resolved{};
}

Result<std::vector<QueueMessage>> AzureQueueStore::ClaimMessages(std::string_view queue, int max,
                                                                 milliseconds lease) {
  if (!Ours(queue)) return inner_.ClaimMessages(queue, max, lease);
  if (max < 0) return Status::InvalidArgument("claim messages: negative max");
  if (lease <= milliseconds(0)) return Status::InvalidArgument("claim messages: lease must be > 0");
  std::vector<QueueMessage> out;
  if (max == 0) return out;
  int n = std::min({max, opts_.batch_size, 32});
  std::vector<AzureMessage> got;
  RETURN_IF_ERROR(WithQueue([&]() -> Status {
    ASSIGN_OR_RETURN(got, azure_.GetMessages(opts_.queue, n, CeilSeconds(lease)));
    return Status::Ok();
  }));
  for (const AzureMessage& m : got) {
    auto resolved = Resolve(m);
    if (!resolved.ok()) {
      // The store could not say what it is now: it comes back soon.
      LogWarn("azure queue: message left for a later delivery",
              {{"message", m.id}, {"error", resolved.status().ToString()}});
      (void)azure_.UpdateVisibility(opts_.queue, m.id, m.pop_receipt, seconds(1));
      continue;
    }
    if (resolved->job_id.empty()) continue;
    QueueMessage msg;
    msg.queue = opts_.queue;
    msg.job_id = resolved->job_id;
    msg.dequeue_count = m.dequeue_count;
    msg.pop_receipt = m.pop_receipt;
    msg.inserted_at = m.inserted_at;
    msg.next_visible = m.next_visible;
    {
      MutexLock lock(mu_);
      msg.id = next_id_++;
      held_[msg.id] = Held{m.id, m.pop_receipt, m.text, std::make_shared<Mutex>()};
    }
    out.push_back(std::move(msg));
  }
  return out;
}

Result<AzureQueueStore::Held> AzureQueueStore::Find(const QueueMessage& msg) {
  MutexLock lock(mu_);
  auto it = held_.find(msg.id);
  if (it == held_.end()) {
    return Status::FailedPrecondition("message of job " + msg.job_id +
                                      " is no longer held (its lease was lost or it is done)");
  }
  return it->second;
}

void AzureQueueStore::Forget(int64_t id) {
  MutexLock lock(mu_);
  held_.erase(id);
}

Status AzureQueueStore::RenewLease(const QueueMessage& msg, milliseconds lease) {
  if (!Ours(msg.queue)) return inner_.RenewLease(msg, lease);
  if (lease <= milliseconds(0)) return Status::InvalidArgument("renew lease: lease must be > 0");
  ASSIGN_OR_RETURN(Held h, Find(msg));
  std::shared_ptr<Mutex> serial = h.op;
  MutexLock op(*serial);
  ASSIGN_OR_RETURN(h, Find(msg));  // the receipt as it is now
  auto u = azure_.UpdateVisibility(opts_.queue, h.message_id, h.pop_receipt, CeilSeconds(lease));
  if (!u.ok()) {
    if (u.status().code() == StatusCode::kFailedPrecondition) Forget(msg.id);
    return u.status();
  }
  MutexLock lock(mu_);
  if (auto it = held_.find(msg.id); it != held_.end()) it->second.pop_receipt = u->pop_receipt;
  return Status::Ok();
}

Status AzureQueueStore::DeleteMessage(const QueueMessage& msg) {
  if (!Ours(msg.queue)) return inner_.DeleteMessage(msg);
  ASSIGN_OR_RETURN(Held h, Find(msg));
  std::shared_ptr<Mutex> serial = h.op;
  MutexLock op(*serial);
  ASSIGN_OR_RETURN(h, Find(msg));
  Status st = azure_.DeleteMessage(opts_.queue, h.message_id, h.pop_receipt);
  if (st.ok() || st.code() == StatusCode::kFailedPrecondition) Forget(msg.id);
  return st;
}

Status AzureQueueStore::ReleaseMessage(const QueueMessage& msg, milliseconds delay) {
  if (!Ours(msg.queue)) return inner_.ReleaseMessage(msg, delay);
  if (delay < milliseconds(0)) return Status::InvalidArgument("release message: negative delay");
  ASSIGN_OR_RETURN(Held h, Find(msg));
  std::shared_ptr<Mutex> serial = h.op;
  MutexLock op(*serial);
  ASSIGN_OR_RETURN(h, Find(msg));
  auto u = azure_.UpdateVisibility(opts_.queue, h.message_id, h.pop_receipt, CeilSeconds(delay));
  if (u.ok() || u.status().code() == StatusCode::kFailedPrecondition) Forget(msg.id);
  return u.status();
}

Status AzureQueueStore::RecordRunning(const QueueMessage& msg, const JobStatusUpdate& update) {
  if (!Ours(msg.queue)) return inner_.RecordRunning(msg, update);
  // The inner store's compare-and-set to Running; the message it would delete is not local
  // (an id no local message has).
  QueueMessage none = msg;
  none.id = -1;
  none.pop_receipt.clear();
  RETURN_IF_ERROR(inner_.RecordRunning(none, update));
  // Then the Azure delete. A lost lease does not undo the Running: the next delivery finds the
  // job Running and deletes the message then.
  Status del = DeleteMessage(msg);
  if (!del.ok()) {
    LogWarn("azure queue: message of a running job not deleted; a later delivery deletes it",
            {{"job", msg.job_id}, {"error", del.ToString()}});
  }
  return Status::Ok();
}

Status AzureQueueStore::PoisonMessage(const QueueMessage& msg, std::string_view poison_queue,
                                      const JobStatusUpdate& job_update) {
  if (!Ours(msg.queue)) return inner_.PoisonMessage(msg, poison_queue, job_update);
  if (poison_queue.empty()) return Status::InvalidArgument("poison message: empty poison queue");
  ASSIGN_OR_RETURN(JobRecord job, inner_.GetJob(msg.job_id));
  if (IsTerminal(job.state)) {
    return TransitionRefused(job.id, ToString(job.state), job_update.state, job.cancel_requested);
  }
  ASSIGN_OR_RETURN(Held h, Find(msg));
  {
    std::shared_ptr<Mutex> serial = h.op;
    MutexLock op(*serial);
    ASSIGN_OR_RETURN(h, Find(msg));
    // The same text as the original (as the Functions runtime copies it), in the same account.
    RETURN_IF_ERROR(WithQueue([&] { return azure_.PutMessage(poison_queue, h.text, {}); }));
    if (Status del = azure_.DeleteMessage(opts_.queue, h.message_id, h.pop_receipt); !del.ok()) {
      LogWarn("azure queue: poisoned message not deleted; a later delivery finds its job failed",
              {{"job", msg.job_id}, {"error", del.ToString()}});
    }
  }
  Forget(msg.id);
  return inner_.UpdateJobStatus(msg.job_id, job_update);
}

Result<std::vector<QueueMessage>> AzureQueueStore::PeekMessages(std::string_view queue, int limit) {
  if (!OursOrPoison(queue)) return inner_.PeekMessages(queue, limit);
  if (limit < 0) return Status::InvalidArgument("peek messages: negative limit");
  std::vector<QueueMessage> out;
  if (limit == 0) return out;
  std::vector<AzureMessage> got;
  RETURN_IF_ERROR(WithQueue([&]() -> Status {
    ASSIGN_OR_RETURN(got, azure_.PeekMessages(queue, std::min(limit, 32)));
    return Status::Ok();
  }));
  for (const AzureMessage& m : got) {
    QueueMessage q;
    q.queue = std::string(queue);
    auto text = Decode(m.text);
    q.job_id = text.ok() ? Trim(*text) : m.text;
    q.dequeue_count = m.dequeue_count;
    q.inserted_at = m.inserted_at;
    q.next_visible = m.next_visible;
    out.push_back(std::move(q));
  }
  return out;
}

Result<std::optional<TimePoint>> AzureQueueStore::NextVisibleAt(std::string_view queue) {
  if (!OursOrPoison(queue)) return inner_.NextVisibleAt(queue);
  ASSIGN_OR_RETURN(std::vector<QueueMessage> visible, PeekMessages(queue, 1));
  if (visible.empty()) return std::optional<TimePoint>();
  return std::optional<TimePoint>(clock_.Now());
}

}  // namespace berth
