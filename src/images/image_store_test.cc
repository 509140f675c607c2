#include "images/image_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"
#include "images/digest.h"
#include "images/oci_image.h"
#include "images/test_tar.h"

namespace berth {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string DigestOf(const std::string& bytes) { return "sha256:" + Sha256Hex(bytes); }

void WriteOrDie(const fs::path& path, const std::string& bytes) {
  ASSERT_TRUE(WriteFileAtomic(path, bytes).ok()) << path;
}

// Writes OCI image layouts for tests: layers, configs, manifests, (nested) indexes.
class LayoutBuilder {
 public:
  explicit LayoutBuilder(fs::path dir) : dir_(std::move(dir)) {
    EXPECT_TRUE(MakeDirs(dir_ / "blobs" / "sha256").ok());
  }

  // Adds a layer to the manifest being built; returns its blob digest.
  std::string AddLayer(const std::vector<TarEntry>& entries,
                       Compression compression = Compression::kGzip) {
    static const char* kTypes[] = {"application/vnd.oci.image.layer.v1.tar",
                                   "application/vnd.oci.image.layer.v1.tar+gzip",
                                   "application/vnd.oci.image.layer.v1.tar+zstd"};
    diff_ids_.push_back(DigestOf(MakeTar(entries, Compression::kNone)));
    Json desc = WriteBlob(MakeTar(entries, compression), kTypes[static_cast<int>(compression)]);
    layers_.push_back(desc);
    return desc["digest"];
  }

  // Writes config and manifest for the layers added so far; returns the manifest descriptor.
  Json BuildManifest(std::vector<std::string> cmd,
                     std::string arch = std::string(HostArchitecture())) {
    Json config = {{"architecture", arch},
                   {"os", "linux"},
                   {"config", {{"Cmd", cmd}, {"Env", {"PATH=/bin"}}, {"WorkingDir", "/w"}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids_}}}};
    Json manifest = {
        {"schemaVersion", 2},
        {"mediaType", kOciManifestMediaType},
        {"config", WriteBlob(config.dump(), "application/vnd.oci.image.config.v1+json")},
        {"layers", layers_}};
    layers_.clear();
    diff_ids_.clear();
    Json desc = WriteBlob(manifest.dump(), std::string(kOciManifestMediaType));
    desc["platform"] = {{"architecture", arch}, {"os", "linux"}};
    return desc;
  }

  // Writes an index blob listing `manifests`; returns its descriptor.
  Json BuildNestedIndex(const std::vector<Json>& manifests) {
    return WriteBlob(IndexJson(manifests).dump(), std::string(kOciIndexMediaType));
  }

