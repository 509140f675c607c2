#include "images/oci_image.h"

#include <nlohmann/json.hpp>

#include "images/digest.h"

namespace berth {
namespace {

using Json = nlohmann::json;

Result<Json> ParseJson(std::string_view text, std::string_view what) {
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument(std::string(what) + " is not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument(std::string(what) + " is not a JSON object");
  return doc;
}

// The string at obj[key]; empty when absent or null, an error when of another type.
Result<std::string> OptionalString(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Status::InvalidArgument(std::string(key) + " must be a string");
  return it->get<std::string>();
}

// The array of strings at obj[key]; empty when absent or null.
Result<std::vector<std::string>> OptionalStrings(const Json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) return Status::InvalidArgument(std::string(key) + " must be an array");
  for (const Json& item : *it) {
    if (!item.is_string()) {
      return Status::InvalidArgument(std::string(key) + " must hold only strings");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<Descriptor> ParseDescriptor(const Json& obj) {
  if (!obj.is_object()) return Status::InvalidArgument("descriptor is not an object");
  Descriptor d;
  ASSIGN_OR_RETURN(d.media_type, OptionalString(obj, "mediaType"));
  ASSIGN_OR_RETURN(d.digest, OptionalString(obj, "digest"));
  RETURN_IF_ERROR(Sha256DigestHex(d.digest).status());
  auto size = obj.find("size");
  if (size == obj.end() || !size->is_number_integer() || size->get<int64_t>() < 0) {
    return Status::InvalidArgument("descriptor " + d.digest + " has no valid size");
  }
  d.size = size->get<int64_t>();
  if (auto platform = obj.find("platform"); platform != obj.end() && platform->is_object()) {
    ASSIGN_OR_RETURN(d.os, OptionalString(*platform, "os"));
    ASSIGN_OR_RETURN(d.architecture, OptionalString(*platform, "architecture"));
  }
  if (auto notes = obj.find("annotations"); notes != obj.end() && notes->is_object()) {
    ASSIGN_OR_RETURN(d.ref_name, OptionalString(*notes, std::string(kRefNameAnnotation).c_str()));
  }
  return d;
}

Result<ImageConfig> ParseRunConfig(const Json& obj) {
  ImageConfig c;
  if (!obj.is_object()) return c;  // "config" may be absent or null
  ASSIGN_OR_RETURN(c.entrypoint, OptionalStrings(obj, "Entrypoint"));
  ASSIGN_OR_RETURN(c.cmd, OptionalStrings(obj, "Cmd"));
  ASSIGN_OR_RETURN(c.env, OptionalStrings(obj, "Env"));
  ASSIGN_OR_RETURN(c.working_dir, OptionalString(obj, "WorkingDir"));
  ASSIGN_OR_RETURN(c.user, OptionalString(obj, "User"));
  return c;
}

}  // namespace

DocumentKind KindOfMediaType(std::string_view media_type) {
  if (media_type == kOciIndexMediaType || media_type == kDockerManifestListMediaType) {
    return DocumentKind::kIndex;
  }
  if (media_type == kOciManifestMediaType || media_type == kDockerManifestMediaType) {
    return DocumentKind::kManifest;
  }
  return DocumentKind::kUnknown;
}

DocumentKind KindOfDocument(std::string_view json) {
  Json doc = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return DocumentKind::kUnknown;
  if (auto mt = doc.find("mediaType"); mt != doc.end() && mt->is_string()) {
    DocumentKind kind = KindOfMediaType(mt->get<std::string>());
    if (kind != DocumentKind::kUnknown) return kind;
  }
  if (doc.contains("manifests")) return DocumentKind::kIndex;
  if (doc.contains("layers") && doc.contains("config")) return DocumentKind::kManifest;
  return DocumentKind::kUnknown;
}

bool IsLayerMediaType(std::string_view media_type) {
  for (std::string_view prefix : {"application/vnd.oci.image.layer.v1.tar",
                                  "application/vnd.oci.image.layer.nondistributable.v1.tar"}) {
    if (media_type.substr(0, prefix.size()) == prefix) {
      std::string_view rest = media_type.substr(prefix.size());
      return rest.empty() || rest == "+gzip" || rest == "+zstd";
    }
  }
  return media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip" ||
         media_type == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}

Result<std::vector<Descriptor>> ParseIndex(std::string_view json) {
  try {
    ASSIGN_OR_RETURN(Json doc, ParseJson(json, "index"));
    auto manifests = doc.find("manifests");
    if (manifests == doc.end() || !manifests->is_array()) {
      return Status::InvalidArgument("index has no manifests array");
    }
    std::vector<Descriptor> out;
    for (const Json& entry : *manifests) {
      ASSIGN_OR_RETURN(Descriptor d, ParseDescriptor(entry));
      out.push_back(std::move(d));
    }
    return out;
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("index: ") + e.what());
  }
}

Result<ImageManifest> ParseManifest(std::string_view json) {
  try {
    ASSIGN_OR_RETURN(Json doc, ParseJson(json, "manifest"));
    auto config = doc.find("config");
    auto layers = doc.find("layers");
    if (config == doc.end() || layers == doc.end() || !layers->is_array()) {
      return Status::InvalidArgument("manifest needs a config descriptor and a layers array");
    }
    ImageManifest m;
    ASSIGN_OR_RETURN(m.config, ParseDescriptor(*config));
    for (const Json& entry : *layers) {
      ASSIGN_OR_RETURN(Descriptor d, ParseDescriptor(entry));
      m.layers.push_back(std::move(d));
    }
    return m;
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("manifest: ") + e.what());
  }
}

Result<OciConfig> ParseConfig(std::string_view json) {
  try {
    ASSIGN_OR_RETURN(Json doc, ParseJson(json, "image config"));
    OciConfig c;
    ASSIGN_OR_RETURN(c.os, OptionalString(doc, "os"));
    ASSIGN_OR_RETURN(c.architecture, OptionalString(doc, "architecture"));
    if (auto run = doc.find("config"); run != doc.end()) {
      ASSIGN_OR_RETURN(c.config, ParseRunConfig(*run));
    }
    if (auto rootfs = doc.find("rootfs"); rootfs != doc.end() && rootfs->is_object()) {
      ASSIGN_OR_RETURN(c.diff_ids, OptionalStrings(*rootfs, "diff_ids"));
    }
    return c;
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("image config: ") + e.what());
  }
}

Result<Descriptor> SelectPlatform(const std::vector<Descriptor>& entries) {
  const Descriptor* fallback = nullptr;
  std::string seen;
  for (const Descriptor& d : entries) {
    if (d.os == "linux" && d.architecture == HostArchitecture()) return d;
    if (d.os.empty() && d.architecture.empty() && fallback == nullptr) fallback = &d;
    if (!d.os.empty()) seen += " " + d.os + "/" + d.architecture;
  }
  if (fallback != nullptr) return *fallback;
  if (entries.empty()) return Status::NotFound("the index lists no manifests");
  return Status::FailedPrecondition("no manifest for linux/" + std::string(HostArchitecture()) +
                                    " (found:" + seen + ")");
}

Status CheckImageConfig(std::string_view config_json, const ImageManifest& manifest) {
  ASSIGN_OR_RETURN(OciConfig config, ParseConfig(config_json));
  if (!config.os.empty() && config.os != "linux") {
    return Status::FailedPrecondition("image is for os \"" + config.os + "\", not linux");
  }
  if (!config.architecture.empty() && config.architecture != HostArchitecture()) {
    return Status::FailedPrecondition("image is for " + config.architecture + ", this host is " +
                                      std::string(HostArchitecture()));
  }
  if (!config.diff_ids.empty() && config.diff_ids.size() != manifest.layers.size()) {
    return Status::InvalidArgument("config lists " + std::to_string(config.diff_ids.size()) +
                                   " diff_ids for " + std::to_string(manifest.layers.size()) +
                                   " layers");
  }
  for (const Descriptor& layer : manifest.layers) {
    if (!IsLayerMediaType(layer.media_type)) {
      return Status::FailedPrecondition("layer " + layer.digest + " has unsupported media type \"" +
                                        layer.media_type + "\"");
    }
  }
  return Status::Ok();
}

std::string_view HostArchitecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__i386__)
  return "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "unknown";
#endif
}

}  // namespace berth
