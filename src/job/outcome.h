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
// The container ended (exit code or signal, as 128+N in `code`) after the kernel's OOM killer
// killed a process of the job's cgroup: the memory limit was hit.
struct OomKilled {
  int code = 137;
};
// The monitor vanished without recording an exit (killed, or the machine rebooted).
struct MonitorLost {
  std::string detail;
};

using Outcome = std::variant<Exited, Signaled, MonitorLost, OomKilled>;

// The terminal state, exit code and reason an outcome gives a job.
struct OutcomeVerdict {
  JobState state;
  std::optional<int> exit_code;
  std::string reason;
};
OutcomeVerdict Judge(const Outcome& outcome);

// exit.json as the monitor writes it: {"exitCode": N} or {"signal": N} (with "oomKilled": true
// for an OomKilled outcome: exitCode N, or signal N-128), plus "finishedAtMs".
std::string ExitRecordToJson(const Outcome& outcome, int64_t finished_at_ms);
struct ExitRecord {
  Outcome outcome;
  int64_t finished_at_ms = 0;
};
Result<ExitRecord> ParseExitRecord(std::string_view json);

}  // namespace berth
