#include "store/store.h"

#include <future>

namespace berth {

Status Store::SubmitJobAndWait(JobRecord job, std::string queue) {
  std::promise<Status> done;
  auto fut = done.get_future();
  SubmitJob(std::move(job), std::move(queue), [&done](Status st) { done.set_value(st); });
  return fut.get();
}

}  // namespace berth