  // Writes index.json (each entry tagged "latest") and oci-layout.
  void WriteTopIndex(std::vector<Json> entries) {
    for (Json& e : entries) e["annotations"] = {{std::string(kRefNameAnnotation), "latest"}};
    WriteOrDie(dir_ / "index.json", IndexJson(entries).dump());
    WriteOrDie(dir_ / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  }

  // Writes index.json with each entry tagged by its name, and oci-layout.
  void WriteNamedIndex(std::vector<std::pair<Json, std::string>> entries) {
    std::vector<Json> list;
    for (auto& [e, name] : entries) {
      e["annotations"] = {{std::string(kRefNameAnnotation), name}};
      list.push_back(e);
    }
    WriteOrDie(dir_ / "index.json", IndexJson(list).dump());
    WriteOrDie(dir_ / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  }

  // Manifest + top index for the layers added so far; returns the manifest digest.
  std::string Finish(std::vector<std::string> cmd = {"sh"}) {
    Json manifest = BuildManifest(std::move(cmd));
    WriteTopIndex({manifest});
    return manifest["digest"];
  }

  fs::path BlobPath(const std::string& digest) const {
    return dir_ / "blobs" / "sha256" / digest.substr(7);
  }
  const fs::path& dir() const { return dir_; }

 private:
  static Json IndexJson(const std::vector<Json>& manifests) {
    return {{"schemaVersion", 2}, {"mediaType", kOciIndexMediaType}, {"manifests", manifests}};
  }

  Json WriteBlob(const std::string& bytes, const std::string& media_type) {
    std::string digest = DigestOf(bytes);
    WriteOrDie(BlobPath(digest), bytes);
    return {{"mediaType", media_type}, {"digest", digest}, {"size", bytes.size()}};
  }

  fs::path dir_;
  std::vector<Json> layers_;
  std::vector<std::string> diff_ids_;
};

size_t CountEntries(const fs::path& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    ++n;
  }
  return n;
}

bool IsOverlayWhiteout(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

std::string GetXattr(const fs::path& path, const char* name) {
  char buf[256];
  ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof(buf));
  return n < 0 ? "<none>" : std::string(buf, static_cast<size_t>(n));
}

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "berth-images-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    root_ = tmp_ / "store";
    outside_ = tmp_ / "outside";
    fs::create_directories(outside_);
    store_ = std::make_unique<ImageStore>(root_);
    ASSERT_TRUE(store_->Init().ok());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  // Imports a one-image layout holding `layers` as "test:latest".
  Result<Image> ImportLayers(const std::vector<std::vector<TarEntry>>& layers) {
    LayoutBuilder layout(tmp_ / "layout");
    for (const auto& layer : layers) layout.AddLayer(layer);
    layout.Finish();
    return store_->ImportLayout(layout.dir(), "test");
  }

  // The store holds no trace of a failed import.
  void ExpectNothingImported() {
    EXPECT_EQ(CountEntries(root_ / "layers"), 0u);
    EXPECT_EQ(CountEntries(root_ / "blobs" / "sha256"), 0u);
    EXPECT_EQ(CountEntries(root_ / "tmp"), 0u);
    EXPECT_FALSE(fs::exists(root_ / "refs.json"));
    EXPECT_TRUE(store_->Resolve("test").status().IsNotFound());
  }

  fs::path tmp_;
  fs::path root_;
  fs::path outside_;
  std::unique_ptr<ImageStore> store_;
};

const fs::path kBusyboxLayout = fs::path(BERTH_BUNDLED_IMAGES_DIR) / "busybox";

TEST_F(ImageStoreTest, ImportsBundledBusybox) {
  Result<Image> imported = store_->ImportLayout(kBusyboxLayout, "busybox");
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  EXPECT_EQ(imported->reference, "docker.io/library/busybox:latest");
  for (const char* name : {"busybox", "busybox:latest", "docker.io/library/busybox:latest"}) {
    Result<Image> image = store_->Resolve(name);
    ASSERT_TRUE(image.ok()) << name << ": " << image.status().ToString();
    EXPECT_EQ(image->reference, "docker.io/library/busybox:latest");
    EXPECT_EQ(image->manifest_digest, imported->manifest_digest);
    EXPECT_EQ(image->layer_dirs, imported->layer_dirs);
    EXPECT_EQ(image->config.cmd, std::vector<std::string>{"sh"});
    EXPECT_GT(image->size_bytes, 0u);
    ASSERT_FALSE(image->layer_dirs.empty());
    const fs::path& top = image->layer_dirs.back();
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(top / "bin" / "busybox")));
    EXPECT_EQ(fs::status(top / "bin" / "busybox").permissions() & fs::perms::owner_exec,
              fs::perms::owner_exec);
    EXPECT_TRUE(fs::is_symlink(fs::symlink_status(top / "bin" / "sh")));
    EXPECT_TRUE(fs::is_symlink(fs::symlink_status(top / "usr" / "bin" / "seq")));
    EXPECT_EQ(fs::status(top / "tmp").permissions(), fs::perms::all | fs::perms::sticky_bit);
  }
  ASSERT_EQ(imported->config.env.size(), 1u);
  EXPECT_EQ(imported->config.env[0].substr(0, 5), "PATH=");
  EXPECT_TRUE(store_->Resolve("busybox@" + imported->manifest_digest).ok());
}

