// ImagePuller: brings images from registries into an ImageStore.
//
// A pull resolves the reference to one image manifest (an OCI index or Docker manifest list
// is narrowed to linux and the host's architecture), fetches and checks the config, then
// downloads the layers the store lacks concurrently into a staging dir, verifies each one's
// sha256 and unpacks it as soon as it is in, and publishes everything at once: a failed pull
// leaves the store as it was. Names without a registry come from the mirrors, then the default
// registry. Concurrent pulls of one reference in this process share one pull (single flight).
// Thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/mutex.h"
#include "common/status.h"
#include "images/image_reference.h"
#include "images/image_store.h"
#include "images/pull_progress.h"
#include "images/registry_options.h"

namespace berth {

class ImagePuller {
 public:
  ImagePuller(ImageStore& store, RegistryOptions opts);

  // The image from the store, or pulled when the store lacks it (see ImageStore::EnsureImage
  // for the error contract).
  Result<Image> EnsureImage(std::string_view reference, const PullProgress& progress);

  // Pulls `reference` even when the store has it (a tag may have moved); unchanged layers are
  // not downloaded again. Same error contract.
  Result<Image> Pull(std::string_view reference, const PullProgress& progress);

 private:
  struct Flight;

  // Runs one pull per reference at a time; later callers wait for it and share its result.
  // With `reuse_local`, the leader first checks the store again.
  Result<Image> SharedPull(const ImageReference& ref, const PullProgress& progress,
                           bool reuse_local);
  Result<Image> Fetch(const ImageReference& ref, const PullProgress& progress);
  Result<Image> FetchFrom(const std::string& registry, const ImageReference& ref,
                          const PullProgress& progress);

  ImageStore& store_;
  const RegistryOptions opts_;
  Mutex mu_;
  std::map<std::string, std::shared_ptr<Flight>> flights_ GUARDED_BY(mu_);  // by reference
};

// Maps a pull's failure to the contract: "ImagePullFailed: <reference>: <why>", Unavailable when
// a retry may succeed (unreachable registry, 5xx, local I/O), FailedPrecondition otherwise.
// Paths under `store_root` (staging dirs, blobs) are named relative to it, as
// "<image store>/tmp/...": the message reaches a job's anonymous status.
Status PullFailure(const Status& st, std::string_view reference,
                   const std::filesystem::path& store_root = {});

// `text` with every occurrence of the directory `dir` (as given, and its canonical form)
// replaced by `placeholder`: keeps host paths of the data dir out of what callers see.
std::string RedactDir(std::string text, const std::filesystem::path& dir,
                      std::string_view placeholder);

}  // namespace berth
