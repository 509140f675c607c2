// End-to-end compatibility matrix: images made by real builders from Debian packages (umoci,
// skopeo, buildah, podman) out of a root filesystem the test makes from busybox-static, with
// hardlinks, symlinks, an xattr, a sparse file, long (PAX) names and whiteouts (opaque ones
// from umoci, plain ones from buildah/podman RUN steps). Each image is pushed to a loopback
// docker-registry, pulled by berth and run to Succeeded with the expected output; skopeo's
// uncompressed conversion and podman's archives are also imported with `berth image import`.
//
// Needs root (real containers; buildah and podman run with vfs storage and chroot isolation),
// and umoci, skopeo, buildah, podman, docker-registry (scripts/install-deps.sh). Nothing but
// 127.0.0.1 is contacted; every builder's storage lives in the test's temp dir.
#include <gtest/gtest.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "images/oci_image.h"
#include "tests/e2e/berth_process.h"
#include "tests/e2e/registry_fixture.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::seconds;

const std::string kLong(120, 'l');  // a directory and a file name past ustar's 100 bytes
constexpr int64_t kSparseSize = 8 << 20;

// What /check.sh prints in every image of the matrix.
const char kExpected[] =
    "keep=keep\n"
    "gone=absent\n"
    "old=c\n"
    "sparse=8388608 end\n"
    "long=long\n"
    "hardlink=same\n"
    "symlink=busybox\n";

// Applets through busybox itself: the rootfs has no applet links and umoci's config no PATH.
const char kCheckScript[] =
    "#!/bin/sh\n"
    "B=/bin/busybox\n"
    "echo \"keep=$($B cat /data/keep)\"\n"
    "test -e /data/gone && echo gone=present || echo gone=absent\n"
    "echo old=$($B ls -A /data/old)\n"
    "echo \"sparse=$($B wc -c < /data/sparse) $($B tail -c 3 /data/sparse)\"\n"
    "echo \"long=$($B cat /data/LONG/LONG.txt)\"\n"
    "[ \"$($B stat -c %i /bin/bbhard)\" = \"$($B stat -c %i /bin/busybox)\" ] && echo "
    "hardlink=same "
    "|| echo hardlink=different\n"
    "echo \"symlink=$($B readlink /bin/sh)\"\n";

// Layer 2 of the buildah and podman images: a RUN step that deletes a file and replaces a
// directory (plain whiteouts).
const char kContainerfile[] =
    "FROM scratch\n"
    "COPY rootfs/ /\n"
    "RUN [\"/bin/busybox\", \"sh\", \"-c\", \"B=/bin/busybox; $B rm -rf /data/old /data/gone && "
    "$B mkdir /data/old && echo c > /data/old/c\"]\n"
    "CMD [\"/bin/sh\", \"/check.sh\"]\n";

class ImageCompatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
    for (const char* tool : {"/usr/bin/docker-registry", "/usr/bin/umoci", "/usr/bin/skopeo",
                             "/usr/bin/buildah", "/usr/bin/podman", "/bin/busybox"}) {
      if (access(tool, X_OK) != 0) {
        GTEST_FAIL() << "needs " << tool << " (scripts/install-deps.sh installs it)";
      }
    }
    std::string tmpl = "/var/tmp/berth-compat-XXXXXX";  // not tmpfs: user xattrs, big files
    tmp_ = mkdtemp(tmpl.data());
    std::ofstream(tmp_ / "policy.json") << R"({"default":[{"type":"insecureAcceptAnything"}]})";
    MakeRootfs(tmp_ / "ctx" / "rootfs");
    std::ofstream(tmp_ / "ctx" / "Containerfile") << kContainerfile;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  // The image's first layer: busybox-static and the cases the matrix covers.
  void MakeRootfs(const fs::path& root) {
    fs::create_directories(root / "bin");
    fs::create_directories(root / "tmp");
    fs::create_directories(root / "data" / "old");
    fs::create_directories(root / "data" / kLong);
    fs::copy_file("/bin/busybox", root / "bin" / "busybox");
    fs::permissions(root / "bin" / "busybox", fs::perms(0755));
    fs::create_hard_link(root / "bin" / "busybox", root / "bin" / "bbhard");
    fs::create_symlink("busybox", root / "bin" / "sh");
    std::ofstream(root / "data" / "keep") << "keep";
    ASSERT_EQ(setxattr((root / "data" / "keep").c_str(), "user.berth", "compat", 6, 0), 0)
        << "user xattrs on " << root;
    std::ofstream(root / "data" / "gone") << "gone";
    std::ofstream(root / "data" / "old" / "a") << "a";
    std::ofstream(root / "data" / kLong / (kLong + ".txt")) << "long";
    {
      std::ofstream sparse(root / "data" / "sparse");
      sparse.seekp(kSparseSize - 3);
      sparse << "end";
    }
    std::string script = kCheckScript;
    for (size_t at; (at = script.find("LONG")) != std::string::npos;) {
      script.replace(at, 4, kLong);
    }
    std::ofstream(root / "check.sh") << script;
    fs::permissions(root / "check.sh", fs::perms(0755));
  }

  // Runs a shell command in the temp dir (TMPDIR too), asserting success.
  void Run(const std::string& command) {
    std::string out;
    int rc = Shell("export TMPDIR='" + tmp_.string() + "'; cd \"$TMPDIR\" && " + command, &out);
    ASSERT_EQ(rc, 0) << command << "\n" << out;
  }

  std::string Buildah() const {
    return "buildah --storage-driver vfs --root '" + (tmp_ / "buildah").string() + "' --runroot '" +
           (tmp_ / "buildah-run").string() + "'";
  }
  std::string Podman() const {
    return "podman --storage-driver vfs --root '" + (tmp_ / "podman").string() + "' --runroot '" +
           (tmp_ / "podman-run").string() + "' --events-backend file --cgroup-manager cgroupfs";
  }
  std::string Skopeo(const std::string& flags, const std::string& from, const std::string& to) {
    return "skopeo --policy policy.json copy -q --dest-tls-verify=false " + flags + " " + from +
           " " + to;
  }

  // The layer media types of the manifest the registry serves for `repo:tag`.
  std::vector<std::string> LayerTypes(const LocalRegistry& registry, const std::string& repo,
                                      const std::string& tag) {
    Reply r = Http("GET", "http://" + registry.host() + "/v2/" + repo + "/manifests/" + tag, "",
                   {"Accept: application/vnd.oci.image.manifest.v1+json, "
                    "application/vnd.docker.distribution.manifest.v2+json"});
    std::vector<std::string> types;
    if (r.status != 200) {
      ADD_FAILURE() << repo << ":" << tag << ": " << r.status << " " << r.body;
      return types;
    }
    json manifest = r.Json();
    for (const json& layer : manifest["layers"]) types.push_back(layer["mediaType"]);
    EXPECT_FALSE(types.empty()) << repo << ":" << tag << ": " << r.body;
    return types;
  }

  // Submits a job with no command (the image's own CMD runs /check.sh) and expects success.
  void ExpectRuns(BerthProcess& berth, const std::string& image) {
    std::string id = berth.SubmitOk(json{{"image", image}}.dump());
    Reply done = berth.WaitTerminal(id, seconds(120));
    EXPECT_EQ(done.status, 200) << image << ": " << done.body;
    EXPECT_EQ(done.Json().value("logs", ""), kExpected) << image << ": " << done.body;
  }

  // Every unpacked copy of /data/keep in berth's store kept its user xattr.
  void ExpectXattrsKept(const BerthProcess& berth) {
    int found = 0;
    for (const auto& layer : fs::directory_iterator(berth.data_dir() / "images" / "layers")) {
      fs::path keep = layer.path() / "data" / "keep";
      if (!fs::exists(keep)) continue;
      ++found;
      char value[64] = {0};
      ssize_t n = lgetxattr(keep.c_str(), "user.berth", value, sizeof value);
      EXPECT_EQ(std::string(value, n > 0 ? static_cast<size_t>(n) : 0), "compat") << keep;
    }
    EXPECT_GT(found, 0);
  }

  fs::path tmp_;
};

