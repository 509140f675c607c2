#include "images/docker_archive.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

#include "common/files.h"
#include "images/digest.h"
#include "images/oci_image.h"

namespace berth {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr std::string_view kPlainLayerMediaType = "application/vnd.oci.image.layer.v1.tar";
constexpr std::string_view kConfigMediaType = "application/vnd.oci.image.config.v1+json";

// `relative` resolved inside `dir` (following symlinks), refusing anything that leaves it.
Result<fs::path> Inside(const fs::path& dir, const std::string& relative) {
  std::error_code ec;
  fs::path base = fs::canonical(dir, ec);
  if (ec) return ErrnoStatus("resolve " + dir.string(), ec.value());
  fs::path resolved = fs::weakly_canonical(base / relative, ec);
  if (ec) return ErrnoStatus("resolve " + relative, ec.value());
  auto [b, r] = std::mismatch(base.begin(), base.end(), resolved.begin(), resolved.end());
  if (b != base.end() || !fs::is_regular_file(resolved, ec)) {
    return Status::InvalidArgument("docker archive: \"" + relative +
                                   "\" is not a file inside the archive");
  }
  return resolved;
}

// Moves (or keeps) a file under blobs/sha256/<its digest>; returns its descriptor.
Result<Json> AddBlob(const fs::path& dir, const fs::path& file, std::string_view media_type) {
  ASSIGN_OR_RETURN(std::string hex, Sha256OfFile(file));
  std::error_code ec;
  fs::path blob = dir / "blobs" / "sha256" / hex;
  int64_t size = static_cast<int64_t>(fs::file_size(file, ec));
  if (ec) return ErrnoStatus("stat " + file.string(), ec.value());
  if (!fs::exists(blob, ec)) {
    fs::copy_file(file, blob, ec);  // a layer file may be shared by several entries
    if (ec) return ErrnoStatus("copy " + file.string(), ec.value());
  }
  return Json{{"mediaType", media_type}, {"digest", "sha256:" + hex}, {"size", size}};
}

Result<Json> ReadManifestList(const fs::path& dir) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(dir / "manifest.json"));
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_array() || doc.empty() || !doc[0].is_object()) {
    return Status::InvalidArgument("docker archive: manifest.json is not a non-empty array");
  }
  const Json& first = doc[0];
  if (!first.contains("Config") || !first["Config"].is_string() || !first.contains("Layers") ||
      !first["Layers"].is_array()) {
    return Status::InvalidArgument("docker archive: manifest.json needs Config and Layers");
  }
  return first;
}

}  // namespace

Result<std::string> ArchiveToLayout(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / "manifest.json", ec)) {
    if (fs::exists(dir / kOciLayoutFile, ec)) return std::string();
    return Status::InvalidArgument(
        "not a docker-save archive (no manifest.json) nor an OCI layout (no oci-layout)");
  }
  try {
    ASSIGN_OR_RETURN(Json entry, ReadManifestList(dir));
    RETURN_IF_ERROR(MakeDirs(dir / "blobs" / "sha256"));
    ASSIGN_OR_RETURN(fs::path config_file, Inside(dir, entry["Config"].get<std::string>()));
    ASSIGN_OR_RETURN(Json config, AddBlob(dir, config_file, kConfigMediaType));
    Json layers = Json::array();
    for (const Json& layer : entry["Layers"]) {
      if (!layer.is_string()) return Status::InvalidArgument("docker archive: bad Layers entry");
      ASSIGN_OR_RETURN(fs::path file, Inside(dir, layer.get<std::string>()));
      ASSIGN_OR_RETURN(Json desc, AddBlob(dir, file, kPlainLayerMediaType));
      layers.push_back(std::move(desc));
    }
    Json manifest = {{"schemaVersion", 2},
                     {"mediaType", kOciManifestMediaType},
                     {"config", config},
                     {"layers", layers}};
    std::string bytes = manifest.dump();
    std::string hex = Sha256Hex(bytes);
    RETURN_IF_ERROR(WriteFileAtomic(dir / "blobs" / "sha256" / hex, bytes));
    Json index = {{"schemaVersion", 2},
                  {"mediaType", kOciIndexMediaType},
                  {"manifests",
                   {{{"mediaType", kOciManifestMediaType},
                     {"digest", "sha256:" + hex},
                     {"size", bytes.size()}}}}};
    RETURN_IF_ERROR(WriteFileAtomic(dir / "index.json", index.dump()));
    RETURN_IF_ERROR(WriteFileAtomic(dir / kOciLayoutFile, R"({"imageLayoutVersion":"1.0.0"})"));
    auto tags = entry.find("RepoTags");
    if (tags != entry.end() && tags->is_array() && !tags->empty() && (*tags)[0].is_string()) {
      return (*tags)[0].get<std::string>();
    }
    return std::string();
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("docker archive: ") + e.what());
  }
}

}  // namespace berth
