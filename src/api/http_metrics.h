// HTTP request metrics: a RouteObserver that counts each request by route pattern, method and
// status code (berth_http_requests_total) and times it from routing to the answer's headers
// (berth_http_request_duration_seconds). Labels are bounded: routes are patterns, not paths.
#pragma once

#include "api/router.h"
#include "common/clock.h"
#include "common/metrics.h"

namespace berth {

// `metrics` and `clock` must outlive the router the observer is set on.
RouteObserver HttpMetricsObserver(Metrics& metrics, const Clock& clock);

}  // namespace berth