// umoci builds the image: the rootfs repacked as layer 1, then `umoci insert --opaque`
// (layer 2: an opaque whiteout, written before its directory) and `umoci insert --whiteout`
// (layer 3). skopeo pushes it unchanged (gzip), recompressed with zstd, uncompressed, and
// converted to a Docker schema 2 manifest.
TEST_F(ImageCompatTest, UmociImagesThroughSkopeoConversions) {
  Run("umoci init --layout layout && umoci new --image layout:v1 && "
      "umoci unpack --image layout:v1 bundle && cp -a ctx/rootfs/. bundle/rootfs/ && "
      "umoci repack --image layout:v1 bundle && "
      "umoci config --image layout:v1 --config.cmd /bin/sh --config.cmd /check.sh && "
      "mkdir -p newold && echo c > newold/c && "
      "umoci insert --image layout:v1 --opaque newold /data/old && "
      "umoci insert --image layout:v1 --whiteout /data/gone");
  struct Variant {
    const char* flags;
    const char* layer_type;
  };
  // One registry each: skopeo reuses a blob the registry already has (or mounts one it knows
  // of in another repository) instead of converting it, which would hide the conversion.
  const std::vector<Variant> variants = {
      {"", "application/vnd.oci.image.layer.v1.tar+gzip"},
      {"--format oci --dest-compress-format zstd", "application/vnd.oci.image.layer.v1.tar+zstd"},
      {"--format v2s2", "application/vnd.docker.image.rootfs.diff.tar.gzip"}};
  std::vector<std::unique_ptr<LocalRegistry>> registries;
  for (const Variant& v : variants) {
    registries.push_back(std::make_unique<LocalRegistry>());
    ASSERT_TRUE(registries.back()->ok());
    Run(Skopeo(v.flags, "oci:layout:v1",
               "docker://" + registries.back()->host() + "/compat/umoci:v1"));
    std::vector<std::string> types = LayerTypes(*registries.back(), "compat/umoci", "v1");
    EXPECT_EQ(types.size(), 3u);  // the rootfs and two inserts
    for (const std::string& t : types) EXPECT_EQ(t, v.layer_type) << v.flags;
  }
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  for (const auto& registry : registries) ExpectRuns(berth, registry->host() + "/compat/umoci:v1");
  // Uncompressed layers: no builder here can push them to a registry. containers/image (under
  // skopeo, buildah and podman) compresses every layer it sends to one; skopeo's
  // --dest-decompress and buildah push -D apply to local destinations only (tried: the
  // registry got gzip). So skopeo's uncompressed conversion is turned back into an OCI layout
  // (keeping the layers uncompressed) and imported; pulls of uncompressed layers are covered by
  // image_pull_test.cc's images.
  Run(Skopeo("--dest-decompress", "oci:layout:v1", "dir:plain-dir") + " && " +
      Skopeo("--dest-oci-accept-uncompressed-layers", "dir:plain-dir", "oci:plain:v1"));
  std::string out;
  ASSERT_EQ(Shell("grep -c 'layer.v1.tar\"' '" + (tmp_ / "plain" / "blobs").string() +
                      "'/sha256/* | grep -v ':0$' | wc -l",
                  &out),
            0);
  EXPECT_EQ(out, "1\n") << "one manifest naming uncompressed layers";
  ASSERT_EQ(
      Shell(std::string(BERTH_BINARY) + " image import '" + (tmp_ / "plain").string() +
                "' localhost/compat/umoci-plain:v1 --data-dir '" + berth.data_dir().string() + "'",
            &out),
      0)
      << out;
  ExpectRuns(berth, "localhost/compat/umoci-plain:v1");
  ExpectXattrsKept(berth);
}

// buildah (vfs storage, chroot isolation for the RUN step, a layer per step so the RUN step's
// whiteouts are a layer of their own) builds from the Containerfile and pushes OCI and Docker
// schema 2 manifests.
TEST_F(ImageCompatTest, BuildahImagesInOciAndDockerFormats) {
  LocalRegistry registry;
  ASSERT_TRUE(registry.ok());
  const std::string repo = registry.host() + "/compat/buildah";
  Run(Buildah() + " bud -q --layers --isolation chroot -t localhost/compat/buildah:1 ctx");
  for (const char* format : {"oci", "docker"}) {
    Run(Buildah() + " push -q --signature-policy policy.json --tls-verify=false --format " +
        format + " localhost/compat/buildah:1 docker://" + repo + ":" + format);
  }
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  ExpectRuns(berth, repo + ":oci");
  ExpectRuns(berth, repo + ":docker");
  ExpectXattrsKept(berth);
}

// podman builds and saves docker-archive and oci-archive tarballs; skopeo pushes each to the
// registry, and `berth image import` takes each directly too.
TEST_F(ImageCompatTest, PodmanSavedArchivesPulledAndImported) {
  LocalRegistry registry;
  ASSERT_TRUE(registry.ok());
  const std::string repo = registry.host() + "/compat/podman";
  Run(Podman() + " build -q --isolation chroot -t localhost/compat/podman:1 ctx");
  Run(Podman() + " save -q --format docker-archive -o docker.tar localhost/compat/podman:1");
  Run(Podman() + " save -q --format oci-archive -o oci.tar localhost/compat/podman:1");
  Run(Skopeo("", "docker-archive:docker.tar", "docker://" + repo + ":docker-archive"));
  Run(Skopeo("", "oci-archive:oci.tar", "docker://" + repo + ":oci-archive"));

  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  ExpectRuns(berth, repo + ":docker-archive");
  ExpectRuns(berth, repo + ":oci-archive");
  for (const char* archive : {"docker", "oci"}) {
    std::string out;
    // A loopback registry name: should the import have failed, nothing is pulled from afar.
    std::string name = std::string("localhost/compat/imported-") + archive + ":1";
    int rc = Shell(std::string(BERTH_BINARY) + " image import '" + (tmp_ / archive).string() +
                       ".tar' " + name + " --data-dir '" + berth.data_dir().string() + "'",
                   &out);
    ASSERT_EQ(rc, 0) << out;
    ExpectRuns(berth, name);
  }
  ExpectXattrsKept(berth);
}

}  // namespace
}  // namespace berth::e2e
