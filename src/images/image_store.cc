#include "images/image_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>
#include <utility>

#include "common/files.h"
#include "images/digest.h"
#include "images/docker_archive.h"
#include "images/image_puller.h"
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

// An flock on a file of the store: exclusive on <root>/lock for imports, removals and prunes,
// shared for pulls; exclusive on <root>/refs.lock for refs.json changes.
class StoreLock {
 public:
  static Result<StoreLock> Acquire(const fs::path& path, int operation = LOCK_EX) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) return ErrnoStatus("open " + path.string(), errno);
    while (::flock(fd.get(), operation) != 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("lock " + path.string(), errno);
    }
    return StoreLock(std::move(fd));
  }
  // Hands the descriptor (and the lock) to the caller.
  int Release() { return fd_.Release(); }

 private:
  explicit StoreLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing it releases the lock
};

fs::path LockFile(const fs::path& root) { return root / "lock"; }
fs::path RefsLockFile(const fs::path& root) { return root / "refs.lock"; }

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

// Whether an index.json entry is the one `ref` asks for: its ref.name annotation is the tag
// ("v1", as skopeo and umoci write it) or the whole reference, or names a reference with the
// same tag; a pinned reference matches by digest.
bool NameMatches(const Descriptor& d, const ImageReference& ref) {
  if (!ref.digest.empty()) return d.digest == ref.digest;
  if (d.ref_name.empty()) return false;
  if (d.ref_name == ref.tag || d.ref_name == ref.ToString()) return true;
  Result<ImageReference> named = ParseImageReference(d.ref_name);
  return named.ok() && d.ref_name.find(':') != std::string::npos && named->tag == ref.tag;
}

// "v1, v2, example.com/app:v3": the names a layout's entries carry, for error messages.
std::string ListNames(const std::vector<Descriptor>& entries) {
  std::string out;
  for (const Descriptor& d : entries) {
    if (!out.empty()) out += ", ";
    out += d.ref_name.empty() ? "(untagged " + d.digest + ")" : d.ref_name;
  }
  return out;
}

// Picks the image `ref` names among a layout's index.json entries. With several, the tag (the
// ref.name annotation) decides, never the order: no match is an error listing the tags. Several
// entries with no tags at all must be platforms of one image.
Result<Descriptor> SelectTopEntry(const std::vector<Descriptor>& entries,
                                  const ImageReference& ref) {
  if (entries.size() <= 1) return SelectPlatform(entries);
  std::vector<Descriptor> named;
  bool any_name = false;
  for (const Descriptor& d : entries) {
    any_name = any_name || !d.ref_name.empty();
    if (NameMatches(d, ref)) named.push_back(d);
  }
  if (!named.empty()) return SelectPlatform(named);
  bool all_platforms = std::all_of(entries.begin(), entries.end(),
                                   [](const Descriptor& d) { return !d.os.empty(); });
  if (!any_name && all_platforms && ref.digest.empty()) return SelectPlatform(entries);
  std::string wanted = ref.digest.empty() ? "tag \"" + ref.tag + "\"" : ref.digest;
  return Status::InvalidArgument("the layout holds " + std::to_string(entries.size()) +
                                 " images and none is " + wanted +
                                 " (it holds: " + ListNames(entries) +
                                 "); import it with a reference whose tag is one of them");
}

