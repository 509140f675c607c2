#include "images/image_puller.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <set>
#include <system_error>
#include <thread>
#include <vector>

#include "common/files.h"
#include "images/layer_unpacker.h"
#include "images/oci_image.h"
#include "images/registry_client.h"

namespace berth {

namespace {

constexpr int64_t kMaxConfigSize = 16 << 20;
constexpr int kMaxIndexDepth = 4;

// What a pull resolved a reference to: one image manifest and its config.
struct ResolvedImage {
  FetchedManifest manifest;
  ImageManifest parsed;
  std::string config;
};

// Follows indexes down to the image manifest for this host's platform.
Result<ResolvedImage> ResolveManifest(RegistryClient& client, const ImageReference& ref) {
  ResolvedImage out;
  ASSIGN_OR_RETURN(out.manifest, client.GetManifest(ref.digest.empty() ? ref.tag : ref.digest));
  for (int depth = 0; KindOfMediaType(out.manifest.media_type) == DocumentKind::kIndex; ++depth) {
    if (depth >= kMaxIndexDepth) return Status::InvalidArgument("indexes nest too deep");
    ASSIGN_OR_RETURN(std::vector<Descriptor> entries, ParseIndex(out.manifest.body));
    ASSIGN_OR_RETURN(Descriptor chosen, SelectPlatform(entries));
    ASSIGN_OR_RETURN(out.manifest, client.GetManifest(chosen.digest));
  }
  ASSIGN_OR_RETURN(out.parsed, ParseManifest(out.manifest.body));
  ASSIGN_OR_RETURN(out.config, client.GetBlob(out.parsed.config, kMaxConfigSize));
  RETURN_IF_ERROR(CheckImageConfig(out.config, out.parsed));
  return out;
}

// Downloads, verifies and unpacks `layers` into the staging dir, several at once.
Status FetchLayers(RegistryClient& client, PullStaging& staging,
                   const std::vector<Descriptor>& layers, int parallel, UnpackBudget& budget,
                   const std::function<void(PullEvent)>& emit) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  Mutex mu;
  Status first_error;
  auto work = [&] {
    while (!failed.load()) {
      size_t i = next.fetch_add(1);
      if (i >= layers.size()) return;
      const Descriptor& layer = layers[i];
      auto on_bytes = [&](int64_t done) {
        emit({PullPhase::kDownloading, "", layer.digest, done, layer.size, ""});
      };
      auto on_retry = [&](const std::string& why) {
        emit({PullPhase::kRetrying, "", layer.digest, 0, layer.size, why});
      };
      Status st = client.DownloadBlob(layer, staging.BlobPath(layer.digest), on_bytes, on_retry);
      if (st.ok()) {
        emit({PullPhase::kUnpacking, "", layer.digest, layer.size, layer.size, ""});
        std::filesystem::path dir = staging.LayerDir(layer.digest);
        st = ::mkdir(dir.c_str(), 0755) == 0 ? Status::Ok()
                                             : ErrnoStatus("mkdir " + dir.string(), errno);
        if (st.ok()) st = UnpackLayer(staging.BlobPath(layer.digest), dir, &budget);
        if (!st.ok()) st = st.WithContext("layer " + layer.digest);
      }
      if (!st.ok()) {
        MutexLock guard(mu);
        if (first_error.ok()) first_error = st;
        failed = true;
        return;
      }
      emit({PullPhase::kLayerDone, "", layer.digest, layer.size, layer.size, ""});
    }
  };
  int threads = std::max(1, std::min<int>(parallel, static_cast<int>(layers.size())));
  std::vector<std::thread> pool;
  try {
    for (int i = 1; i < threads; ++i) pool.emplace_back(work);
  } catch (const std::system_error& e) {
    // Fewer threads is fine: this one works too.
  }
  work();
  for (std::thread& t : pool) t.join();
  return first_error;
}

}  // namespace

struct ImagePuller::Flight {
  Mutex mu;
  std::condition_variable_any cv;
  bool done GUARDED_BY(mu) = false;
  Result<Image> result GUARDED_BY(mu) = Status::Internal("pull did not finish");
  std::vector<PullProgress> watchers GUARDED_BY(mu);
};

std::string RedactDir(std::string text, const std::filesystem::path& dir,
                      std::string_view placeholder) {
  if (dir.empty()) return text;
  std::error_code ec;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(dir, ec);
  for (const std::filesystem::path& form : {dir.lexically_normal(), canonical}) {
    std::string needle = form.string();
    while (needle.size() > 1 && needle.back() == '/') needle.pop_back();
    if (needle.empty() || needle == "/") continue;
    for (size_t at = text.find(needle); at != std::string::npos;
         at = text.find(needle, at + placeholder.size())) {
      text.replace(at, needle.size(), placeholder);
    }
  }
  return text;
}

Status PullFailure(const Status& st, std::string_view reference,
                   const std::filesystem::path& store_root) {
  std::string message = "ImagePullFailed: " + std::string(reference) + ": " +
                        RedactDir(st.message(), store_root, "<image store>");
  switch (st.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kIoError:
    case StatusCode::kResourceExhausted:
    case StatusCode::kInternal:
      return Status::Unavailable(message);
    default:
      return Status::FailedPrecondition(message);
  }
}

ImagePuller::ImagePuller(ImageStore& store, RegistryOptions opts)
    : store_(store), opts_(std::move(opts)) {}

