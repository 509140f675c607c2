// The access log: one line per HTTP request (method, path, route pattern, status, duration),
// formatted when the answer is given. The path is logged without its query string, and no header
// is logged: keys travel in `?code=` and `x-functions-key`, and never reach the log.
//
// Lines are buffered and reach the log in batches (one Logger::WriteLines, so one write, per
// batch), not one write per request on the answering thread: a background thread writes what
// is buffered at most `flush_interval` after its first line; a thread whose line fills the buffer
// past `max_buffered_bytes` writes the batch itself (memory stays bounded when the writer cannot
// keep up); a line for a 5xx answer (a warning) is written at once, after the lines before it.
// Flush and the destructor write what is buffered, so a clean shutdown loses no line (a killed
// daemon loses at most one interval of info lines). Batches are written in the order their lines
// were buffered. Thread-safe.
#pragma once

#include <condition_variable>
#include <string>
#include <thread>

#include "api/router.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mutex.h"

namespace berth {

struct AccessLogOptions {
  // How long a line may wait in the buffer. Default 50 ms: a person tailing the log sees no
  // delay, and under load one write carries hundreds of lines.
  milliseconds flush_interval{50};
  // A buffer past this is written by the thread that filled it. Default 64 KiB (about 500 lines).
  size_t max_buffered_bytes = 64 << 10;
};

class AccessLog {
 public:
  // `log` and `clock` must outlive it; it must outlive every router its Observer is set on (and
  // every answer still to come through them).
  AccessLog(Logger& log, const Clock& clock, AccessLogOptions opts = {});
  // Writes what is buffered.
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // The route observer that logs each request when it is answered.
  RouteObserver Observer();

  // Writes every line buffered so far, now.
  void Flush();

 private:
  void Add(LogLevel level, std::string line);
  void FlushLoop();

  Logger& log_;
  const Clock& clock_;
  const AccessLogOptions opts_;
  Mutex write_mu_;  // held while a batch is taken and written: batches stay in order
  Mutex mu_;        // taken after write_mu_ when both are held
  std::condition_variable_any cv_;
  std::string buffer_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread flusher_;  // last: starts after everything above exists
};

// An observer that tells both `a` and `b` (either may be empty).
RouteObserver BothObservers(RouteObserver a, RouteObserver b);

}  // namespace berth
