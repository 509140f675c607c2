// PullProgress: how a pull reports what it is doing, layer by layer, to whoever waits for it
// (the CLI's progress display, a job's "pulling image" detail).
//
// Events come from the pull's worker threads, possibly several at once; a callback must be
// thread-safe and quick.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace berth {

enum class PullPhase {
  kResolving,    // fetching manifests and the config (digest is the manifest's, once known)
  kCached,       // the layer is already in the store: nothing to download
  kDownloading,  // bytes arrive: `done` of `total`
  kRetrying,     // a transient error; the download starts again after a pause
  kUnpacking,    // downloaded and verified; being unpacked
  kLayerDone,    // unpacked and ready
  kDone,         // the image is in the store (digest: its manifest)
};

struct PullEvent {
  PullPhase phase = PullPhase::kResolving;
  std::string reference;  // the normalized reference being pulled
  std::string digest;     // the layer's digest (the manifest's for kResolving and kDone)
  int64_t done = 0;       // bytes downloaded so far (kDownloading)
  int64_t total = 0;      // the layer's size
  std::string detail;     // kRetrying: why
};

using PullProgress = std::function<void(const PullEvent&)>;

}  // namespace berth