Result<Image> ImagePuller::EnsureImage(std::string_view reference, const PullProgress& progress) {
  Result<ImageReference> ref = ParseImageReference(reference);
  if (!ref.ok()) return PullFailure(ref.status(), reference);
  Result<Image> local = store_.Resolve(ref->ToString());
  if (local.ok()) return local;
  // NotFound, or damaged (a layer is missing): pull it.
  return SharedPull(*ref, progress, /*reuse_local=*/true);
}

Result<Image> ImagePuller::Pull(std::string_view reference, const PullProgress& progress) {
  Result<ImageReference> ref = ParseImageReference(reference);
  if (!ref.ok()) return PullFailure(ref.status(), reference);
  return SharedPull(*ref, progress, /*reuse_local=*/false);
}

Result<Image> ImagePuller::SharedPull(const ImageReference& ref, const PullProgress& progress,
                                      bool reuse_local) {
  const std::string key = ref.ToString();
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    MutexLock guard(mu_);
    std::shared_ptr<Flight>& slot = flights_[key];
    if (!slot) {
      slot = std::make_shared<Flight>();
      leader = true;
    }
    flight = slot;
  }
  {
    MutexLock guard(flight->mu);
    if (progress) flight->watchers.push_back(progress);
  }
  if (!leader) {
    MutexLock lock(flight->mu);
    while (!flight->done) flight->cv.wait(lock);
    return flight->result;
  }
  // A pull that finished between our look-up and now has published the image already.
  Result<Image> result = reuse_local ? store_.Resolve(key) : Status::NotFound("");
  PullProgress fan_out = [flight](const PullEvent& e) {
    std::vector<PullProgress> watchers;
    {
      MutexLock guard(flight->mu);
      watchers = flight->watchers;
    }
    for (const PullProgress& w : watchers) w(e);
  };
  if (!result.ok()) {
    result = Fetch(ref, fan_out);
    if (!result.ok()) result = PullFailure(result.status(), key, store_.root());
  }
  {
    MutexLock guard(mu_);
    flights_.erase(key);
  }
  {
    MutexLock guard(flight->mu);
    flight->result = result;
    flight->done = true;
  }
  flight->cv.notify_all();
  return result;
}

Result<Image> ImagePuller::Fetch(const ImageReference& ref, const PullProgress& progress) {
  if (!RegistryAllowed(ref.registry, opts_.allowed)) {
    return Status::FailedPrecondition("registry " + ref.registry + " is not in AllowedRegistries");
  }
  std::vector<std::string> registries = {ref.registry};
  if (ref.registry == kDefaultRegistry) {
    registries = opts_.mirrors;
    registries.push_back(opts_.default_registry.empty() ? std::string(kDefaultRegistry)
                                                        : opts_.default_registry);
  }
  Status last;
  for (const std::string& registry : registries) {
    Result<Image> image = FetchFrom(registry, ref, progress);
    if (image.ok()) return image;
    last = image.status();
  }
  return last;
}

Result<Image> ImagePuller::FetchFrom(const std::string& registry, const ImageReference& ref,
                                     const PullProgress& progress) {
  const std::string key = ref.ToString();
  auto emit = [&](PullEvent e) {
    e.reference = key;
    if (progress) progress(e);
  };
  ASSIGN_OR_RETURN(Credentials credentials, LookupCredentials(opts_.auth_file, registry));
  RegistryClient client(EndpointFor(registry, opts_), ref.repository, credentials, opts_,
                        std::chrono::steady_clock::now() + opts_.pull_timeout);
  emit({PullPhase::kResolving, "", "", 0, 0, ""});
  ASSIGN_OR_RETURN(ResolvedImage resolved, ResolveManifest(client, ref));
  ASSIGN_OR_RETURN(std::unique_ptr<PullStaging> staging, store_.BeginPull());
  std::vector<Descriptor> missing;
  std::set<std::string> seen;
  for (const Descriptor& layer : resolved.parsed.layers) {
    if (!seen.insert(layer.digest).second) continue;
    if (store_.HasLayer(layer.digest)) {
      emit({PullPhase::kCached, "", layer.digest, layer.size, layer.size, ""});
    } else {
      missing.push_back(layer);
    }
  }
  int64_t declared = 0;
  for (const Descriptor& layer : resolved.parsed.layers)
    declared += std::max<int64_t>(0, layer.size);
  if (declared > opts_.max_image_bytes) {
    return Status::FailedPrecondition("the image's layers are " + std::to_string(declared) +
                                      " bytes, more than " + std::to_string(opts_.max_image_bytes) +
                                      " (ImagePullMaxBytes)");
  }
  UnpackBudget budget(opts_.max_image_bytes);
  RETURN_IF_ERROR(
      FetchLayers(client, *staging, missing, opts_.max_concurrent_downloads, budget, emit));
  PulledImage pulled;
  pulled.reference = key;
  pulled.manifest_digest = resolved.manifest.digest;
  pulled.documents = {{resolved.manifest.digest, resolved.manifest.body},
                      {resolved.parsed.config.digest, resolved.config}};
  for (const Descriptor& layer : missing) pulled.staged_layers.push_back(layer.digest);
  ASSIGN_OR_RETURN(Image image, store_.CommitPull(*staging, pulled));
  emit({PullPhase::kDone, "", image.manifest_digest, 0, 0, ""});
  return image;
}

}  // namespace berth
