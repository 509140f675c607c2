#include "images/image_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "common/files.h"
#include "images/digest.h"
#include "images/image_reference.h"
#include "images/layer_unpacker.h"
#include "images/oci_image.h"

namespace berth {
namespace {

namespace fs = std::filesystem;
using RefMap = std::map<std::string, std::string>;  // normalized reference -> manifest digest

constexpr int64_t kMaxDocumentSize = 16 << 20;  // manifests, indexes and configs
constexpr int kMaxIndexDepth = 4;

fs::path BlobsDir(const fs::path& root) { return root / "blobs" / "sha256"; }
fs::path LayersDir(const fs::path& root) { return root / "layers"; }
fs::path TmpDir(const fs::path& root) { return root / "tmp"; }
fs::path RefsFile(const fs::path& root) { return root / "refs.json"; }

// "sha256:<hex>" -> dir/<hex>; the digest's syntax was checked when it was parsed.
fs::path ByDigest(const fs::path& dir, std::string_view digest) {
  return dir / std::string(digest.substr(digest.find(':') + 1));
}

bool Exists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path, ec));
}

Status EnsureDirs(const fs::path& root) {
  RETURN_IF_ERROR(MakeDirs(BlobsDir(root)));
  RETURN_IF_ERROR(MakeDirs(LayersDir(root)));
  return MakeDirs(TmpDir(root), 0700);
}

// An exclusive flock on <root>/lock: imports from several processes do not interleave.
class StoreLock {
 public:
  static Result<StoreLock> Acquire(const fs::path& root) {
    fs::path path = root / "lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("open " + path.string(), errno);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoStatus("lock " + path.string(), err);
    }
    return StoreLock(fd);
  }
  StoreLock(StoreLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  StoreLock& operator=(StoreLock&&) = delete;
  ~StoreLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }

 private:
  explicit StoreLock(int fd) : fd_(fd) {}
  int fd_;
};