// Reads index.json and follows it (through nested indexes) to one image manifest and config.
Result<LayoutImage> ReadLayout(const fs::path& layout, const ImageReference& ref) {
  if (!Exists(layout / kOciLayoutFile)) {
    return Status::InvalidArgument(layout.string() + " is not an OCI image layout (no oci-layout)");
  }
  ASSIGN_OR_RETURN(std::string index_json, ReadFile(layout / "index.json"));
  ASSIGN_OR_RETURN(std::vector<Descriptor> entries, ParseIndex(index_json));
  ASSIGN_OR_RETURN(Descriptor current, SelectTopEntry(entries, ref));
  LayoutImage image;
  for (int depth = 0; depth < kMaxIndexDepth; ++depth) {
    ASSIGN_OR_RETURN(std::string doc, ReadLayoutDocument(layout, current));
    image.documents.emplace_back(current.digest, doc);
    DocumentKind kind = KindOfMediaType(current.media_type);
    if (kind == DocumentKind::kUnknown) kind = KindOfDocument(doc);
    if (kind == DocumentKind::kIndex) {
      ASSIGN_OR_RETURN(entries, ParseIndex(doc));
      ASSIGN_OR_RETURN(current, SelectPlatform(entries));
      continue;
    }
    if (kind != DocumentKind::kManifest) {
      return Status::FailedPrecondition(current.digest + " is neither an image manifest nor an " +
                                        "index (media type \"" + current.media_type + "\")");
    }
    image.manifest_digest = current.digest;
    ASSIGN_OR_RETURN(image.manifest, ParseManifest(doc));
    ASSIGN_OR_RETURN(std::string config_json, ReadLayoutDocument(layout, image.manifest.config));
    RETURN_IF_ERROR(CheckImageConfig(config_json, image.manifest));
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
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("open " + dir.string(), errno);
  if (::syncfs(fd.get()) != 0) return ErrnoStatus("syncfs " + dir.string(), errno);
  return Status::Ok();
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

// Changes refs.json under <root>/refs.lock; `mu` serializes this process's writers.
Status UpdateRefs(const fs::path& root, Mutex& mu, const std::function<Status(RefMap&)>& fn) {
  MutexLock guard(mu);
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(RefsLockFile(root)));
  ASSIGN_OR_RETURN(RefMap refs, ReadRefs(root));
  RETURN_IF_ERROR(fn(refs));
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

// Digests (hex) of every blob the tagged images need: manifests, configs, layers.
Result<std::set<std::string>> ReferencedBlobs(const fs::path& root) {
  ASSIGN_OR_RETURN(RefMap refs, ReadRefs(root));
  std::set<std::string> keep;
  for (const auto& [reference, digest] : refs) {
    Result<std::string> hex = Sha256DigestHex(digest);
    if (!hex.ok()) continue;
    keep.insert(*hex);
    Result<std::string> manifest_json = ReadFile(ByDigest(BlobsDir(root), digest));
    if (!manifest_json.ok()) continue;  // a damaged image keeps nothing else
    Result<ImageManifest> manifest = ParseManifest(*manifest_json);
    if (!manifest.ok()) continue;
    keep.insert(manifest->config.digest.substr(7));
    for (const Descriptor& layer : manifest->layers) keep.insert(layer.digest.substr(7));
  }
  return keep;
}

uint64_t DiskUsage(const fs::path& path) {
  std::error_code ec;
  uint64_t total = 0;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) return st.st_size;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) total += st.st_size;
  }
  return total;
}

// Removes the entries of `dir` whose names are not in `keep`; counts them into `removed`.
void RemoveUnkept(const fs::path& dir, const std::set<std::string>& keep, int& removed,
                  PruneReport& report) {
  std::error_code ec;
  std::vector<fs::path> doomed;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    if (!keep.contains(it->path().filename().string())) doomed.push_back(it->path());
  }
  for (const fs::path& path : doomed) {
    uint64_t bytes = DiskUsage(path);
    std::error_code rm;
    fs::remove_all(path, rm);
    if (rm) continue;
    report.bytes_freed += bytes;
    ++removed;
  }
}

// Moves `from` to `to` unless `to` exists already (another pull published the same content).
Status PublishOnce(const fs::path& from, const fs::path& to) {
  if (Exists(to)) return Status::Ok();
  if (::rename(from.c_str(), to.c_str()) == 0) return Status::Ok();
  if ((errno == EEXIST || errno == ENOTEMPTY) && Exists(to)) return Status::Ok();
  return ErrnoStatus("publish " + to.string(), errno);
}

// The name an OCI layout gives its single image, when it is a full reference. A layout of
// several tagged images names none: the caller must choose.
Result<std::string> LayoutName(const fs::path& layout) {
  ASSIGN_OR_RETURN(std::string index_json, ReadFile(layout / "index.json"));
  ASSIGN_OR_RETURN(std::vector<Descriptor> entries, ParseIndex(index_json));
  std::set<std::string> names;
  for (const Descriptor& d : entries) {
    if (!d.ref_name.empty()) names.insert(d.ref_name);
  }
  if (names.size() > 1) {
    return Status::InvalidArgument(layout.string() + " holds " + std::to_string(names.size()) +
                                   " tagged images (" + ListNames(entries) +
                                   "); give a reference whose tag is one of them");
  }
  for (const Descriptor& d : entries) {
    if (d.ref_name.find_first_of("/:") != std::string::npos) return d.ref_name;
  }
  return Status::InvalidArgument(layout.string() +
                                 " does not name its image; give a reference to import it as");
}

}  // namespace

