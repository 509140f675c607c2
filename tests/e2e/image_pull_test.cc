// End-to-end: pulling images from Debian's docker-registry on loopback, with images the tests
// build and push themselves. Needs root (real containers), /usr/bin/docker-registry, htpasswd
// (apache2-utils) and openssl. Never talks to anything but 127.0.0.1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "images/oci_image.h"
#include "images/registry_auth.h"
#include "tests/e2e/berth_process.h"
#include "tests/e2e/registry_fixture.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::seconds;

class ImagePullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
    if (access("/usr/bin/docker-registry", X_OK) != 0) {
      GTEST_FAIL() << "needs docker-registry (scripts/install-deps.sh installs it)";
    }
    std::string tmpl = "/tmp/berth-pull-XXXXXX";
    tmp_ = mkdtemp(tmpl.data());
    // The image commands refuse a dir that holds no berth data: this one is an image store.
    fs::create_directories(tmp_ / "data" / "images");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  // `berth image ARGS... --data-dir <data>`; returns the exit code, output in `out`.
  int Image(const std::vector<std::string>& args, std::string* out, const fs::path& data = "") {
    std::string cmd = std::string(BERTH_BINARY) + " image";
    for (const std::string& a : args) cmd += " '" + a + "'";
    cmd += " --data-dir '" + (data.empty() ? (tmp_ / "data").string() : data.string()) + "'";
    return Shell(cmd, out);
  }

  std::string Settings(const json& values) {
    fs::path path = tmp_ / ("settings-" + std::to_string(++files_) + ".json");
    std::ofstream(path) << json{{"IsEncrypted", false}, {"Values", values}}.dump();
    return path.string();
  }

  std::string AuthFile(const std::string& host, const std::string& user,
                       const std::string& password) {
    fs::path path = tmp_ / ("auth-" + std::to_string(++files_) + ".json");
    std::ofstream(path)
        << json{{"auths", {{host, {{"auth", Base64Encode(user + ":" + password)}}}}}}.dump();
    return path.string();
  }

  // The store under the CLI's data dir holds nothing at all.
  void ExpectEmptyStore() {
    fs::path images = tmp_ / "data" / "images";
    EXPECT_EQ(CountEntries(images / "layers"), 0u);
    EXPECT_EQ(CountEntries(images / "blobs" / "sha256"), 0u);
    EXPECT_EQ(CountEntries(images / "tmp"), 0u);
    std::string out;
    Image({"ls"}, &out);
    EXPECT_EQ(out.find("127.0.0.1"), std::string::npos) << out;
  }

  fs::path tmp_;
  int files_ = 0;
};

std::string HostArch() { return std::string(HostArchitecture()); }

