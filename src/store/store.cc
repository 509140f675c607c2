#include "store/store.h"

#include <future>

namespace berth {

Status Store::SubmitJobAndWait(JobRecord job, std::string queue) {
  std::promise<Status> done;
  auto fut = done.get_future();
  SubmitJob(std::move(job), std::move(queue), [&done](Status st) { done.set_value(st); });
  return fut.get();
}

Status NotOwner(std::string_view id, std::string_view expected, std::string_view stored) {
  return Status::FailedPrecondition(
      "job " + std::string(id) + " belongs to " +
      (stored.empty() ? std::string("no node") : "node '" + std::string(stored) + "'") +
      ", not to node '" + std::string(expected) + "'");
}

}  // namespace berth
