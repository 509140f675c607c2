// The access log: one line per HTTP request (method, path, route pattern, status, duration),
// written when the answer is given. The path is logged without its query string, and no header
// is logged: keys travel in `?code=` and `x-functions-key`, and never reach the log. Lines go
// through Logger::LogBatched (one write per batch, not per request); a 5xx line (a warning) is
// written at once, after the lines batched before it.
#pragma once

#include "api/router.h"
#include "common/clock.h"
#include "common/log.h"

namespace berth {

// `log` and `clock` must outlive the router the observer is set on.
RouteObserver AccessLogObserver(Logger& log, const Clock& clock);

// An observer that tells both `a` and `b` (either may be empty).
RouteObserver BothObservers(RouteObserver a, RouteObserver b);

}  // namespace berth