// Paths an import created; removed again unless the import commits.
class Rollback {
 public:
  Rollback() = default;
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  ~Rollback() {
    for (const fs::path& path : paths_) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
  void Add(fs::path path) { paths_.push_back(std::move(path)); }
  void Commit() { paths_.clear(); }

 private:
  std::vector<fs::path> paths_;
};

// What an OCI layout holds for one image, read and verified but not yet stored.
struct LayoutImage {
  std::string manifest_digest;
  ImageManifest manifest;
  std::vector<std::pair<std::string, std::string>> documents;  // digest, bytes
};

Result<std::string> ReadLayoutDocument(const fs::path& layout, const Descriptor& d) {
  return ReadVerifiedBlob(ByDigest(layout / "blobs" / "sha256", d.digest), d.digest, d.size,
                          kMaxDocumentSize);
}

bool PlatformMatches(const Descriptor& d) {
  return d.os == "linux" && d.architecture == HostArchitecture();
}

bool NameMatches(const Descriptor& d, const ImageReference& ref) {
  return !d.ref_name.empty() && (d.ref_name == ref.tag || d.ref_name == ref.ToString());
}

// Picks one entry of an index: by ref.name annotation in the layout's top index, then by
// platform (linux and the host's architecture).
Result<Descriptor> SelectEntry(const std::vector<Descriptor>& entries, const ImageReference& ref,
                               bool top_level) {
  std::vector<const Descriptor*> pool;
  for (const Descriptor& d : entries) pool.push_back(&d);
  if (top_level && pool.size() > 1) {
    std::vector<const Descriptor*> named;
    for (const Descriptor* d : pool) {
      if (NameMatches(*d, ref)) named.push_back(d);
    }
    if (!named.empty()) pool = named;
  }
  const Descriptor* fallback = nullptr;
  std::string seen;
  for (const Descriptor* d : pool) {
    if (PlatformMatches(*d)) return *d;
    if (d->os.empty() && d->architecture.empty() && fallback == nullptr) fallback = d;
    if (!d->os.empty()) seen += " " + d->os + "/" + d->architecture;
  }
  if (fallback != nullptr) return *fallback;
  if (pool.empty()) return Status::NotFound("the index lists no manifests");
  return Status::FailedPrecondition("no manifest for linux/" + std::string(HostArchitecture()) +
                                    " (found:" + seen + ")");
}

Status CheckConfig(const std::string& config_json, const ImageManifest& manifest) {
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

// Reads index.json and follows it (through nested indexes) to one image manifest and config.
Result<LayoutImage> ReadLayout(const fs::path& layout, const ImageReference& ref) {
  if (!Exists(layout / kOciLayoutFile)) {
    return Status::InvalidArgument(layout.string() + " is not an OCI image layout (no oci-layout)");
  }
  ASSIGN_OR_RETURN(std::string index_json, ReadFile(layout / "index.json"));
  ASSIGN_OR_RETURN(std::vector<Descriptor> entries, ParseIndex(index_json));
  ASSIGN_OR_RETURN(Descriptor current, SelectEntry(entries, ref, /*top_level=*/true));
  LayoutImage image;
  for (int depth = 0; depth < kMaxIndexDepth; ++depth) {
    ASSIGN_OR_RETURN(std::string doc, ReadLayoutDocument(layout, current));
    image.documents.emplace_back(current.digest, doc);
    DocumentKind kind = KindOfMediaType(current.media_type);
    if (kind == DocumentKind::kUnknown) kind = KindOfDocument(doc);
    if (kind == DocumentKind::kIndex) {
      ASSIGN_OR_RETURN(entries, ParseIndex(doc));
      ASSIGN_OR_RETURN(current, SelectEntry(entries, ref, /*top_level=*/false));
      continue;
    }
    if (kind != DocumentKind::kManifest) {
      return Status::FailedPrecondition(current.digest + " is neither an image manifest nor an " +
                                        "index (media type \"" + current.media_type + "\")");
    }
    image.manifest_digest = current.digest;
    ASSIGN_OR_RETURN(image.manifest, ParseManifest(doc));
    ASSIGN_OR_RETURN(std::string config_json, ReadLayoutDocument(layout, image.manifest.config));
    RETURN_IF_ERROR(CheckConfig(config_json, image.manifest));
    image.documents.emplace_back(image.manifest.config.digest, std::move(config_json));
    return image;
  }
  return Status::InvalidArgument("indexes nest deeper than " + std::to_string(kMaxIndexDepth));
}

Status StoreDocument(const fs::path& root, const std::string& digest, const std::string& bytes,
                     Rollback& rollback) {
  fs::path path = ByDigest(BlobsDir(root), digest);
  if (Exists(path)) return Status::Ok();
  RETURN_IF_ERROR(WriteFileAtomic(path, bytes));
  rollback.Add(path);
  return Status::Ok();
}

Status StoreLayerBlob(const fs::path& root, const fs::path& layout, const Descriptor& layer,
                      Rollback& rollback) {
  fs::path path = ByDigest(BlobsDir(root), layer.digest);
  if (Exists(path)) return Status::Ok();  // verified when it was stored
  RETURN_IF_ERROR(CopyVerifiedBlob(ByDigest(layout / "blobs" / "sha256", layer.digest), path,
                                   layer.digest, layer.size));
  rollback.Add(path);
  return Status::Ok();
}

// Flushes everything written under `dir`'s file system, so a rename published after it is
// never seen with missing contents after a crash.
Status SyncFileSystem(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + dir.string(), errno);
  int rc = ::syncfs(fd);
  int err = errno;
  ::close(fd);
  return rc == 0 ? Status::Ok() : ErrnoStatus("syncfs " + dir.string(), err);
}

// Unpacks a stored layer blob into layers/<hex>/ via a temp dir, unless it is already there.
Status UnpackLayerOnce(const fs::path& root, const Descriptor& layer, Rollback& rollback) {
  fs::path dest = ByDigest(LayersDir(root), layer.digest);
  if (Exists(dest)) return Status::Ok();  // layers are shared between images
  std::string tmp = (TmpDir(root) / "layer-XXXXXX").string();
  if (::mkdtemp(tmp.data()) == nullptr) return ErrnoStatus("mkdtemp " + tmp, errno);
  Rollback cleanup_tmp;
  cleanup_tmp.Add(tmp);
  if (::chmod(tmp.c_str(), 0755) != 0) return ErrnoStatus("chmod " + tmp, errno);
  RETURN_IF_ERROR(UnpackLayer(ByDigest(BlobsDir(root), layer.digest), tmp));
  RETURN_IF_ERROR(SyncFileSystem(tmp));
  if (::rename(tmp.c_str(), dest.c_str()) != 0) return ErrnoStatus("rename " + tmp, errno);
  cleanup_tmp.Commit();
  rollback.Add(dest);
  return SyncDir(LayersDir(root));
}

Result<RefMap> ReadRefs(const fs::path& root) {
  Result<std::string> text = ReadFile(RefsFile(root));
  if (!text.ok() && text.status().IsNotFound()) return RefMap();
  if (!text.ok()) return text.status();
  try {
    nlohmann::json doc = nlohmann::json::parse(*text);
    if (!doc.is_object()) return Status::Internal(RefsFile(root).string() + " is not an object");
    return doc.get<RefMap>();
  } catch (const nlohmann::json::exception& e) {
    return Status::Internal(RefsFile(root).string() + " is corrupt: " + e.what());
  }
}

Status SetRef(const fs::path& root, const std::string& reference, const std::string& digest) {
  ASSIGN_OR_RETURN(RefMap refs, ReadRefs(root));
  refs[reference] = digest;
  return WriteFileAtomic(RefsFile(root), nlohmann::json(refs).dump(2) + "\n");
}

// Builds the Image for a stored manifest from the blobs and layer dirs on disk.
Result<Image> LoadImage(const fs::path& root, const std::string& reference,
                        const std::string& digest) {
  RETURN_IF_ERROR(Sha256DigestHex(digest).status());
  ASSIGN_OR_RETURN(std::string manifest_json, ReadFile(ByDigest(BlobsDir(root), digest)));
  ASSIGN_OR_RETURN(ImageManifest manifest, ParseManifest(manifest_json));
  ASSIGN_OR_RETURN(std::string config_json,
                   ReadFile(ByDigest(BlobsDir(root), manifest.config.digest)));
  ASSIGN_OR_RETURN(OciConfig config, ParseConfig(config_json));
  Image image;
  image.reference = reference;
  image.manifest_digest = digest;
  image.config = std::move(config.config);
  for (const Descriptor& layer : manifest.layers) {
    fs::path dir = ByDigest(LayersDir(root), layer.digest);
    if (!Exists(dir)) {
      return Status::FailedPrecondition("layer " + layer.digest + " of " + reference +
                                        " is missing from the store; import the image again");
    }
    image.layer_dirs.push_back(std::move(dir));
    image.size_bytes += static_cast<uint64_t>(layer.size);
  }
  return image;
}

}  // namespace

