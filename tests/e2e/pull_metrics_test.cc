// End-to-end: image pulls for jobs show in /metrics (issue 13: pulls, bytes and durations).
// Needs root (real crun) and /usr/bin/docker-registry.
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>
#include <sstream>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/registry_fixture.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// The value of the sample line that starts with `series` + " ", or -1.
double Sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

TEST(PullMetricsTest, PullsTheirBytesAndDurationsAreCountedByResult) {
  if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  LocalRegistry registry;
  ASSERT_TRUE(registry.ok());
  // The busybox layer is in the store already (the bundled image has it): a second layer of
  // 256 KiB that gzip cannot shrink is what this pull downloads.
  std::string noise(256 << 10, '\0');
  std::mt19937 random(42);
  for (char& c : noise) c = static_cast<char>(random());
  TestImage image;
  image.Layer(BusyboxLayer(), LayerCompression::kGzip)
      .Layer(MakeLayer({{"noise", 'f', noise}}, LayerCompression::kGzip), LayerCompression::kGzip)
      .Config(json::object());
  ASSERT_FALSE(image.Push(registry, "counted", "v1").empty());
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());

  std::string ok = berth.SubmitOk(
      json{{"image", registry.host() + "/counted:v1"}, {"command", "echo pulled"}}.dump());
  Reply done = berth.WaitTerminal(ok, seconds(60));
  ASSERT_EQ(done.status, 200) << done.body;
  std::string missing =
      berth.SubmitOk(json{{"image", registry.host() + "/nosuch:v1"}, {"command", "true"}}.dump());
  EXPECT_EQ(berth.WaitTerminal(missing, seconds(60)).status, 500);

  Reply r = Http("GET", berth.url() + "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Sample(r.body, R"(berth_image_pulls_total{result="ok"})"), 1) << r.body;
  EXPECT_GE(Sample(r.body, R"(berth_image_pulls_total{result="error"})"), 1) << r.body;
  // The new layer came over the wire; the one the store had did not.
  double bytes = Sample(r.body, "berth_image_pull_bytes_total");
  EXPECT_GE(bytes, 256 << 10) << r.body;
  EXPECT_LT(bytes, 512 << 10) << r.body;
  EXPECT_EQ(Sample(r.body, R"(berth_image_pull_duration_seconds_count{result="ok"})"), 1) << r.body;
  EXPECT_GT(Sample(r.body, R"(berth_image_pull_duration_seconds_sum{result="ok"})"), 0) << r.body;
}

}  // namespace
}  // namespace berth::e2e
