// ImageStore: OCI images kept on local disk, content-addressed.
//
// Layout under root: blobs/sha256/<hex> (manifests, configs, compressed layers as received),
// layers/<hex of the layer blob>/ (each layer unpacked once, shared by every image that uses it),
// refs.json (normalized reference -> manifest digest), written atomically, tmp/ (staging).
// Thread-safe, and several processes (the daemon, `berth image ...`) may share a root: imports,
// removals and prunes take an exclusive flock on <root>/lock, pulls a shared one for their whole
// length (so a prune never sees a pull's half-made state), and refs.json changes take
// <root>/refs.lock. Unpacking overlay whiteouts needs root (CAP_MKNOD, CAP_SYS_ADMIN).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "images/pull_progress.h"
#include "images/registry_options.h"

namespace berth {

// What an image says about how to run it (the OCI image config's `config` object).
struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "NAME=value"
  std::string working_dir;
  std::string user;
};

struct Image {
  std::string reference;        // normalized, e.g. "docker.io/library/busybox:latest"
  std::string manifest_digest;  // "sha256:..."
  std::vector<std::filesystem::path> layer_dirs;  // unpacked layers, bottom first
  ImageConfig config;
  uint64_t size_bytes = 0;  // sum of compressed layer sizes
};

class ImagePuller;

// A pull in progress: holds the store shared (imports and prunes wait for it) and owns a
// staging directory under tmp/, removed when the PullStaging goes away.
class PullStaging {
 public:
  PullStaging(int lock_fd, std::filesystem::path dir) : lock_fd_(lock_fd), dir_(std::move(dir)) {}
  PullStaging(const PullStaging&) = delete;
  PullStaging& operator=(const PullStaging&) = delete;
  ~PullStaging();

  const std::filesystem::path& dir() const { return dir_; }
  // Where a layer's downloaded blob and its unpacked tree are staged.
  std::filesystem::path BlobPath(std::string_view digest) const;
  std::filesystem::path LayerDir(std::string_view digest) const;

 private:
  UniqueFd lock_fd_;  // the store's shared flock
  std::filesystem::path dir_;
};

// What a pull fetched and verified, ready to be published by CommitPull.
struct PulledImage {
  std::string reference;        // normalized; the tag (or digest) to set
  std::string manifest_digest;  // the image manifest (not an index)
  std::vector<std::pair<std::string, std::string>> documents;  // digest, bytes: manifest, config
  std::vector<std::string> staged_layers;  // digests whose blob and tree are in the staging dir
};

// What a prune removed.
struct PruneReport {
  int blobs_removed = 0;
  int layers_removed = 0;
  uint64_t bytes_freed = 0;
};

class ImageStore {
 public:
  explicit ImageStore(std::filesystem::path root);
  ~ImageStore();

  const std::filesystem::path& root() const { return root_; }

  // Creates the directory layout if missing and removes leftovers of crashed imports.
  Status Init();

  // Imports an OCI image layout directory (oci-layout, index.json, blobs/) and tags it as
  // `reference`. Every blob is sha256-verified; layers are unpacked (gzip, zstd or plain tar) with
  // path-escape protection. Nothing half-written is left on failure.
  Result<Image> ImportLayout(const std::filesystem::path& layout_dir, std::string_view reference);

  // The image a reference names ("busybox", "busybox:latest",
  // "docker.io/library/busybox:latest" are one). NotFound when it is not in the store.
  Result<Image> Resolve(std::string_view reference);

  // Imports a `docker save` tarball, an OCI layout directory, or a tar of an OCI layout. With an
  // empty `reference` the archive's own name is used (RepoTags[0], or the layout's ref.name
  // annotation when it is a full reference); InvalidArgument when there is none.
  Result<Image> Import(const std::filesystem::path& path, std::string_view reference);

  // Every tagged image.
  Result<std::vector<Image>> List();

  // Untags `reference`; its blobs and layers stay until Prune. NotFound when it is not tagged.
  Status Remove(std::string_view reference);

  // Removes every blob and layer no tagged image references, except the layer directories in
  // `layers_in_use` (those of running jobs), and leftovers in tmp/.
  Result<PruneReport> Prune(const std::vector<std::filesystem::path>& layers_in_use);

  // Sets where EnsureImage pulls from. Call before the first EnsureImage.
  void ConfigureRegistries(RegistryOptions opts);

  // The image `reference` names: from the store, or else pulled from its registry. Concurrent
  // callers for the same reference share one pull. A failed pull is FailedPrecondition when
  // retrying cannot help (unknown manifest or tag, denied, digest mismatch, bad layer,
  // unsupported media type) and Unavailable when it may (unreachable registry, 5xx); both
  // messages start with "ImagePullFailed: ".
  Result<Image> EnsureImage(std::string_view reference, const PullProgress& progress = nullptr);

  // --- For ImagePuller. ---

  // Starts a pull: takes the shared hold and makes a staging dir.
  Result<std::unique_ptr<PullStaging>> BeginPull();
  // Whether the layer with this blob digest is already unpacked in the store.
  bool HasLayer(std::string_view digest) const;
  // Publishes the staged layers and documents and tags the image, all or (for the tag) nothing.
  Result<Image> CommitPull(PullStaging& staging, const PulledImage& pulled);

 private:
  Result<Image> ImportLayoutLocked(const std::filesystem::path& layout_dir,
                                   std::string_view reference);
  Result<Image> ImportTarball(const std::filesystem::path& tarball, std::string_view reference);

  std::filesystem::path root_;
  Mutex mu_;       // serializes imports, removals and prunes in this process
  Mutex refs_mu_;  // serializes refs.json and document writes in this process
  Mutex puller_mu_;
  std::unique_ptr<ImagePuller> puller_ GUARDED_BY(puller_mu_);  // ; made on first use
  RegistryOptions registry_options_ GUARDED_BY(puller_mu_);
};

}  // namespace berth