TEST_F(ImagePullTest, JobsRunFromOciDockerAndIndexImagesWithTheirConfig) {
  LocalRegistry registry;
  ASSERT_TRUE(registry.ok());
  const std::string busybox = BusyboxLayer();
  // OCI: gzip base, a zstd layer, an uncompressed layer whose whiteout deletes a file.
  TestImage oci;
  oci.Layer(busybox, LayerCompression::kGzip)
      .Layer(MakeLayer({{"data", 'd'},
                        {"data/z", 'f', "zstd-data"},
                        {"data/gone", 'f', "doomed"},
                        {"work", 'd'}},
                       LayerCompression::kZstd),
             LayerCompression::kZstd)
      .Layer(MakeLayer({{"data", 'd'}, {"data/.wh.gone", 'f'}, {"data/plain", 'f', "plain"}},
                       LayerCompression::kNone),
             LayerCompression::kNone)
      .Config({{"Entrypoint", {"/bin/sh", "-c"}},
               {"Cmd",
                {"echo \"$GREETING $(pwd) $(id -u):$(id -g) $(cat /data/z) $(cat /data/plain) "
                 "$(test -e /data/gone && echo present || echo absent)\""}},
               {"Env", {"GREETING=hello", "PATH=/bin:/usr/bin"}},
               {"WorkingDir", "/work"},
               {"User", "1000:1001"}},
              HostArch());
  ASSERT_FALSE(oci.Push(registry, "oci-img", "v1").empty());
  TestImage docker(TestImage::Format::kDocker);
  docker.Layer(busybox, LayerCompression::kGzip)
      .Layer(MakeLayer({{"msg", 'f', "from docker schema 2"}}, LayerCompression::kGzip),
             LayerCompression::kGzip)
      .Config({{"Cmd", {"cat", "/msg"}}}, HostArch());
  std::string docker_digest = docker.Push(registry, "docker-img", "v1");
  ASSERT_FALSE(docker_digest.empty());
  TestImage host, other;
  host.Layer(busybox, LayerCompression::kGzip)
      .Layer(MakeLayer({{"arch", 'f', "host"}}, LayerCompression::kGzip), LayerCompression::kGzip)
      .Config({{"Cmd", {"cat", "/arch"}}}, HostArch());
  std::string other_arch = HostArch() == "amd64" ? "arm64" : "amd64";
  other.Layer(MakeLayer({{"arch", 'f', "other"}}, LayerCompression::kGzip), LayerCompression::kGzip)
      .Config({{"Cmd", {"cat", "/arch"}}}, other_arch);
  ASSERT_FALSE(
      PushIndex(registry, "multi", "v1", {{&other, other_arch}, {&host, HostArch()}}).empty());

  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  const std::string r = registry.host() + "/";
  std::string oci_job = berth.SubmitOk(json{{"image", r + "oci-img:v1"}}.dump());
  std::string docker_job =
      berth.SubmitOk(json{{"image", r + "docker-img@" + docker_digest}}.dump());
  std::string multi_job = berth.SubmitOk(json{{"image", r + "multi:v1"}}.dump());

  Reply done = berth.WaitTerminal(oci_job, seconds(60));
  EXPECT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.Json()["logs"], "hello /work 1000:1001 zstd-data plain absent\n") << done.body;
  done = berth.WaitTerminal(docker_job, seconds(60));
  EXPECT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.Json()["logs"], "from docker schema 2") << done.body;
  done = berth.WaitTerminal(multi_job, seconds(60));
  EXPECT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.Json()["logs"], "host") << done.body;

  Reply images = Http("GET", berth.url() + "/api/images", "", {"x-functions-key: " + berth.key()});
  ASSERT_EQ(images.status, 200) << images.body;
  std::string listed = images.body;
  for (const char* name : {"oci-img:v1", "docker-img@sha256:", "multi:v1", "library/busybox"}) {
    EXPECT_NE(listed.find(name), std::string::npos) << name << " in " << listed;
  }
  // The shared busybox layer is stored once.
  EXPECT_EQ(CountEntries(berth.data_dir() / "images" / "layers"), 5u);
}

