// LogShipper: on a node that runs jobs over a shared store (PostgreSQL), copies each local job's
// log file into the store's LogArchive, so that any node serves any job's log (issue 11).
//
// Every `interval` it lists the jobs with files on this node and ships what each log gained
// since the last pass, in appends of at most `chunk_bytes`. It reads the file by stream offset
// (job/job_log.h ReadLogChunk), so a log the monitor trimmed meanwhile neither repeats nor
// loses the offset: output dropped before it was shipped is announced in the archive as it is
// in the file. It learns where to resume from the archive (StoredLogEnd) the first time it
// sees a job, so a restarted daemon picks up where the last one stopped; appends are
// idempotent by offset, so shipping a chunk twice is harmless. A log whose file did not change
// (same inode and size) costs one stat per pass.
//
// The end of a job: ShipOnExitRuntime (below) ships the rest of the log when the job's monitor
// has ended and before the dispatcher hears of the exit, so whoever sees a job's terminal state
// in the store finds its whole log in the archive (the monitor completes the file before it
// writes the exit; the same rule, one node further).
//
// Store errors are logged (once per job until it recovers) and retried on the next pass; the
// passes run on a thread of their own, never on the dispatcher's. Thread-safe.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/scheduler.h"
#include "runtime/runtime.h"
#include "store/log_archive.h"

namespace berth {

struct LogShipperOptions {
  std::filesystem::path jobs_root;  // <data>/jobs: where the monitors write job/<id>/log
  // How often running jobs' new output is shipped. Default 250 ms: a log read on another node
  // lags at most this much behind the file (plus one store round trip); each pass costs a stat
  // per local job and one append per job that printed something.
  milliseconds interval{250};
  size_t chunk_bytes = 256 << 10;  // one append carries at most this much
  uint64_t keep_bytes = 64 << 20;  // JobLogMaxBytes: the archive keeps this much of a job's log
  // ShipFinal's tries when the store fails transiently (a short pause between tries); after
  // them the exit goes on and the passes keep trying.
  int final_attempts = 3;
};

class LogShipper {
 public:
  // `list_jobs` names the jobs with files on this node (Runtime::ListLocalJobs).
  LogShipper(LogShipperOptions opts, LogArchive& archive, Clock& clock,
             std::function<std::vector<std::string>()> list_jobs);
  ~LogShipper();
  LogShipper(const LogShipper&) = delete;
  LogShipper& operator=(const LogShipper&) = delete;

  // Ships now and then every interval, until Stop.
  void Start();
  // Stops the passes (one in progress finishes first).
  void Stop();

  // One pass: ships every local job's output that is not in the archive yet.
  void ShipAll();

  // Ships job `id`'s log up to the current end of its file (call once its monitor has ended:
  // the file is complete). Transient store errors are tried again `final_attempts` times.
  Status ShipFinal(const std::string& id);

  // Before a run of job `id` on this node while the archive already holds output of its
  // earlier runs elsewhere (a lost node's job run again): starts the local log file with
  // DroppedHeader(stored end), so that the new output continues the stored stream (job/job_log.h)
  // instead of being shipped over its first bytes. Nothing to do when the job has a local log
  // already or no stored output.
  Status ContinueLog(const std::string& id);

 private:
  struct Tracked {
    Mutex mu;
    bool resumed GUARDED_BY(mu) = false;  // `shipped` was read from the archive
    uint64_t shipped GUARDED_BY(mu) = 0;  // stream offset the archive holds the log up to
    ino_t inode GUARDED_BY(mu) = 0;       // the file as it was when all of it was shipped
    off_t size GUARDED_BY(mu) = -1;
    bool gone GUARDED_BY(mu) = false;     // the store has no such job: nothing to ship
    bool failing GUARDED_BY(mu) = false;  // the last try failed (logged once)
  };

  // Ships what job `id`'s file holds beyond what the archive has.
  Status Ship(const std::string& id);
  // Logs the first failure of a run of them; returns `st`.
  static Status Failed(Tracked& t, const std::string& id, const Status& st) REQUIRES(t.mu);
  std::shared_ptr<Tracked> Track(const std::string& id);
  void ScheduleNext();

  LogShipperOptions opts_;
  LogArchive& archive_;
  Clock& clock_;
  std::function<std::vector<std::string>()> list_jobs_;

  Mutex mu_;
  std::map<std::string, std::shared_ptr<Tracked>> jobs_ GUARDED_BY(mu_);
  bool running_ GUARDED_BY(mu_) = false;
  std::unique_ptr<Scheduler> scheduler_;  // exists between Start and Stop
};

// The Runtime the Dispatcher sees on a node whose logs are shipped: every exit callback first
// ships the job's final output (LogShipper::ShipFinal), then reaches the dispatcher, which
// records the job's end. Everything else goes straight to `inner`. Thread-safe.
class ShipOnExitRuntime : public Runtime {
 public:
  ShipOnExitRuntime(Runtime& inner, LogShipper& shipper) : inner_(inner), shipper_(shipper) {}

  Result<StartedContainer> Start(const std::string& id, const JobSpec& spec,
                                 const StartProgress& progress) override {
    return inner_.Start(id, spec, progress);
  }
  void StartsComing() override { inner_.StartsComing(); }
  bool HasImage(const std::string& image) override { return inner_.HasImage(image); }
  Status PullImage(const std::string& image, const StartProgress& progress) override {
    return inner_.PullImage(image, progress);
  }
  Status Watch(const std::string& id, ExitCallback on_exit) override;
  void StopWatching() override { inner_.StopWatching(); }
  Status Stop(const std::string& id, bool force) override { return inner_.Stop(id, force); }
  // A retry's log continues the stored one when the earlier run was on another node.
  Status PrepareRetry(const std::string& id, int finished_attempt,
                      const std::string& marker) override {
    RETURN_IF_ERROR(shipper_.ContinueLog(id));
    return inner_.PrepareRetry(id, finished_attempt, marker);
  }
  Status Remove(const std::string& id) override { return inner_.Remove(id); }
  std::vector<std::string> ListLocalJobs() override { return inner_.ListLocalJobs(); }

 private:
  Runtime& inner_;
  LogShipper& shipper_;
};

}  // namespace berth
