// How an OnFailure retry is announced and spaced: the delay before attempt runs+1 and the line
// written into the job's log between two attempts. Shared by the dispatcher's two paths that set
// a finished run aside (right after the exit, and after a crash interrupted that).
#pragma once

#include <string>

#include "common/clock.h"

namespace berth {

// The pause before the retry that follows `runs` finished runs: `backoff` doubled per run after
// the first, at most `max`.
milliseconds RetryDelay(int runs, milliseconds backoff, milliseconds max);

// "--- berth: attempt 1 failed (reason); attempt 2 of 4 in 1000 ms ---"
std::string RetryMarker(int runs, const std::string& reason, int max_attempts, milliseconds delay);

}  // namespace berth
