// How a job's container ended: data, not an error. The monitor records it in exit.json; the
// dispatcher turns it into the job's terminal state.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "common/status.h"
#include "job/job.h"

namespace berth {

struct Exited {
  int code = 0;
};
struct Signaled {
  int signal = 0;
};
// The monitor vanished without recording an exit (killed, or the machine rebooted).
struct MonitorLost {
  std::string detail;
};

using Outcome = std::variant<Exited, Signaled, MonitorLost>;

// The terminal state, exit code and reason an outcome gives a job.
struct OutcomeVerdict {
  JobState state;
  std::optional<int> exit_code;
  std::string reason;
};
OutcomeVerdict Judge(const Outcome& outcome);

// exit.json as the monitor writes it: {"exitCode": N} or {"signal": N}, plus "finishedAtMs".
std::string ExitRecordToJson(const Outcome& outcome, int64_t finished_at_ms);
struct ExitRecord {
  Outcome outcome;
  int64_t finished_at_ms = 0;
};
Result<ExitRecord> ParseExitRecord(std::string_view json);

}  // namespace berth