TEST_F(ImagePullTest, FailedPullsFailCleanlyAndLeaveNothingBehind) {
  LocalRegistry registry;
  ASSERT_TRUE(registry.ok());
  const std::string r = registry.host() + "/";
  auto push = [&](const std::string& repo, std::vector<LayerEntry> entries) {
    TestImage image;
    image.Layer(MakeLayer(entries, LayerCompression::kGzip), LayerCompression::kGzip);
    EXPECT_FALSE(image.Push(registry, repo, "v1").empty());
    return image;
  };
  std::string out;
  // Missing tag.
  push("present", {{"a", 'f', "a"}});
  EXPECT_NE(Image({"pull", r + "present:nope"}, &out), 0);
  EXPECT_NE(out.find("ImagePullFailed: " + r + "present:nope"), std::string::npos) << out;
  EXPECT_NE(out.find("MANIFEST_UNKNOWN"), std::string::npos) << out;
  ExpectEmptyStore();
  // Digest mismatch: the registry's copy of the layer is altered, same size.
  TestImage corrupt = push("corrupt", {{"file", 'f', std::string(4096, 'x')}});
  fs::path blob = registry.BlobDataPath(DigestOf(corrupt.layers()[0]));
  {
    std::fstream f(blob, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x5a');
  }
  EXPECT_NE(Image({"pull", r + "corrupt:v1"}, &out), 0);
  EXPECT_NE(out.find("digest mismatch"), std::string::npos) << out;
  ExpectEmptyStore();
  // Truncated blob.
  TestImage truncated = push("truncated", {{"file", 'f', std::string(8192, 'y')}});
  fs::path tblob = registry.BlobDataPath(DigestOf(truncated.layers()[0]));
  fs::resize_file(tblob, fs::file_size(tblob) / 2);
  EXPECT_NE(Image({"pull", r + "truncated:v1"}, &out), 0);
  EXPECT_NE(out.find("size mismatch"), std::string::npos) << out;
  ExpectEmptyStore();
  // Malicious layers: path traversal, and writing through an absolute symlink.
  fs::path outside = tmp_ / "outside";
  fs::create_directories(outside);
  push("traversal",
       {{"ok", 'f', "x"}, {"../../../../../../.." + outside.string() + "/pwned", 'f', "x"}});
  EXPECT_NE(Image({"pull", r + "traversal:v1"}, &out), 0);
  EXPECT_NE(out.find("ImagePullFailed"), std::string::npos) << out;
  EXPECT_NE(out.find(".."), std::string::npos) << out;
  ExpectEmptyStore();
  push("symlink", {{"evil", 'l', "", outside.string()}, {"evil/pwned", 'f', "x"}});
  EXPECT_NE(Image({"pull", r + "symlink:v1"}, &out), 0);
  EXPECT_NE(out.find("ImagePullFailed"), std::string::npos) << out;
  ExpectEmptyStore();
  EXPECT_EQ(CountEntries(outside), 0u);

  // A job on a missing tag fails with the registry's reason.
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(json{{"image", r + "present:nope"}, {"command", "true"}}.dump());
  Reply done = berth.WaitTerminal(id, seconds(60));
  ASSERT_EQ(done.status, 500) << done.body;
  std::string reason = done.Json().value("reason", "");
  EXPECT_NE(reason.find("ImagePullFailed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("MANIFEST_UNKNOWN"), std::string::npos) << reason;
}

TEST_F(ImagePullTest, BasicAuthWithHtpasswd) {
  LocalRegistry registry({RegistryAuth::Mode::kBasic, "alice", "s3cret", nullptr});
  ASSERT_TRUE(registry.ok());
  TestImage image;
  image.Layer(MakeLayer({{"f", 'f', "basic"}}, LayerCompression::kGzip), LayerCompression::kGzip);
  ASSERT_FALSE(image.Push(registry, "private/app", "v1").empty());
  const std::string ref = registry.host() + "/private/app:v1";
  std::string out;
  EXPECT_NE(Image({"pull", ref}, &out), 0);
  EXPECT_NE(out.find("requires authentication"), std::string::npos) << out;
  std::string wrong = Settings({{"RegistryAuthFile", AuthFile(registry.host(), "alice", "nope")}});
  EXPECT_NE(Image({"pull", "--settings", wrong, ref}, &out), 0);
  EXPECT_NE(out.find("were refused"), std::string::npos) << out;
  ExpectEmptyStore();
  std::string right =
      Settings({{"RegistryAuthFile", AuthFile(registry.host(), "alice", "s3cret")}});
  EXPECT_EQ(Image({"pull", "--settings", right, ref}, &out), 0) << out;
  EXPECT_EQ(Image({"ls"}, &out), 0);
  EXPECT_NE(out.find(ref), std::string::npos) << out;
}

TEST_F(ImagePullTest, BearerTokenFlow) {
  TokenIssuer issuer(tmp_, "bob", "t0ken-pass");
  LocalRegistry registry({RegistryAuth::Mode::kToken, "", "", &issuer});
  ASSERT_TRUE(registry.ok());
  TestImage image;
  image.Layer(MakeLayer({{"f", 'f', "token"}}, LayerCompression::kGzip), LayerCompression::kGzip);
  ASSERT_FALSE(image.Push(registry, "team/tool", "v2").empty()) << registry.Log();
  const std::string ref = registry.host() + "/team/tool:v2";
  std::string out;
  std::string wrong = Settings({{"RegistryAuthFile", AuthFile(registry.host(), "bob", "nope")}});
  EXPECT_NE(Image({"pull", "--settings", wrong, ref}, &out), 0);
  EXPECT_NE(out.find("token service"), std::string::npos) << out;
  EXPECT_NE(out.find("refused"), std::string::npos) << out;
  ExpectEmptyStore();
  std::string right =
      Settings({{"RegistryAuthFile", AuthFile(registry.host(), "bob", "t0ken-pass")}});
  int before = issuer.requests();
  EXPECT_EQ(Image({"pull", "--settings", right, ref}, &out), 0) << out << registry.Log();
  EXPECT_GT(issuer.requests(), before);
}

TEST_F(ImagePullTest, TenJobsOnAnAbsentImageShareOnePull) {
  LocalRegistry registry;
  ASSERT_TRUE(registry.ok());
  TestImage image;
  image.Layer(BusyboxLayer(), LayerCompression::kGzip)
      .Layer(MakeLayer({{"big", 'f', std::string(8 << 20, 'b')}}, LayerCompression::kGzip),
             LayerCompression::kGzip)
      .Config({{"Cmd", {"sh", "-c", "wc -c < /big"}}}, HostArch());
  ASSERT_FALSE(image.Push(registry, "shared", "v1").empty());
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::vector<std::string> ids(10);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ids.size(); ++i) {
    threads.emplace_back([&, i] {
      ids[i] = berth.SubmitOk(json{{"image", registry.host() + "/shared:v1"}}.dump());
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& id : ids) {
    Reply done = berth.WaitTerminal(id, seconds(90));
    EXPECT_EQ(done.status, 200) << done.body;
    EXPECT_EQ(done.Json()["logs"], "8388608\n");
  }
  EXPECT_EQ(registry.ManifestGets("shared"), 1) << registry.Log();
}

TEST_F(ImagePullTest, PruneFreesDiskAndKeepsWhatRunningJobsUse) {
  LocalRegistry registry;
  ASSERT_TRUE(registry.ok());
  auto build = [&](const std::string& repo, char fill) {
    TestImage image;
    image.Layer(BusyboxLayer(), LayerCompression::kGzip)
        .Layer(MakeLayer({{"payload", 'f', std::string(4 << 20, fill)}}, LayerCompression::kGzip),
               LayerCompression::kGzip)
        .Config({{"Cmd", {"true"}}}, HostArch());
    EXPECT_FALSE(image.Push(registry, repo, "v1").empty());
  };
  build("keep", 'k');
  build("drop", 'd');
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  const std::string r = registry.host() + "/";
  std::string running = berth.SubmitOk(json{
      {"image", r + "keep:v1"}, {"command", {"/bin/sh", "-c", "sleep 5; cat /payload | wc -c"}}}
                                           .dump());
  std::string finished = berth.SubmitOk(json{{"image", r + "drop:v1"}}.dump());
  ASSERT_EQ(berth.WaitTerminal(finished, seconds(60)).status, 200);
  // Wait until the long job runs.
  for (int i = 0; i < 200 && berth.Status(running).Json().value("state", "") != "Running"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  fs::path layers = berth.data_dir() / "images" / "layers";
  EXPECT_EQ(CountEntries(layers), 3u);  // busybox (the bundled one's blob), two payloads
  std::string out;
  ASSERT_EQ(Image({"rm", r + "keep:v1", r + "drop:v1"}, &out, berth.data_dir()), 0) << out;
  EXPECT_NE(out.find("freed"), std::string::npos) << out;
  // drop's payload layer is gone; keep's stays while its job runs; busybox is still tagged.
  EXPECT_EQ(CountEntries(layers), 2u) << out;
  Reply done = berth.WaitTerminal(running, seconds(60));
  EXPECT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.Json()["logs"], "4194304\n");
  ASSERT_EQ(Image({"prune"}, &out, berth.data_dir()), 0) << out;
  EXPECT_EQ(CountEntries(layers), 1u) << out;  // the bundled busybox
  EXPECT_NE(out.find("removed 1 layers"), std::string::npos) << out;
}

// --- Registry policy (issue 10) ---

TEST_F(ImagePullTest, AllowedRegistriesRefusesOtherRegistriesBeforeConnecting) {
  LocalRegistry registry;
  ASSERT_TRUE(registry.ok());
  TestImage image;
  image.Layer(BusyboxLayer(), LayerCompression::kGzip).Config({{"Cmd", {"true"}}}, HostArch());
  ASSERT_FALSE(image.Push(registry, "app", "v1").empty());
  const std::string ref = registry.host() + "/app:v1";
  std::string out;
  std::string elsewhere = Settings({{"AllowedRegistries", "registry.example.com, *.corp.example"}});
  EXPECT_NE(Image({"pull", "--settings", elsewhere, ref}, &out), 0);
  EXPECT_NE(out.find("not in AllowedRegistries"), std::string::npos) << out;
  EXPECT_EQ(registry.ManifestGets("app"), 0) << registry.Log();
  ExpectEmptyStore();

  // The daemon applies it to jobs: any key holder could otherwise make it connect anywhere.
  BerthProcess berth(json{{"AllowedRegistries", "registry.example.com"}});
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(json{{"image", ref}}.dump());
  Reply done = berth.WaitTerminal(id, seconds(60));
  EXPECT_EQ(done.status, 500) << done.body;
  EXPECT_NE(done.Json().value("reason", "").find("AllowedRegistries"), std::string::npos)
      << done.body;
  EXPECT_EQ(registry.ManifestGets("app"), 0) << registry.Log();

  std::string listed = Settings({{"AllowedRegistries", "registry.example.com," + registry.host()}});
  EXPECT_EQ(Image({"pull", "--settings", listed, ref}, &out), 0) << out;
}

// A registry on 127.0.0.1 whose Bearer challenge names a plain-http realm on another host
// (127.0.0.2): the credentials for the registry must not go there.
TEST_F(ImagePullTest, BearerRealmOnAnotherHostOverHttpGetsNoCredentials) {
  ScriptedServer realm("127.0.0.2", [](const std::string&, const std::string&) {
    return ScriptedServer::Answer{200, {"Content-Type: application/json"}, R"({"token":"t"})"};
  });
  const std::string realm_url = "http://" + realm.host() + "/token";
  ScriptedServer registry("127.0.0.1", [&](const std::string&, const std::string&) {
    return ScriptedServer::Answer{
        401,
        {"WWW-Authenticate: Bearer realm=\"" + realm_url + "\",service=\"reg\"",
         "Content-Type: application/json"},
        R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})"};
  });
  std::string creds = Settings({{"RegistryAuthFile", AuthFile(registry.host(), "u", "secret")}});
  std::string out;
  EXPECT_NE(Image({"pull", "--settings", creds, registry.host() + "/app:v1"}, &out), 0);
  EXPECT_NE(out.find("token realm"), std::string::npos) << out;
  EXPECT_NE(out.find(realm_url), std::string::npos) << out;
  EXPECT_TRUE(realm.Requests().empty()) << realm.Requests()[0];
  EXPECT_FALSE(registry.Requests().empty());
  ExpectEmptyStore();
}

TEST_F(ImagePullTest, DecompressionBombFailsThePullCleanly) {
  LocalRegistry registry;
  ASSERT_TRUE(registry.ok());
  TestImage bomb;  // 64 MiB of zeros: about 64 KiB gzipped
  bomb.Layer(BusyboxLayer(), LayerCompression::kGzip)
      .Layer(MakeLayer({{"zeros", 'f', std::string(64 << 20, '\0')}}, LayerCompression::kGzip),
             LayerCompression::kGzip)
      .Config({{"Cmd", {"true"}}}, HostArch());
  ASSERT_FALSE(bomb.Push(registry, "bomb", "v1").empty());
  std::string out;
  std::string capped = Settings({{"ImagePullMaxBytes", 16 << 20}});
  EXPECT_NE(Image({"pull", "--settings", capped, registry.host() + "/bomb:v1"}, &out), 0);
  EXPECT_NE(out.find("ImagePullFailed"), std::string::npos) << out;
  EXPECT_NE(out.find("larger than 16777216 bytes unpacked (ImagePullMaxBytes)"), std::string::npos)
      << out;
  ExpectEmptyStore();
  std::string roomy = Settings({{"ImagePullMaxBytes", 128 << 20}});
  EXPECT_EQ(Image({"pull", "--settings", roomy, registry.host() + "/bomb:v1"}, &out), 0) << out;
}

// A registry that trickles a layer just above the stall limit (1 KiB/s) would hold a pull for
// hours; the pull deadline ends it.
TEST_F(ImagePullTest, TricklingRegistryHitsThePullDeadline) {
  const std::string layer =
      MakeLayer({{"big", 'f', std::string(1 << 20, 'x')}}, LayerCompression::kNone);
  const std::string config = json{{"architecture", HostArch()},
                                  {"os", "linux"},
                                  {"config", {{"Cmd", {"true"}}}},
                                  {"rootfs", {{"type", "layers"}, {"diff_ids", {DigestOf(layer)}}}}}
                                 .dump();
  const std::string manifest = json{
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
        {"digest", DigestOf(config)},
        {"size", config.size()}}},
      {"layers",
       {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
         {"digest", DigestOf(layer)},
         {"size", layer.size()}}}}}.dump();
  ScriptedServer registry("127.0.0.1", [&](const std::string& target, const std::string&) {
    ScriptedServer::Answer a;
    if (target == "/v2/slow/manifests/v1") {
      a.headers = {"Content-Type: application/vnd.oci.image.manifest.v1+json",
                   "Docker-Content-Digest: " + DigestOf(manifest)};
      a.body = manifest;
    } else if (target == "/v2/slow/blobs/" + DigestOf(config)) {
      a.body = config;
    } else if (target == "/v2/slow/blobs/" + DigestOf(layer)) {
      a.body = layer;
      a.bytes_per_second = 8 << 10;  // 128 s for the whole layer
    } else {
      a.status = 404;
    }
    return a;
  });
  std::string out;
  std::string settings = Settings({{"ImagePullTimeoutSeconds", 3}});
  auto start = std::chrono::steady_clock::now();
  EXPECT_NE(Image({"pull", "--settings", settings, registry.host() + "/slow:v1"}, &out), 0);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, seconds(30)) << out;
  EXPECT_NE(out.find("did not finish within 3 s (ImagePullTimeoutSeconds)"), std::string::npos)
      << out;
  ExpectEmptyStore();
}

}  // namespace
}  // namespace berth::e2e
