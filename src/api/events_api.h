// EventsApi: job state changes as Server-Sent Events, for the dashboard and for scripts.
//
//   GET /api/events   (function key, ?code= or x-functions-key)   text/event-stream:
//     event: job
//     data: {"id": "...", "state": "Running", "reason": "", "exitCode": null}
//
// Each connection subscribes to the node's JobEventSource. Memory is bounded: a client that
// does not read falls behind by at most `max_buffered_bytes`, then its stream ends; a
// keep-alive comment every `keepalive` notices clients that went away (the server stops asking
// a dead connection for chunks, and a stream not asked for `stale_after` is dropped).
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "api/router.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/scheduler.h"
#include "job/job_events.h"

namespace berth {

struct EventsApiOptions {
  // Whether a request may subscribe; null = anyone may.
  std::function<bool(const HttpRequest&)> authorize;
  milliseconds keepalive{15'000};  // 0: no timer (tests call Tick)
  milliseconds stale_after{60'000};
  size_t max_buffered_bytes = 1 << 20;
};

class EventsApi {
 public:
  EventsApi(JobEventSource& source, Clock& clock, EventsApiOptions opts);
  // Unsubscribes every stream.
  ~EventsApi();

  // Adds the route to `router`; `this` must outlive it.
  void Register(Router& router);

  // The answer to GET /api/events (exposed for tests).
  HttpResponse Subscribe(const HttpRequest& req);

  // Sends the keep-alives and drops stale streams (run by the timer every `keepalive`).
  void Tick();

  size_t streams() const;

  // One event as SSE text.
  static std::string Format(const JobEvent& e);

 private:
  struct Stream;
  void Deliver(const std::shared_ptr<Stream>& s, std::string text);
  void ScheduleTick();

  JobEventSource& source_;
  Clock& clock_;
  EventsApiOptions opts_;
  mutable Mutex mu_;
  std::map<uint64_t, std::shared_ptr<Stream>> streams_ GUARDED_BY(mu_);  // by subscription
  std::unique_ptr<Scheduler> scheduler_;                                 // null when keepalive is 0
};

}  // namespace berth
