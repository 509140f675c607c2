// ArrayJobService: the node's JobService with job arrays' two extras, around the plain one: a
// cancel of an array's parent also stops each of its starting or running children (the store
// cancels the queued ones and marks the rest in the same transaction as the parent), and the
// children are listed by index. Everything else goes to the wrapped service. Thread-safe as
// the wrapped service and the store are.
#pragma once

#include <memory>
#include <utility>

#include "job/job_service.h"
#include "store/trigger_store.h"

namespace berth {

class ArrayJobService : public JobService {
 public:
  // Both must outlive this service.
  ArrayJobService(JobService& inner, TriggerStore& arrays) : inner_(inner), arrays_(arrays) {}

  void Submit(JobSpec spec, const SubmitOptions& opts,
              std::function<void(Result<std::string>)> done) override {
    inner_.Submit(std::move(spec), opts, std::move(done));
  }
  Result<CancelResult> Cancel(std::string_view id) override;
  Result<JobPage> List(std::optional<JobState> state, int limit, std::string_view cursor) override {
    return inner_.List(state, limit, cursor);
  }
  Result<LogChunk> ReadLogFrom(std::string_view id, uint64_t offset, size_t max_bytes) override {
    return inner_.ReadLogFrom(id, offset, max_bytes);
  }
  std::unique_ptr<Watch> WatchLog(std::string_view id, std::function<void()> grew) override {
    return inner_.WatchLog(id, std::move(grew));
  }
  Result<JobRecord> Get(std::string_view id) override { return inner_.Get(id); }
  Result<JobLog> ReadLog(std::string_view id, size_t max_bytes) override {
    return inner_.ReadLog(id, max_bytes);
  }
  Result<JobRecord> FindByIdempotencyKey(std::string_view idempotency_key) override {
    return inner_.FindByIdempotencyKey(idempotency_key);
  }
  Status Delete(std::string_view id) override { return inner_.Delete(id); }
  Result<JobPage> ListChildren(std::string_view parent, std::optional<JobState> state, int limit,
                               std::string_view cursor) override;

 private:
  JobService& inner_;
  TriggerStore& arrays_;
};

}  // namespace berth