ImageStore::ImageStore(std::filesystem::path root) : root_(std::move(root)) {}

Status ImageStore::Init() {
  std::lock_guard<std::mutex> guard(mu_);
  RETURN_IF_ERROR(EnsureDirs(root_));
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(root_));
  // Leftovers of imports that crashed: nobody else is importing while we hold the lock.
  std::error_code ec;
  for (auto it = fs::directory_iterator(TmpDir(root_), ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::error_code ignored;
    fs::remove_all(it->path(), ignored);
  }
  if (ec) return ErrnoStatus("list " + TmpDir(root_).string(), ec.value());
  return Status::Ok();
}

Result<Image> ImageStore::ImportLayout(const std::filesystem::path& layout_dir,
                                       std::string_view reference) {
  ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference(reference));
  const std::string key = ref.ToString();
  std::lock_guard<std::mutex> guard(mu_);
  RETURN_IF_ERROR(EnsureDirs(root_));
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(root_));
  const std::string context = "import " + layout_dir.string() + " as " + key;
  Result<LayoutImage> found = ReadLayout(layout_dir, ref);
  if (!found.ok()) return found.status().WithContext(context);
  Rollback rollback;  // declared after `lock`: undone while the lock is still held
  Status st;
  for (const Descriptor& layer : found->manifest.layers) {
    if (st.ok()) st = StoreLayerBlob(root_, layout_dir, layer, rollback);
  }
  for (const auto& [digest, bytes] : found->documents) {
    if (st.ok()) st = StoreDocument(root_, digest, bytes, rollback);
  }
  for (const Descriptor& layer : found->manifest.layers) {
    if (st.ok()) st = UnpackLayerOnce(root_, layer, rollback);
  }
  if (st.ok()) st = SetRef(root_, key, found->manifest_digest);
  if (!st.ok()) return st.WithContext(context);
  rollback.Commit();
  return LoadImage(root_, key, found->manifest_digest);
}

Result<Image> ImageStore::Resolve(std::string_view reference) {
  ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference(reference));
  const std::string key = ref.ToString();
  ASSIGN_OR_RETURN(RefMap refs, ReadRefs(root_));
  if (auto it = refs.find(key); it != refs.end()) return LoadImage(root_, key, it->second);
  if (!ref.digest.empty()) {
    // A pinned reference also matches any tag of the same repository with that manifest.
    for (const auto& [stored, digest] : refs) {
      Result<ImageReference> other = ParseImageReference(stored);
      if (digest == ref.digest && other.ok() && other->Name() == ref.Name()) {
        return LoadImage(root_, key, digest);
      }
    }
  }
  return Status::NotFound("image " + key + " is not in the store");
}

Result<std::vector<Image>> ImageStore::List() {
  ASSIGN_OR_RETURN(RefMap refs, ReadRefs(root_));
  std::vector<Image> images;
  for (const auto& [reference, digest] : refs) {
    ASSIGN_OR_RETURN(Image image, LoadImage(root_, reference, digest));
    images.push_back(std::move(image));
  }
  return images;
}

}  // namespace berth
