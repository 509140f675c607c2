#include "job/outcome.h"

#include <signal.h>
#include <string.h>

#include <nlohmann/json.hpp>

namespace berth {

OutcomeVerdict Judge(const Outcome& outcome) {
  if (const auto* e = std::get_if<Exited>(&outcome)) {
    if (e->code == 0) return {JobState::kSucceeded, 0, "Completed"};
    return {JobState::kFailed, e->code, "Error: exited with code " + std::to_string(e->code)};
  }
  if (const auto* s = std::get_if<Signaled>(&outcome)) {
    const char* name = sigabbrev_np(s->signal);
    std::string sig = name ? std::string("SIG") + name : std::to_string(s->signal);
    return {JobState::kFailed, 128 + s->signal, "Signaled: killed by " + sig};
  }
  if (const auto* o = std::get_if<OomKilled>(&outcome)) {
    return {JobState::kFailed, o->code, "OOMKilled"};
  }
  const auto& lost = std::get<MonitorLost>(outcome);
  return {JobState::kFailed, std::nullopt, "MonitorLost: " + lost.detail};
}

std::string ExitRecordToJson(const Outcome& outcome, int64_t finished_at_ms) {
  nlohmann::json j;
  if (const auto* e = std::get_if<Exited>(&outcome)) j["exitCode"] = e->code;
  if (const auto* s = std::get_if<Signaled>(&outcome)) j["signal"] = s->signal;
  if (const auto* m = std::get_if<MonitorLost>(&outcome)) j["lost"] = m->detail;
  if (const auto* o = std::get_if<OomKilled>(&outcome)) {
    if (o->code > 128) {
      j["signal"] = o->code - 128;
    } else {
      j["exitCode"] = o->code;
    }
    j["oomKilled"] = true;
  }
  j["finishedAtMs"] = finished_at_ms;
  return j.dump();
}

Result<ExitRecord> ParseExitRecord(std::string_view text) {
  try {
    auto j = nlohmann::json::parse(text.begin(), text.end());
    ExitRecord rec;
    rec.finished_at_ms = j.value("finishedAtMs", int64_t{0});
    if (j.contains("exitCode")) {
      rec.outcome = Exited{j["exitCode"].get<int>()};
    } else if (j.contains("signal")) {
      rec.outcome = Signaled{j["signal"].get<int>()};
    } else if (j.contains("lost")) {
      rec.outcome = MonitorLost{j["lost"].get<std::string>()};
    } else {
      return Status::InvalidArgument("exit record has no exitCode, signal or lost");
    }
    if (j.value("oomKilled", false)) {
      if (const auto* e = std::get_if<Exited>(&rec.outcome)) rec.outcome = OomKilled{e->code};
      if (const auto* s = std::get_if<Signaled>(&rec.outcome)) {
        rec.outcome = OomKilled{128 + s->signal};
      }
    }
    return rec;
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("malformed exit record: ") + e.what());
  }
}

}  // namespace berth
