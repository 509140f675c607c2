#include "job/job.h"

namespace berth {

std::string_view ToString(JobState s) {
  switch (s) {
    case JobState::kQueued:
      return "Queued";
    case JobState::kPending:
      return "Pending";
    case JobState::kRunning:
      return "Running";
    case JobState::kSucceeded:
      return "Succeeded";
    case JobState::kFailed:
      return "Failed";
    case JobState::kCanceled:
      return "Canceled";
  }
  return "Unknown";
}

std::optional<JobState> ParseJobState(std::string_view s) {
  for (JobState st : {JobState::kQueued, JobState::kPending, JobState::kRunning,
                      JobState::kSucceeded, JobState::kFailed, JobState::kCanceled}) {
    if (ToString(st) == s) return st;
  }
  return std::nullopt;
}

bool IsTerminal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kFailed || s == JobState::kCanceled;
}

}  // namespace berth
