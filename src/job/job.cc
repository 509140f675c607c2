#include "job/job.h"

#include <nlohmann/json.hpp>

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

std::vector<JobState> AllowedSources(JobState to) {
  switch (to) {
    case JobState::kQueued:
      return {JobState::kQueued, JobState::kPending, JobState::kRunning};
    case JobState::kPending:
      return {JobState::kQueued, JobState::kPending};
    case JobState::kRunning:
      return {JobState::kPending, JobState::kRunning};
    case JobState::kSucceeded:
    case JobState::kFailed:
    case JobState::kCanceled:
      return {JobState::kQueued, JobState::kPending, JobState::kRunning};
  }
  return {};
}

bool CanMove(JobState from, JobState to, bool cancel_requested) {
  if (to == JobState::kPending && cancel_requested) return false;
  for (JobState s : AllowedSources(to)) {
    if (s == from) return true;
  }
  return false;
}

Status TransitionRefused(std::string_view id, std::string_view from, JobState to,
                         bool cancel_requested) {
  std::string job = "job " + std::string(id) + " is " + std::string(from);
  auto stored = ParseJobState(from);
  if (stored && IsTerminal(*stored)) {
    return Status::FailedPrecondition(job + "; a terminal state is never left");
  }
  if (to == JobState::kPending && cancel_requested) {
    return Status::FailedPrecondition(job + " and its cancel was requested; it must not start");
  }
  return Status::FailedPrecondition(job + "; it cannot move to " + std::string(ToString(to)));
}

std::string AttemptsToJson(const std::vector<AttemptRecord>& history) {
  nlohmann::json arr = nlohmann::json::array();
  auto ms = [](const std::optional<TimePoint>& t) {
    return t ? nlohmann::json(ToUnixMillis(*t)) : nlohmann::json(nullptr);
  };
  for (const auto& a : history) {
    arr.push_back({{"n", a.number},
                   {"exitCode", a.exit_code ? nlohmann::json(*a.exit_code) : nlohmann::json()},
                   {"reason", a.reason},
                   {"startedAt", ms(a.started_at)},
                   {"finishedAt", ms(a.finished_at)}});
  }
  return arr.dump();
}

Result<std::vector<AttemptRecord>> AttemptsFromJson(std::string_view text) {
  try {
    auto arr = nlohmann::json::parse(text.begin(), text.end());
    std::vector<AttemptRecord> out;
    auto time = [](const nlohmann::json& v) -> std::optional<TimePoint> {
      if (v.is_null()) return std::nullopt;
      return FromUnixMillis(v.get<int64_t>());
    };
    for (const auto& a : arr) {
      AttemptRecord r;
      r.number = a.at("n").get<int>();
      if (!a.at("exitCode").is_null()) r.exit_code = a["exitCode"].get<int>();
      r.reason = a.at("reason").get<std::string>();
      r.started_at = time(a.at("startedAt"));
      r.finished_at = time(a.at("finishedAt"));
      out.push_back(std::move(r));
    }
    return out;
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("malformed attempt history: ") + e.what());
  }
}

std::string_view ToString(CallbackState s) {
  switch (s) {
    case CallbackState::kDelivered:
      return "Delivered";
    case CallbackState::kFailed:
      return "Failed";
    case CallbackState::kPending:
      break;
  }
  return "Pending";
}

std::optional<CallbackState> ParseCallbackState(std::string_view s) {
  if (s == "Pending") return CallbackState::kPending;
  if (s == "Delivered") return CallbackState::kDelivered;
  if (s == "Failed") return CallbackState::kFailed;
  return std::nullopt;
}

}  // namespace berth
