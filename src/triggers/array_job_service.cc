#include "triggers/array_job_service.h"

#include <cstdio>

#include "common/log.h"

namespace berth {

Result<CancelResult> ArrayJobService::Cancel(std::string_view id) {
  ASSIGN_OR_RETURN(CancelResult result, inner_.Cancel(id));
  if (result.already_ended || result.job.spec.count == 0) return result;
  // The store canceled the queued children and marked the others; stop those that run.
  for (JobState s : {JobState::kPending, JobState::kRunning}) {
    auto children = arrays_.ListChildren(id, s, kMaxArrayCount, -1);
    if (!children.ok()) {
      LogError("cancel array: list children",
               {{"job", std::string(id)}, {"error", children.status().ToString()}});
      continue;
    }
    for (const JobRecord& child : *children) {
      auto canceled = inner_.Cancel(child.id);
      if (!canceled.ok()) {
        LogError("cancel array: cancel child", {{"job", std::string(id)},
                                                {"child", child.id},
                                                {"error", canceled.status().ToString()}});
      }
    }
  }
  ASSIGN_OR_RETURN(result.job, inner_.Get(id));
  return result;
}

Result<JobPage> ArrayJobService::ListChildren(std::string_view parent,
                                              std::optional<JobState> state, int limit,
                                              std::string_view cursor) {
  int after = -1;
  if (!cursor.empty()) {
    if (cursor.size() > 5 || cursor.find_first_not_of("0123456789") != std::string_view::npos) {
      return Status::InvalidArgument("malformed cursor");
    }
    after = std::stoi(std::string(cursor));
  }
  ASSIGN_OR_RETURN(std::vector<JobRecord> jobs,
                   arrays_.ListChildren(parent, state, limit + 1, after));
  JobPage page;
  if (static_cast<int>(jobs.size()) > limit) {
    jobs.resize(static_cast<size_t>(limit));
    page.next_cursor = std::to_string(*jobs.back().array_index);
  }
  page.jobs = std::move(jobs);
  return page;
}

}  // namespace berth