TEST_F(ImageStoreTest, ReimportIsIdempotent) {
  Result<Image> first = store_->ImportLayout(kBusyboxLayout, "busybox");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<Image> second = store_->ImportLayout(kBusyboxLayout, "busybox:latest");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->manifest_digest, first->manifest_digest);
  EXPECT_EQ(second->layer_dirs, first->layer_dirs);
  EXPECT_EQ(CountEntries(root_ / "layers"), 1u);
  EXPECT_EQ(CountEntries(root_ / "blobs" / "sha256"), 3u);  // layer, config, manifest
  EXPECT_EQ(CountEntries(root_ / "tmp"), 0u);
  Result<std::vector<Image>> all = store_->List();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(ImageStoreTest, TagsShareLayers) {
  ASSERT_TRUE(store_->ImportLayout(kBusyboxLayout, "busybox").ok());
  ASSERT_TRUE(store_->ImportLayout(kBusyboxLayout, "example.com/tools/bb:v1").ok());
  Result<std::vector<Image>> all = store_->List();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].layer_dirs, (*all)[1].layer_dirs);
  EXPECT_EQ(CountEntries(root_ / "layers"), 1u);
  EXPECT_TRUE(store_->Resolve("example.com/tools/bb:v1").ok());
  EXPECT_TRUE(store_->Resolve("bb:v1").status().IsNotFound());
}

TEST_F(ImageStoreTest, ConcurrentImportsShareOneLayer) {
  ImageStore other(root_);  // a second instance on the same root, as another process would be
  std::vector<Result<Image>> results(6, Status::Internal("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    ImageStore* store = i % 2 == 0 ? store_.get() : &other;
    threads.emplace_back([store, &results, i] {
      results[i] = store->ImportLayout(kBusyboxLayout, "busybox:t" + std::to_string(i));
    });
  }
  for (std::thread& t : threads) t.join();
  for (const Result<Image>& r : results) {
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->layer_dirs, results[0]->layer_dirs);
  }
  EXPECT_EQ(CountEntries(root_ / "layers"), 1u);
  Result<std::vector<Image>> all = store_->List();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), results.size());
}

TEST_F(ImageStoreTest, ResolveErrors) {
  EXPECT_TRUE(store_->Resolve("busybox").status().IsNotFound());
  EXPECT_TRUE(store_->Resolve("Bad/Name").status().IsInvalidArgument());
  EXPECT_TRUE(store_->ImportLayout(kBusyboxLayout, "../x").status().IsInvalidArgument());
  Result<std::vector<Image>> all = store_->List();
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

TEST_F(ImageStoreTest, RejectsDirectoryThatIsNotALayout) {
  Result<Image> image = store_->ImportLayout(outside_, "test");
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.status().message().find("oci-layout"), std::string::npos);
}

TEST_F(ImageStoreTest, LayerDigestMismatchLeavesNothingBehind) {
  LayoutBuilder layout(tmp_ / "layout");
  layout.AddLayer({File("good")});
  std::string bad = layout.AddLayer({File("bad", "original content")});
  layout.Finish();
  std::string blob = ReadFile(layout.BlobPath(bad)).value();
  blob[blob.size() / 2] ^= 0x55;  // same size, different bytes
  WriteOrDie(layout.BlobPath(bad), blob);

  Result<Image> image = store_->ImportLayout(layout.dir(), "test");
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.status().message().find("digest mismatch"), std::string::npos)
      << image.status().message();
  ExpectNothingImported();
}

TEST_F(ImageStoreTest, ManifestDigestMismatchFails) {
  LayoutBuilder layout(tmp_ / "layout");
  layout.AddLayer({File("a")});
  std::string manifest = layout.Finish();
  std::string bytes = ReadFile(layout.BlobPath(manifest)).value();
  bytes[bytes.find("schemaVersion")] = 'S';
  WriteOrDie(layout.BlobPath(manifest), bytes);
  Result<Image> image = store_->ImportLayout(layout.dir(), "test");
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.status().message().find("digest mismatch"), std::string::npos);
  ExpectNothingImported();
}

