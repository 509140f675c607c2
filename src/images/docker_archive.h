// Docker archives: turns an unpacked `docker save` tarball into an OCI image layout in place, so
// that it imports like any layout.
//
// A `docker save` archive holds manifest.json ([{"Config", "RepoTags", "Layers"}]), the config
// and one uncompressed tar per layer (at "<id>/layer.tar", or "blobs/sha256/<hex>" in newer
// Dockers, which also add an OCI index). Stateless; safe to call from any thread.
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"

namespace berth {

// If `dir` holds a docker-save manifest.json, writes blobs/sha256/, a manifest, index.json and
// oci-layout for its first image and returns that image's first RepoTag ("" when untagged).
// If `dir` is already an OCI layout, changes nothing and returns "". InvalidArgument when it
// is neither, or when a path in manifest.json leaves `dir`.
Result<std::string> ArchiveToLayout(const std::filesystem::path& dir);

}  // namespace berth
