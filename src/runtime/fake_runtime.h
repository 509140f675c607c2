// FakeRuntime: an in-memory Runtime for unit tests. It records every start, can be told which
// images fail to start, and ends jobs when the test says so. Thread-safe.
//
// It keeps the real runtime's concurrency contract, no kinder: a start takes the job's claim
// first (a second start while one is in progress gets Unavailable), then runs the test's start
// hook (which may block, to hold the start open), then creates the container. StopWatching
// waits for an exit callback in progress, as the real MonitorWatcher::Stop does.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "runtime/runtime.h"

namespace berth {

class FakeRuntime : public Runtime {
 public:
  Result<StartedContainer> Start(const std::string& id, const JobSpec& spec,
                                 const StartProgress& progress) override;
  bool HasImage(const std::string& image) override;
  Status PullImage(const std::string& image, const StartProgress& progress) override;
  Status Watch(const std::string& id, ExitCallback on_exit) override;
  void StopWatching() override;
  Status Stop(const std::string& id, bool force) override;
  Status PrepareRetry(const std::string& id, int finished_attempt,
                      const std::string& marker) override;
  Status Remove(const std::string& id) override;
  std::vector<std::string> ListLocalJobs() override;

  // What Stop asked for, in order: "TERM <id>" / "KILL <id>".
  std::vector<std::string> stops();
  // Markers PrepareRetry wrote, in order.
  std::vector<std::string> markers();
  // When set, a running job ends with Signaled{15} on a non-forced Stop (as a well-behaved job
  // would) and with Signaled{9} on a forced one; when not set, only a forced Stop ends it.
  void set_jobs_obey_sigterm(bool obey) { obey_sigterm_ = obey; }

  // Runs inside every Start, after the claim and before the container exists (may block).
  void set_start_hook(std::function<void(const std::string& id)> hook);
  // Jobs with a watch that has not fired.
  int watches();

  // Starts of `image` fail with NotFound.
  void FailImage(const std::string& image);
  // `image` is not on the node: a pull of it (PullImage, or the one Start makes itself, as the
  // real start does) blocks until ReleasePull(image), then the image is here.
  void HoldPull(const std::string& image);
  void ReleasePull(const std::string& image);
  // Pulls under way now (blocked in HoldPull).
  int pulls_in_flight();
  // Ends a started job: its watcher (if any, now or later) gets `outcome`.
  void Finish(const std::string& id, Outcome outcome);
  void StartsComing() override;
  // StartsComing hints so far, and the start calls made before the first of them.
  int starts_coming();
  int starts_before_first_hint();
  // Start calls for `id`, the refused ones included.
  int start_calls(const std::string& id);
  // Containers created for `id` (never more than one, if the caller is right).
  int containers(const std::string& id);
  // Jobs started and not finished.
  int running();

 private:
  struct Container {
    int created = 0;
    std::optional<Outcome> outcome;
    ExitCallback on_exit;
  };
  // Pulls `image` if it is held absent, waiting for its release. Takes `lock` (on mu_).
  void PullLocked(MutexLock& lock, const std::string& image) REQUIRES(mu_);

  Mutex mu_;
  std::condition_variable_any cv_;  // pulls released, callbacks done
  std::set<std::string> failing_images_ GUARDED_BY(mu_);
  std::set<std::string> absent_images_ GUARDED_BY(mu_);
  std::set<std::string> released_images_ GUARDED_BY(mu_);
  int pulls_in_flight_ GUARDED_BY(mu_) = 0;
  int callbacks_running_ GUARDED_BY(mu_) = 0;       // exit callbacks
  std::set<std::string> starting_ GUARDED_BY(mu_);  // claims of starts
  std::function<void(const std::string&)> start_hook_ GUARDED_BY(mu_);
  bool watching_stopped_ GUARDED_BY(mu_) = false;
  std::map<std::string, int> start_calls_ GUARDED_BY(mu_);
  int starts_coming_ GUARDED_BY(mu_) = 0;
  int starts_before_first_hint_ GUARDED_BY(mu_) = -1;
  std::map<std::string, Container> containers_ GUARDED_BY(mu_);
  std::vector<std::string> stops_ GUARDED_BY(mu_);
  std::vector<std::string> markers_ GUARDED_BY(mu_);
  std::atomic<bool> obey_sigterm_{true};
};

}  // namespace berth