TEST_F(ImageStoreTest, LayerSizeMismatchFails) {
  LayoutBuilder layout(tmp_ / "layout");
  std::string layer = layout.AddLayer({File("a")});
  layout.Finish();
  std::ofstream(layout.BlobPath(layer), std::ios::app) << "trailing junk";
  Result<Image> image = store_->ImportLayout(layout.dir(), "test");
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.status().message().find("size mismatch"), std::string::npos);
  ExpectNothingImported();
}

TEST_F(ImageStoreTest, DotDotEntryIsRefused) {
  Result<Image> image = ImportLayers({{File("ok"), File("../escape"), File("../../escape2")}});
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.status().message().find(".."), std::string::npos) << image.status().message();
  for (const fs::path& p : {root_ / "tmp" / "escape", root_ / "escape", root_ / "layers" / "escape",
                            tmp_ / "escape2", root_ / "escape2"}) {
    EXPECT_FALSE(fs::exists(p)) << p;
  }
  ExpectNothingImported();
}

TEST_F(ImageStoreTest, FailedLaterLayerRollsBackEarlierOnes) {
  Result<Image> image = ImportLayers({{File("fine")}, {File("../escape")}});
  ASSERT_FALSE(image.ok());
  ExpectNothingImported();
}

TEST_F(ImageStoreTest, AbsoluteSymlinkEscapeIsRefused) {
  Result<Image> image = ImportLayers({{Symlink("evil", outside_.string()), File("evil/pwned")}});
  EXPECT_FALSE(fs::exists(outside_ / "pwned"));
  ASSERT_FALSE(image.ok());
  ExpectNothingImported();
}

TEST_F(ImageStoreTest, RelativeSymlinkEscapeIsRefused) {
  Result<Image> image =
      ImportLayers({{Dir("a"), Symlink("a/up", "../../../../../../../../.." + outside_.string()),
                     File("a/up/pwned")}});
  EXPECT_FALSE(fs::exists(outside_ / "pwned"));
  ASSERT_FALSE(image.ok());
  ExpectNothingImported();
}

// As containerd and podman do, an absolute entry path is taken relative to the layer root.
TEST_F(ImageStoreTest, AbsolutePathEntryStaysInsideTheLayer) {
  Result<Image> image = ImportLayers({{File((outside_ / "abs").string())}});
  EXPECT_FALSE(fs::exists(outside_ / "abs"));
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_TRUE(fs::is_regular_file(image->layer_dirs.back() / outside_.relative_path() / "abs"));
}

TEST_F(ImageStoreTest, HardlinkEscapeIsRefused) {
  WriteOrDie(outside_ / "secret", "host data");
  TarEntry absolute = File("h1", "");
  absolute.hardlink = (outside_ / "secret").string();
  TarEntry relative = File("h2", "");
  relative.hardlink = "../../../outside/secret";
  for (const TarEntry& link : {absolute, relative}) {
    Result<Image> image = ImportLayers({{link}});
    EXPECT_FALSE(image.ok());
    EXPECT_EQ(fs::hard_link_count(outside_ / "secret"), 1u);
    ExpectNothingImported();
    fs::remove_all(tmp_ / "layout");
  }
}

TEST_F(ImageStoreTest, SymlinksAreCreatedNotFollowed) {
  Result<Image> image = ImportLayers(
      {{Dir("bin"), Symlink("bin/sh", "/bin/busybox"), Symlink("host", outside_.string())}});
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  const fs::path& layer = image->layer_dirs.back();
  EXPECT_EQ(fs::read_symlink(layer / "bin" / "sh"), "/bin/busybox");
  EXPECT_EQ(fs::read_symlink(layer / "host"), outside_);
  EXPECT_EQ(CountEntries(outside_), 0u);
}

