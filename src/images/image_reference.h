// ImageReference: a parsed image name such as "busybox", "ghcr.io/org/app:1.2" or
// "localhost:5000/app@sha256:<hex>".
//
// Follows the docker distribution reference grammar: an optional registry (a host name with
// a '.' or ':' in it, or "localhost", optionally with a port), a repository of lowercase path
// components, an optional tag and an optional sha256 digest. Docker Hub ("docker.io") is the
// default registry, where single-component names live under "library/"; the default tag is
// "latest" when neither a tag nor a digest is given. Plain values; thread-compatible.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace berth {

inline constexpr std::string_view kDefaultRegistry = "docker.io";
inline constexpr std::string_view kDefaultTag = "latest";

struct ImageReference {
  std::string registry;    // "docker.io", "ghcr.io", "localhost:5000"
  std::string repository;  // "library/busybox"
  std::string tag;         // "latest"; empty only when a digest pins the image
  std::string digest;      // "sha256:<64 hex>", or empty

  // "registry/repository", e.g. "docker.io/library/busybox".
  std::string Name() const;

  // The normalized form: "docker.io/library/busybox:latest", with "@sha256:..." when pinned.
  std::string ToString() const;
};

// Parses `[registry[:port]/]repository[:tag][@sha256:digest]`. InvalidArgument naming the bad
// part when the text is not a valid reference.
Result<ImageReference> ParseImageReference(std::string_view text);

}  // namespace berth
