// End-to-end: image pulls run on their own threads. A registry that trickles its layers holds
// the jobs that need it, not the jobs whose images are already on the node. Needs root (real
// crun); the registry is a scripted server on 127.0.0.1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "images/oci_image.h"
#include "tests/e2e/berth_process.h"
#include "tests/e2e/registry_fixture.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

TEST(PullThreadsTest, SlowPullsDoNotHoldBackAJobWhoseImageIsHere) {
  if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  const std::string layer =
      MakeLayer({{"big", 'f', std::string(1 << 20, 'x')}}, LayerCompression::kNone);
  const std::string config = json{{"architecture", std::string(HostArchitecture())},
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
  // Any repository: its manifest and config at once, its layer at 8 KiB/s (128 s).
  ScriptedServer registry("127.0.0.1", [&](const std::string& target, const std::string&) {
    ScriptedServer::Answer a;
    if (target.ends_with("/manifests/v1")) {
      a.headers = {"Content-Type: application/vnd.oci.image.manifest.v1+json",
                   "Docker-Content-Digest: " + DigestOf(manifest)};
      a.body = manifest;
    } else if (target.ends_with("/blobs/" + DigestOf(config))) {
      a.body = config;
    } else if (target.ends_with("/blobs/" + DigestOf(layer))) {
      a.body = layer;
      a.bytes_per_second = 8 << 10;
    } else {
      a.status = 404;
    }
    return a;
  });
  BerthProcess berth(
      json{{"ImagePullTimeoutSeconds", 40}, {"InsecureRegistries", registry.host()}});
  ASSERT_FALSE(berth.url().empty());
  // More slow pulls than there are start threads (4), each of its own image.
  std::vector<std::string> slow;
  for (int i = 0; i < 6; ++i) {
    slow.push_back(berth.SubmitOk(
        json{{"image", registry.host() + "/slow" + std::to_string(i) + ":v1"}}.dump()));
  }
  auto pulling = [&] {
    int n = 0;
    for (const auto& id : slow) {
      n += berth.Status(id).Json().value("reason", "").starts_with("pulling image");
    }
    return n;
  };
  auto deadline = std::chrono::steady_clock::now() + seconds(20);
  while (pulling() < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GE(pulling(), 4) << berth.ServerOutput();
  auto start = std::chrono::steady_clock::now();
  std::string quick = berth.SubmitOk(R"({"image":"busybox","command":"echo quick"})");
  Reply done = berth.WaitTerminal(quick, seconds(60));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(done.Json()["state"], "Succeeded") << done.body;
  EXPECT_EQ(done.Json()["logs"], "quick\n") << done.body;
  EXPECT_LT(took, seconds(10)) << "a job whose image is here waited for other jobs' pulls";
  // The slow ones are still pulling, each delivered once (their leases are kept).
  for (const auto& id : slow) {
    Reply r = berth.Status(id);
    EXPECT_EQ(r.Json()["state"], "Pending") << r.body;
    EXPECT_EQ(r.Json()["attempts"], 1) << r.body;
  }
  // A graceful stop would wait for the pulls in flight (up to their deadline).
  berth.Stop(/*hard=*/true);
}

}  // namespace
}  // namespace berth::e2e