TEST_F(ImageStoreTest, WhiteoutsBecomeOverlayWhiteouts) {
  Result<Image> image =
      ImportLayers({{Dir("etc"), File("etc/.wh.passwd", ""), File(".wh.rootfile", ""), Dir("opq"),
                     File("opq/.wh..wh..opq", ""), File("opq/new"), File("nodir/.wh.gone", "")}});
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  const fs::path& layer = image->layer_dirs.back();
  EXPECT_TRUE(IsOverlayWhiteout(layer / "etc" / "passwd"));
  EXPECT_TRUE(IsOverlayWhiteout(layer / "rootfile"));
  EXPECT_TRUE(IsOverlayWhiteout(layer / "nodir" / "gone"));
  EXPECT_EQ(GetXattr(layer / "opq", "trusted.overlay.opaque"), "y");
  EXPECT_EQ(GetXattr(layer / "etc", "trusted.overlay.opaque"), "<none>");
  EXPECT_TRUE(fs::is_regular_file(layer / "opq" / "new"));
  for (const auto& entry : fs::recursive_directory_iterator(layer)) {
    EXPECT_NE(entry.path().filename().string().substr(0, 4), ".wh.") << entry.path();
  }
}

TEST_F(ImageStoreTest, KeepsMetadataDropsDevicesAndUnsafeXattrs) {
  TarEntry owned = File("dir/owned", "x");
  owned.uid = 1234;
  owned.gid = 5678;
  owned.perm = 04750;
  owned.mtime = 12345;
  owned.xattrs = {{"user.keep", "1"}, {"trusted.overlay.redirect", "/etc"}};
  TarEntry dir = Dir("dir", 0711);
  dir.mtime = 777;
  TarEntry device = Device("dev/null", AE_IFCHR, makedev(1, 3));
  TarEntry block = Device("dev/sda", AE_IFBLK, makedev(8, 0));
  Result<Image> image = ImportLayers({{dir, owned, Dir("dev"), device, block}});
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  const fs::path& layer = image->layer_dirs.back();
  struct stat st {};
  ASSERT_EQ(::lstat((layer / "dir" / "owned").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mode & 07777, 04750u);
  EXPECT_EQ(st.st_mtime, 12345);
  ASSERT_EQ(::lstat((layer / "dir").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  EXPECT_EQ(st.st_mtime, 777);
  EXPECT_EQ(GetXattr(layer / "dir" / "owned", "user.keep"), "1");
  EXPECT_EQ(GetXattr(layer / "dir" / "owned", "trusted.overlay.redirect"), "<none>");
  EXPECT_FALSE(fs::exists(fs::symlink_status(layer / "dev" / "null")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(layer / "dev" / "sda")));
}

TEST_F(ImageStoreTest, PicksHostPlatformFromNestedIndexAndReadsPlainTar) {
  LayoutBuilder layout(tmp_ / "layout");
  std::string other_arch = HostArchitecture() == "amd64" ? "arm64" : "amd64";
  layout.AddLayer({File("other")}, Compression::kNone);
  Json other = layout.BuildManifest({"other"}, other_arch);
  layout.AddLayer({File("host")}, Compression::kNone);
  Json host = layout.BuildManifest({"host"});
  layout.WriteTopIndex({layout.BuildNestedIndex({other, host})});
  Result<Image> image = store_->ImportLayout(layout.dir(), "multi:1");
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->manifest_digest, host["digest"]);
  EXPECT_EQ(image->config.cmd, std::vector<std::string>{"host"});
  EXPECT_EQ(image->config.working_dir, "/w");
  EXPECT_TRUE(fs::exists(image->layer_dirs.back() / "host"));
}

TEST_F(ImageStoreTest, RefusesIndexWithoutHostPlatform) {
  LayoutBuilder layout(tmp_ / "layout");
  layout.AddLayer({File("other")});
  std::string other_arch = HostArchitecture() == "amd64" ? "arm64" : "amd64";
  layout.WriteTopIndex({layout.BuildNestedIndex({layout.BuildManifest({"x"}, other_arch)})});
  Result<Image> image = store_->ImportLayout(layout.dir(), "test");
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.status().message().find("no manifest for linux/"), std::string::npos)
      << image.status().message();
  ExpectNothingImported();
}

// A layout holding several tags (skopeo or umoci copies into one directory): the reference's
// tag chooses; without a match the import fails naming the tags, never takes the first.
TEST_F(ImageStoreTest, LayoutWithSeveralTagsIsChosenByTagOrRefused) {
  LayoutBuilder layout(tmp_ / "layout");
  Json empty = layout.BuildManifest({"empty"});  // no layers: listed first
  layout.AddLayer({File("one", "1")});
  Json v1 = layout.BuildManifest({"one"});
  layout.AddLayer({File("two", "2")});
  Json v2 = layout.BuildManifest({"two"});
  layout.WriteNamedIndex({{empty, "empty"}, {v1, "v1"}, {v2, "example.com/app:v2"}});

  for (const std::string& wrong :
       std::vector<std::string>{"app", "app:v3", "app@sha256:" + std::string(64, 'a')}) {
    Result<Image> image = store_->ImportLayout(layout.dir(), wrong);
    ASSERT_FALSE(image.ok()) << wrong << " took " << image->config.cmd[0];
    const std::string& why = image.status().message();
    for (const char* tag : {"empty", "v1", "example.com/app:v2"}) {
      EXPECT_NE(why.find(tag), std::string::npos) << why;
    }
    ExpectNothingImported();
  }
  Result<Image> none = store_->Import(layout.dir(), "");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("v1"), std::string::npos) << none.status().message();
  ExpectNothingImported();

  Result<Image> one = store_->ImportLayout(layout.dir(), "app:v1");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->config.cmd, std::vector<std::string>{"one"});
  EXPECT_EQ(one->manifest_digest, v1["digest"]);
  for (const char* name : {"mine:v2", "example.com/app:v2"}) {
    Result<Image> two = store_->ImportLayout(layout.dir(), name);
    ASSERT_TRUE(two.ok()) << two.status().ToString();
    EXPECT_EQ(two->config.cmd, std::vector<std::string>{"two"});
  }
  Result<Image> pinned =
      store_->ImportLayout(layout.dir(), "app@" + v2["digest"].get<std::string>());
  ASSERT_TRUE(pinned.ok()) << pinned.status().ToString();
  EXPECT_EQ(pinned->config.cmd, std::vector<std::string>{"two"});
}

