// MigrationWarmer: begins, as a start begins, the kernel wait that the runtime's move of the
// container into its cgroups will need, so that the two overlap.
//
// Why: on a v1 (or hybrid) cgroup host, the runtime moves each container's init into its new
// cgroups by writing to their `tasks`/`cgroup.procs` files. Every such write takes the kernel's
// global cgroup_threadgroup_rwsem for writing, and a writer that finds that lock idle first
// waits a full RCU grace period (rcu_sync_enter -> synchronize_rcu): 8-10 ms on the machines we
// measured, a large part of a short job's start. The lock stays ready for writers for about one
// more grace period after the last one; back-to-back starts share it, a start after a pause
// pays it. The warmer writes its own thread id into the cgroup it is already in (a move that
// moves nothing but takes the same lock) the moment a start begins. The runtime's own move,
// some milliseconds later, then waits only for what is left of that grace period, or not at
// all. It changes no cgroup and holds the lock for a moment only.
//
// On a v2-only host the runtime places the container with clone3(CLONE_INTO_CGROUP) and waits
// for nothing: no warmer is made there (Target returns empty).
#pragma once

#include <condition_variable>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>

#include "common/mutex.h"
#include "runtime/cgroup_layout.h"

namespace berth {

// The `tasks` file, in a v1 hierarchy of `layout`, of the cgroup that `self_cgroup` (the text of
// /proc/thread-self/cgroup) puts the calling thread in; empty when there is none (v2 only, no
// cgroups).
std::filesystem::path MigrationWarmTarget(const CgroupLayout& layout, std::string_view self_cgroup);

class MigrationWarmer {
 public:
  // `tasks_file` empty: Poke does nothing.
  explicit MigrationWarmer(std::filesystem::path tasks_file);
  ~MigrationWarmer();  // joins the thread
  MigrationWarmer(const MigrationWarmer&) = delete;
  MigrationWarmer& operator=(const MigrationWarmer&) = delete;

  // Asks for one warming write soon; never blocks. Pokes that come while a write is under way
  // are folded into one more write after it.
  void Poke();

  // Writes done so far (tests).
  int writes();

 private:
  void Run(const std::filesystem::path& tasks_file);

  Mutex mu_;
  std::condition_variable_any cv_;
  bool poked_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  int writes_ GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace berth