PullStaging::~PullStaging() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
  lock_fd_.Reset();  // after the staging dir is gone: a prune may then look at tmp/
}

fs::path PullStaging::BlobPath(std::string_view digest) const {
  return dir_ / (std::string(digest.substr(digest.find(':') + 1)) + ".blob");
}

fs::path PullStaging::LayerDir(std::string_view digest) const {
  return dir_ / (std::string(digest.substr(digest.find(':') + 1)) + ".layer");
}

ImageStore::ImageStore(std::filesystem::path root) : root_(std::move(root)) {}

ImageStore::~ImageStore() = default;

Status ImageStore::Init() {
  MutexLock guard(mu_);
  RETURN_IF_ERROR(EnsureDirs(root_));
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(LockFile(root_)));
  // Leftovers of imports and pulls that crashed: nobody else works while we hold the lock.
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
  MutexLock guard(mu_);
  RETURN_IF_ERROR(EnsureDirs(root_));
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(LockFile(root_)));
  return ImportLayoutLocked(layout_dir, reference);
}

Result<Image> ImageStore::ImportLayoutLocked(const std::filesystem::path& layout_dir,
                                             std::string_view reference) {
  ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference(reference));
  const std::string key = ref.ToString();
  const std::string context = "import " + layout_dir.string() + " as " + key;
  Result<LayoutImage> found = ReadLayout(layout_dir, ref);
  if (!found.ok()) return found.status().WithContext(context);
  Rollback rollback;  // undone while the lock is still held
  Status st;
  for (const Descriptor& layer : found->manifest.layers) {
    if (st.ok()) st = StoreLayerBlob(root_, layout_dir, layer, rollback);
  }
  {
    MutexLock refs_guard(refs_mu_);
    for (const auto& [digest, bytes] : found->documents) {
      if (st.ok()) st = StoreDocument(root_, digest, bytes, rollback);
    }
  }
  for (const Descriptor& layer : found->manifest.layers) {
    if (st.ok()) st = UnpackLayerOnce(root_, layer, rollback);
  }
  if (st.ok()) {
    st = UpdateRefs(root_, refs_mu_, [&](RefMap& refs) {
      refs[key] = found->manifest_digest;
      return Status::Ok();
    });
  }
  if (!st.ok()) return st.WithContext(context);
  rollback.Commit();
  return LoadImage(root_, key, found->manifest_digest);
}

Result<Image> ImageStore::Import(const std::filesystem::path& path, std::string_view reference) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::string name(reference);
    if (name.empty()) {
      ASSIGN_OR_RETURN(name, LayoutName(path));
    }
    return ImportLayout(path, name);
  }
  if (!fs::is_regular_file(path, ec)) {
    return Status::InvalidArgument(path.string() + " is neither a directory nor a file");
  }
  return ImportTarball(path, reference);
}

Result<Image> ImageStore::ImportTarball(const std::filesystem::path& tarball,
                                        std::string_view reference) {
  MutexLock guard(mu_);
  RETURN_IF_ERROR(EnsureDirs(root_));
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(LockFile(root_)));
  std::string tmp = (TmpDir(root_) / "import-XXXXXX").string();
  if (::mkdtemp(tmp.data()) == nullptr) return ErrnoStatus("mkdtemp " + tmp, errno);
  Rollback cleanup;
  cleanup.Add(tmp);
  const std::string context = "import " + tarball.string();
  RETURN_IF_ERROR(UnpackLayer(tarball, tmp).WithContext(context));
  ASSIGN_OR_RETURN(std::string archive_name, ArchiveToLayout(tmp));
  std::string name(reference);
  if (name.empty()) name = archive_name;
  if (name.empty()) {
    Result<std::string> layout_name = LayoutName(tmp);
    if (!layout_name.ok()) return layout_name.status().WithContext(context);
    name = *layout_name;
  }
  return ImportLayoutLocked(tmp, name);
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
    Result<Image> image = LoadImage(root_, reference, digest);
    if (!image.ok()) {
      // A damaged image is listed with what refs.json knows, so that it can be removed.
      Image damaged;
      damaged.reference = reference;
      damaged.manifest_digest = digest;
      images.push_back(std::move(damaged));
      continue;
    }
    images.push_back(std::move(*image));
  }
  return images;
}