TEST_F(ImageStoreTest, ReadsZstdLayers) {
  std::unique_ptr<archive, decltype(&archive_write_free)> probe(archive_write_new(),
                                                                &archive_write_free);
  if (archive_write_add_filter_zstd(probe.get()) != ARCHIVE_OK) {
    GTEST_SKIP() << "libarchive built without zstd";
  }
  LayoutBuilder layout(tmp_ / "layout");
  layout.AddLayer({File("zstd-file", "compressed")}, Compression::kZstd);
  layout.Finish();
  Result<Image> image = store_->ImportLayout(layout.dir(), "test");
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(ReadFile(image->layer_dirs.back() / "zstd-file").value(), "compressed");
}

// The unpacked layers stack as overlayfs lowerdirs: whiteouts hide lower files.
TEST_F(ImageStoreTest, LayersStackAsOverlayLowerDirs) {
  Result<Image> image =
      ImportLayers({{File("a"), File("keep"), Dir("d"), File("d/x")},
                    {File(".wh.a", ""), Dir("d"), File("d/.wh..wh..opq", ""), File("d/y")}});
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  ASSERT_EQ(image->layer_dirs.size(), 2u);
  fs::path merged = tmp_ / "merged";
  fs::create_directories(merged);
  std::string options =
      "lowerdir=" + image->layer_dirs[1].string() + ":" + image->layer_dirs[0].string();
  if (::mount("overlay", merged.c_str(), "overlay", 0, options.c_str()) != 0) {
    GTEST_SKIP() << "cannot mount overlayfs here: " << std::strerror(errno);
  }
  EXPECT_FALSE(fs::exists(fs::symlink_status(merged / "a")));
  EXPECT_TRUE(fs::exists(merged / "keep"));
  EXPECT_FALSE(fs::exists(merged / "d" / "x"));
  EXPECT_TRUE(fs::exists(merged / "d" / "y"));
  ::umount2(merged.c_str(), MNT_DETACH);
}

