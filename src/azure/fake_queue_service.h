// FakeQueueService: an in-memory QueueService for tests with the service's contract, no kinder:
// a Get makes a message invisible until its visibility ends and gives it a new pop receipt; an
// update gives yet another one; a stale receipt is refused (FailedPrecondition) for updates and
// deletes; a queue must be created before use (NotFound). `set_down(true)` makes every call
// Unavailable, as an unreachable service. Time comes from the test's clock. Header-only, for
// tests. Thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "azure/queue_client.h"
#include "common/mutex.h"
#include "common/random.h"

namespace berth {

class FakeQueueService : public QueueService {
 public:
  explicit FakeQueueService(const Clock& clock) : clock_(clock) {}

  void set_down(bool down) {
    MutexLock lock(mu_);
    down_ = down;
  }
  // Every message of `queue`, visible or not, in order.
  std::vector<AzureMessage> All(const std::string& queue) {
    MutexLock lock(mu_);
    return queues_[queue];
  }
  int calls(const std::string& op) {
    MutexLock lock(mu_);
    return calls_[op];
  }

  Status CreateQueue(std::string_view queue) override {
    MutexLock lock(mu_);
    RETURN_IF_ERROR(Up("CreateQueue"));
    queues_[std::string(queue)];
    return Status::Ok();
  }
  Status PutMessage(std::string_view queue, std::string_view text,
                    std::chrono::seconds visibility) override {
    MutexLock lock(mu_);
    RETURN_IF_ERROR(Up("PutMessage"));
    auto q = queues_.find(std::string(queue));
    if (q == queues_.end()) return Status::NotFound("QueueNotFound");
    AzureMessage m;
    m.id = NewUuidV4();
    m.text = std::string(text);
    m.inserted_at = clock_.Now();
    m.next_visible = clock_.Now() + visibility;
    q->second.push_back(m);
    return Status::Ok();
  }
  Result<std::vector<AzureMessage>> GetMessages(std::string_view queue, int max,
                                                std::chrono::seconds visibility) override {
    MutexLock lock(mu_);
    RETURN_IF_ERROR(Up("GetMessages"));
    auto q = queues_.find(std::string(queue));
    if (q == queues_.end()) return Status::NotFound("QueueNotFound");
    std::vector<AzureMessage> out;
    for (AzureMessage& m : q->second) {
      if (static_cast<int>(out.size()) >= max) break;
      if (m.next_visible > clock_.Now()) continue;
      m.dequeue_count += 1;
      m.pop_receipt = NewUuidV4();
      m.next_visible = clock_.Now() + visibility;
      out.push_back(m);
    }
    return out;
  }
  Result<std::vector<AzureMessage>> PeekMessages(std::string_view queue, int max) override {
    MutexLock lock(mu_);
    RETURN_IF_ERROR(Up("PeekMessages"));
    auto q = queues_.find(std::string(queue));
    if (q == queues_.end()) return Status::NotFound("QueueNotFound");
    std::vector<AzureMessage> out;
    for (const AzureMessage& m : q->second) {
      if (static_cast<int>(out.size()) >= max) break;
      if (m.next_visible > clock_.Now()) continue;
      AzureMessage peeked = m;
      peeked.pop_receipt.clear();
      out.push_back(peeked);
    }
    return out;
  }
  Result<UpdatedMessage> UpdateVisibility(std::string_view queue, std::string_view id,
                                          std::string_view pop_receipt,
                                          std::chrono::seconds visibility) override {
    MutexLock lock(mu_);
    RETURN_IF_ERROR(Up("UpdateVisibility"));
    ASSIGN_OR_RETURN(AzureMessage * m, Held(queue, id, pop_receipt));
    m->pop_receipt = NewUuidV4();
    m->next_visible = clock_.Now() + visibility;
    return UpdatedMessage{m->pop_receipt, m->next_visible};
  }
  Status DeleteMessage(std::string_view queue, std::string_view id,
                       std::string_view pop_receipt) override {
    MutexLock lock(mu_);
    RETURN_IF_ERROR(Up("DeleteMessage"));
    ASSIGN_OR_RETURN(AzureMessage * m, Held(queue, id, pop_receipt));
    auto& msgs = queues_[std::string(queue)];
    msgs.erase(msgs.begin() + (m - msgs.data()));
    return Status::Ok();
  }

 private:
  Status Up(const std::string& op) REQUIRES(mu_) {
    calls_[op]++;
    return down_ ? Status::Unavailable("queue service: connection refused") : Status::Ok();
  }
  Result<AzureMessage*> Held(std::string_view queue, std::string_view id,
                             std::string_view pop_receipt) REQUIRES(mu_) {
    auto q = queues_.find(std::string(queue));
    if (q == queues_.end()) return Status::NotFound("QueueNotFound");
    for (AzureMessage& m : q->second) {
      if (m.id != id) continue;
      if (m.pop_receipt != pop_receipt) return Status::FailedPrecondition("PopReceiptMismatch");
      return &m;
    }
    return Status::FailedPrecondition("MessageNotFound");
  }

  const Clock& clock_;
  Mutex mu_;
  bool down_ GUARDED_BY(mu_) = false;
  std::map<std::string, std::vector<AzureMessage>> queues_ GUARDED_BY(mu_);
  std::map<std::string, int> calls_ GUARDED_BY(mu_);
};

}  // namespace berth
