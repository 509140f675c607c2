// RegistryOptions: where and how images are pulled from (the daemon fills them from the
// DefaultRegistry, RegistryMirrors, InsecureRegistries, RegistryAuthFile, AllowedRegistries,
// ImagePullMaxBytes and ImagePullTimeoutSeconds settings).
// A plain value.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace berth {

struct RegistryOptions {
  // Where names without a registry ("busybox", "library/python") are fetched from. They keep
  // their Docker Hub names in the store ("docker.io/library/busybox:latest"); the default
  // registry only says which server serves them, with the same repository path.
  std::string default_registry = "docker.io";
  // Tried in order, before the default registry, for names without a registry.
  std::vector<std::string> mirrors;
  // host[:port] entries spoken to over plain HTTP (loopback and lab registries).
  std::vector<std::string> insecure;
  // The only registries (host[:port] as in references, or "*.example.com") pulls may use;
  // empty = any. Checked before anything is sent, so a key holder cannot make the daemon
  // connect elsewhere. Docker Hub names count as "docker.io".
  std::vector<std::string> allowed;
  // A pull fails once its layers are larger than this, compressed (as the manifest declares
  // them) or unpacked (data plus 512 bytes per entry): a decompression bomb stops here.
  int64_t max_image_bytes = int64_t{16} << 30;
  // A whole pull (every request, retries and backoff included) must end within this long,
  // so a registry trickling bytes cannot hold a starter thread.
  std::chrono::seconds pull_timeout{1800};
  // A Docker config.json whose "auths" map hosts to credentials; empty = anonymous.
  std::filesystem::path auth_file;
  // Layers downloaded at once per pull.
  int max_concurrent_downloads = 4;
  // Attempts per request on a transient error (connection, 5xx, 429, broken transfer), with
  // backoff doubling from `retry_backoff` between them.
  int max_attempts = 3;
  std::chrono::milliseconds retry_backoff{200};
  // A connection must be made within this long.
  std::chrono::seconds connect_timeout{15};
  // A transfer slower than 1 KiB/s for this long is broken (and retried).
  std::chrono::seconds stall_timeout{30};
};

// Splits a comma-separated setting into trimmed, non-empty entries.
inline std::vector<std::string> SplitRegistryList(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.erase(0, 1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.pop_back();
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

// Whether `registry` (host[:port]) is in `allowed` (exact, case-insensitive, or "*.domain"
// for any host under domain); an empty list allows every registry.
bool RegistryAllowed(std::string_view registry, const std::vector<std::string>& allowed);

}  // namespace berth
