#include "cli/image_progress.h"

#include <cinttypes>

namespace berth {
namespace {

constexpr auto kRedrawEvery = std::chrono::milliseconds(100);
constexpr auto kPlainEvery = std::chrono::seconds(5);

const char* PhaseName(PullPhase phase) {
  switch (phase) {
    case PullPhase::kResolving:
      return "Resolving";
    case PullPhase::kCached:
      return "Already present";
    case PullPhase::kDownloading:
      return "Downloading";
    case PullPhase::kRetrying:
      return "Retrying";
    case PullPhase::kUnpacking:
      return "Unpacking";
    case PullPhase::kLayerDone:
      return "Done";
    case PullPhase::kDone:
      return "Pulled";
  }
  return "";
}

}  // namespace

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char buf[32];
  snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return buf;
}

PullProgressDisplay::PullProgressDisplay(FILE* out, bool tty) : out_(out), tty_(tty) {}

PullProgressDisplay::Layer& PullProgressDisplay::Find(const std::string& digest) {
  for (Layer& l : layers_) {
    if (l.digest == digest) return l;
  }
  layers_.push_back({digest, PullPhase::kResolving, 0, 0, Clock::now(), {}});
  return layers_.back();
}

std::string PullProgressDisplay::Describe(const Layer& l) const {
  std::string line = l.digest.substr(0, 19) + "  " + PhaseName(l.phase);
  if (l.phase == PullPhase::kDownloading || l.phase == PullPhase::kLayerDone ||
      l.phase == PullPhase::kUnpacking) {
    line += "  " + HumanBytes(static_cast<double>(l.done)) + " / " +
            HumanBytes(static_cast<double>(l.total));
    double seconds = std::chrono::duration<double>(Clock::now() - l.started).count();
    if (seconds > 0.05 && l.done > 0) {
      double rate = static_cast<double>(l.done) / seconds;
      line += "  " + HumanBytes(rate) + "/s";
      if (l.phase == PullPhase::kDownloading && rate > 0) {
        line += "  ETA " +
                std::to_string(
                    static_cast<int64_t>(static_cast<double>(l.total - l.done) / rate + 0.5)) +
                "s";
      }
    }
  }
  return line;
}

void PullProgressDisplay::Update(const PullEvent& e) {
  MutexLock guard(mu_);
  if (e.phase == PullPhase::kResolving || e.phase == PullPhase::kDone) {
    if (!tty_ || e.phase == PullPhase::kResolving) {
      fprintf(out_, "%s %s\n", PhaseName(e.phase), e.reference.c_str());
      fflush(out_);
    }
    return;
  }
  Layer& l = Find(e.digest);
  PullPhase before = l.phase;
  if (e.phase == PullPhase::kDownloading && before != PullPhase::kDownloading) {
    l.started = Clock::now();
  }
  l.phase = e.phase;
  l.total = e.total;
  if (e.phase != PullPhase::kRetrying) l.done = e.done;
  if (tty_) {
    if (Clock::now() - last_draw_ >= kRedrawEvery || e.phase != PullPhase::kDownloading) Redraw();
    return;
  }
  PrintPlain(l, before != e.phase);
  if (e.phase == PullPhase::kRetrying) fprintf(out_, "  (%s)\n", e.detail.c_str());
}

void PullProgressDisplay::PrintPlain(Layer& l, bool force) {
  if (!force && Clock::now() - l.last_line < kPlainEvery) return;
  l.last_line = Clock::now();
  fprintf(out_, "%s\n", Describe(l).c_str());
  fflush(out_);
}

void PullProgressDisplay::Redraw() {
  last_draw_ = Clock::now();
  if (drawn_lines_ > 0) fprintf(out_, "\033[%dA", drawn_lines_);
  for (const Layer& l : layers_) fprintf(out_, "\r\033[K%s\n", Describe(l).c_str());
  drawn_lines_ = static_cast<int>(layers_.size());
  fflush(out_);
}

void PullProgressDisplay::Finish() {
  MutexLock guard(mu_);
  if (tty_) Redraw();
}

}  // namespace berth