// A `docker save` tarball: manifest.json, the config, one uncompressed tar per layer.
TEST_F(ImageStoreTest, ImportsDockerSaveTarballUnderItsRepoTag) {
  std::string layer = MakeTar({File("from-docker", "saved")}, Compression::kNone);
  std::string config = Json{{"architecture", HostArchitecture()},
                            {"os", "linux"},
                            {"config", {{"Cmd", {"cat", "/from-docker"}}}},
                            {"rootfs", {{"type", "layers"}, {"diff_ids", {DigestOf(layer)}}}}}
                           .dump();
  Json manifest = Json::array(
      {{{"Config", "cfg.json"}, {"RepoTags", {"saved/app:v3"}}, {"Layers", {"abc/layer.tar"}}}});
  std::string tarball = MakeTar({File("manifest.json", manifest.dump()), File("cfg.json", config),
                                 Dir("abc"), File("abc/layer.tar", layer)},
                                Compression::kNone);
  WriteOrDie(tmp_ / "saved.tar", tarball);
  Result<Image> image = store_->Import(tmp_ / "saved.tar", "");
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->reference, "docker.io/saved/app:v3");
  EXPECT_EQ(image->config.cmd, (std::vector<std::string>{"cat", "/from-docker"}));
  EXPECT_EQ(ReadFile(image->layer_dirs.back() / "from-docker").value(), "saved");
  EXPECT_EQ(CountEntries(root_ / "tmp"), 0u);
  Result<Image> named = store_->Import(tmp_ / "saved.tar", "other:1");
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_EQ(named->layer_dirs, image->layer_dirs);
}

TEST_F(ImageStoreTest, DockerArchivePathsMayNotLeaveTheArchive) {
  Json manifest = Json::array({{{"Config", "../../etc/passwd"}, {"Layers", Json::array()}}});
  WriteOrDie(tmp_ / "bad.tar",
             MakeTar({File("manifest.json", manifest.dump())}, Compression::kNone));
  Result<Image> image = store_->Import(tmp_ / "bad.tar", "x");
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.status().message().find("inside the archive"), std::string::npos)
      << image.status().message();
  ExpectNothingImported();
}

TEST_F(ImageStoreTest, RemoveAndPruneKeepLayersInUse) {
  ASSERT_TRUE(ImportLayers({{File("one")}}).ok());
  Result<Image> other = store_->ImportLayout(kBusyboxLayout, "busybox");
  ASSERT_TRUE(other.ok());
  Result<Image> test = store_->Resolve("test");
  ASSERT_TRUE(test.ok());
  EXPECT_TRUE(store_->Remove("nope").IsNotFound());
  ASSERT_TRUE(store_->Remove("test").ok());
  EXPECT_TRUE(store_->Resolve("test").status().IsNotFound());
  // In use by a job: kept.
  Result<PruneReport> kept = store_->Prune(test->layer_dirs);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->layers_removed, 0);
  EXPECT_EQ(CountEntries(root_ / "layers"), 2u);
  Result<PruneReport> freed = store_->Prune({});
  ASSERT_TRUE(freed.ok());
  EXPECT_EQ(freed->layers_removed, 1);
  EXPECT_GT(freed->bytes_freed, 0u);
  EXPECT_EQ(CountEntries(root_ / "layers"), 1u);
  EXPECT_EQ(CountEntries(root_ / "blobs" / "sha256"), 3u);  // busybox: layer, config, manifest
  EXPECT_TRUE(store_->Resolve("busybox").ok());
}

}  // namespace
}  // namespace berth
