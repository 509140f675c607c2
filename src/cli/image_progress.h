// PullProgressDisplay: shows a pull's progress per layer (bytes, rate, ETA). On a terminal the
// layer lines are redrawn in place (at most ten times a second); otherwise each layer prints a
// plain line when it starts, every few seconds while it downloads, and when it is done.
// Thread-safe: Update may be called from the pull's worker threads.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "images/pull_progress.h"

namespace berth {

class PullProgressDisplay {
 public:
  PullProgressDisplay(FILE* out, bool tty);

  void Update(const PullEvent& event);
  // Draws the final state (on a terminal).
  void Finish();

 private:
  struct Layer {
    std::string digest;
    PullPhase phase = PullPhase::kResolving;
    int64_t done = 0;
    int64_t total = 0;
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point last_line;
  };
  using Clock = std::chrono::steady_clock;

  Layer& Find(const std::string& digest) REQUIRES(mu_);
  std::string Describe(const Layer& layer) const;
  void Redraw() REQUIRES(mu_);
  void PrintPlain(Layer& layer, bool force) REQUIRES(mu_);

  FILE* out_;
  const bool tty_;
  Mutex mu_;
  std::vector<Layer> layers_ GUARDED_BY(mu_);  // in order of first appearance
  int drawn_lines_ GUARDED_BY(mu_) = 0;
  Clock::time_point last_draw_;
};

// "12.3 MiB"
std::string HumanBytes(double bytes);

}  // namespace berth