Status ImageStore::Remove(std::string_view reference) {
  ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference(reference));
  const std::string key = ref.ToString();
  return UpdateRefs(root_, refs_mu_, [&](RefMap& refs) {
    if (refs.erase(key) == 0) return Status::NotFound("image " + key + " is not in the store");
    return Status::Ok();
  });
}

Result<PruneReport> ImageStore::Prune(const std::vector<std::filesystem::path>& layers_in_use) {
  MutexLock guard(mu_);
  RETURN_IF_ERROR(EnsureDirs(root_));
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(LockFile(root_)));
  MutexLock refs_guard(refs_mu_);
  ASSIGN_OR_RETURN(StoreLock refs_lock, StoreLock::Acquire(RefsLockFile(root_)));
  ASSIGN_OR_RETURN(std::set<std::string> keep, ReferencedBlobs(root_));
  std::error_code ec;
  const fs::path layers = fs::weakly_canonical(LayersDir(root_), ec);
  for (const fs::path& dir : layers_in_use) {
    fs::path canonical = fs::weakly_canonical(dir, ec);
    if (!ec && canonical.parent_path() == layers) keep.insert(canonical.filename().string());
  }
  PruneReport report;
  int tmp_removed = 0;
  RemoveUnkept(LayersDir(root_), keep, report.layers_removed, report);
  RemoveUnkept(BlobsDir(root_), keep, report.blobs_removed, report);
  RemoveUnkept(TmpDir(root_), {}, tmp_removed, report);
  RETURN_IF_ERROR(SyncDir(LayersDir(root_)));
  RETURN_IF_ERROR(SyncDir(BlobsDir(root_)));
  return report;
}

void ImageStore::ConfigureRegistries(RegistryOptions opts) {
  MutexLock guard(puller_mu_);
  registry_options_ = std::move(opts);
  puller_.reset();
}

Result<Image> ImageStore::EnsureImage(std::string_view reference, const PullProgress& progress) {
  ImagePuller* puller = nullptr;
  {
    MutexLock guard(puller_mu_);
    if (!puller_) puller_ = std::make_unique<ImagePuller>(*this, registry_options_);
    puller = puller_.get();
  }
  return puller->EnsureImage(reference, progress);
}

Result<std::unique_ptr<PullStaging>> ImageStore::BeginPull() {
  RETURN_IF_ERROR(EnsureDirs(root_));
  ASSIGN_OR_RETURN(StoreLock lock, StoreLock::Acquire(LockFile(root_), LOCK_SH));
  std::string tmp = (TmpDir(root_) / "pull-XXXXXX").string();
  if (::mkdtemp(tmp.data()) == nullptr) return ErrnoStatus("mkdtemp " + tmp, errno);
  return std::make_unique<PullStaging>(lock.Release(), tmp);
}

bool ImageStore::HasLayer(std::string_view digest) const {
  return Sha256DigestHex(digest).ok() && Exists(ByDigest(LayersDir(root_), digest)) &&
         Exists(ByDigest(BlobsDir(root_), digest));
}

Result<Image> ImageStore::CommitPull(PullStaging& staging, const PulledImage& pulled) {
  RETURN_IF_ERROR(SyncFileSystem(staging.dir()));
  for (const std::string& digest : pulled.staged_layers) {
    RETURN_IF_ERROR(PublishOnce(staging.LayerDir(digest), ByDigest(LayersDir(root_), digest)));
    RETURN_IF_ERROR(PublishOnce(staging.BlobPath(digest), ByDigest(BlobsDir(root_), digest)));
  }
  RETURN_IF_ERROR(SyncDir(LayersDir(root_)));
  RETURN_IF_ERROR(SyncDir(BlobsDir(root_)));
  {
    MutexLock guard(refs_mu_);
    ASSIGN_OR_RETURN(StoreLock refs_lock, StoreLock::Acquire(RefsLockFile(root_)));
    Rollback unused;
    for (const auto& [digest, bytes] : pulled.documents) {
      RETURN_IF_ERROR(StoreDocument(root_, digest, bytes, unused));
    }
    unused.Commit();
  }
  RETURN_IF_ERROR(UpdateRefs(root_, refs_mu_, [&](RefMap& refs) {
    refs[pulled.reference] = pulled.manifest_digest;
    return Status::Ok();
  }));
  return LoadImage(root_, pulled.reference, pulled.manifest_digest);
}

}  // namespace berth
