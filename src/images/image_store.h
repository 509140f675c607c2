// ImageStore: OCI images kept on local disk, content-addressed.
//
// Layout under root: blobs/sha256/<hex> (manifests, configs, compressed layers as received),
// layers/<hex of the layer blob>/ (each layer unpacked once, shared by every image that uses it),
// refs.json (normalized reference -> manifest digest), written atomically.
// Thread-safe; imports also take an flock on <root>/lock so several processes can share a root.
// Unpacking overlay whiteouts needs root (CAP_MKNOD, CAP_SYS_ADMIN).
#pragma once

#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

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

class ImageStore {
 public:
  explicit ImageStore(std::filesystem::path root);

  // Creates the directory layout if missing and removes leftovers of crashed imports.
  Status Init();

  // Imports an OCI image layout directory (oci-layout, index.json, blobs/) and tags it as
  // `reference`. Every blob is sha256-verified; layers are unpacked (gzip, zstd or plain tar) with
  // path-escape protection. Nothing half-written is left on failure.
  Result<Image> ImportLayout(const std::filesystem::path& layout_dir, std::string_view reference);

  // The image a reference names ("busybox", "busybox:latest",
  // "docker.io/library/busybox:latest" are one). NotFound when it is not in the store.
  Result<Image> Resolve(std::string_view reference);

  // Every tagged image.
  Result<std::vector<Image>> List();

 private:
  std::filesystem::path root_;
  std::mutex mu_;  // serializes imports and refs.json updates
};

}  // namespace berth
