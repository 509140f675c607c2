// OCI image documents: descriptors, indexes (and Docker manifest lists), image manifests and
// image configs, parsed from JSON into plain structs.
//
// Parsing only checks shape and digest syntax; fetching and verifying the bytes is the
// caller's job (see digest.h). Docker schema 2 media types are accepted beside the OCI ones.
// Pure functions; safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "images/image_store.h"

namespace berth {

inline constexpr std::string_view kOciLayoutFile = "oci-layout";
inline constexpr std::string_view kOciIndexMediaType = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifestMediaType =
    "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kDockerManifestListMediaType =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifestMediaType =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";

// A pointer to a blob: what it is, its digest and its size, plus platform and name hints.
struct Descriptor {
  std::string media_type;  // may be empty in an index entry that omits it
  std::string digest;      // "sha256:<hex>", syntax already checked
  int64_t size = 0;
  std::string os;            // platform.os, if given
  std::string architecture;  // platform.architecture, if given
  std::string ref_name;      // the org.opencontainers.image.ref.name annotation, if given
};

struct ImageManifest {
  Descriptor config;
  std::vector<Descriptor> layers;  // bottom first
};

// The parts of an image config berth uses.
struct OciConfig {
  ImageConfig config;
  std::string os;
  std::string architecture;
  std::vector<std::string> diff_ids;
};

enum class DocumentKind { kIndex, kManifest, kUnknown };

// Whether a media type names an index/manifest list or an image manifest.
DocumentKind KindOfMediaType(std::string_view media_type);

// Whether a JSON document is an index or a manifest, by its mediaType or else by its shape.
DocumentKind KindOfDocument(std::string_view json);

// Whether `media_type` is a layer berth can unpack (tar, tar+gzip, tar+zstd; OCI or Docker).
bool IsLayerMediaType(std::string_view media_type);

// The entries of an OCI index (index.json or a nested index) or Docker manifest list.
Result<std::vector<Descriptor>> ParseIndex(std::string_view json);

// An OCI image manifest or Docker schema 2 manifest.
Result<ImageManifest> ParseManifest(std::string_view json);

// An OCI image config: the `config` object, os, architecture and rootfs.diff_ids.
Result<OciConfig> ParseConfig(std::string_view json);

// The entry of an index for linux and the host's architecture (or the first entry without a
// platform). FailedPrecondition naming the platforms found when none fits.
Result<Descriptor> SelectPlatform(const std::vector<Descriptor>& entries);

// Checks that an image config is for linux on this host's architecture, agrees with the
// manifest's layer count, and that every layer has a media type berth can unpack.
// FailedPrecondition (unsupported platform or media type) or InvalidArgument (inconsistent).
Status CheckImageConfig(std::string_view config_json, const ImageManifest& manifest);

// The OCI architecture name of the machine berth was built for ("amd64", "arm64", ...).
std::string_view HostArchitecture();

}  // namespace berth
