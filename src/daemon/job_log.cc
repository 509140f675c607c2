#include "daemon/job_log.h"

namespace berth {

std::function<void(const JobEvent&)> JobEventLogger(Logger& log) {
  return [&log](const JobEvent& e) {
    LogFields fields{{"job", e.id}};
    std::string state(ToString(e.state));
    switch (e.state) {
      case JobState::kQueued:
        // One per submit: batched (the submit path's log write), unlike the rarer lines.
        if (e.reason.empty()) return log.LogBatched("job submitted", fields);
        fields.emplace_back("reason", e.reason);
        return log.Info("job queued again", fields);
      case JobState::kPending:
        return log.Info("job starting", fields);
      case JobState::kRunning:
        return log.Info("job started", fields);
      case JobState::kSucceeded:
      case JobState::kFailed:
      case JobState::kCanceled:
        fields.emplace_back("state", state);
        if (e.exit_code) fields.emplace_back("exit_code", std::to_string(*e.exit_code));
        if (!e.reason.empty()) fields.emplace_back("reason", e.reason);
        return log.Log(e.state == JobState::kFailed ? LogLevel::kWarn : LogLevel::kInfo,
                       "job ended", fields);
    }
  };
}

}  // namespace berth
