// CrashPoints: the seam through which tests stop the daemon at a named step of the job path, the
// way LevelDB tests inject faults through an Env wrapper. Production code calls CrashPoint() at
// each step with a null pointer; only test builds implement the interface (an implementation that
// kills the process lives in tests/, never in a production library).
//
// The steps of the job path, in order: "claimed" (message claimed, job not yet Pending),
// "pending" (Pending recorded, container not started), "started" (container runs, Running not
// recorded, message not deleted), "running" (Running recorded and message deleted in one commit,
// exit not yet watched), "exited" (exit seen, not
// recorded), "requeued" (a retry queued in the store, the finished run's records not yet set
// aside).
#pragma once

#include <string_view>

namespace berth {

class CrashPoints {
 public:
  virtual ~CrashPoints() = default;
  // Called when the job path reaches `point`; may not return.
  virtual void Reached(std::string_view point) = 0;
};

inline void CrashPoint(CrashPoints* points, std::string_view point) {
  if (points != nullptr) points->Reached(point);
}

}  // namespace berth
