// End-to-end: start failures that no retry can cure fail the job at once, with a reason an
// anonymous caller may read (no host path of the data dir). Needs root (real crun) and
// /usr/bin/docker-registry.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/registry_fixture.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class StartFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }
};

// A job that failed after exactly one start attempt, within `within` of its submission.
void ExpectFailedOnce(BerthProcess& berth, const std::string& id, const std::string& why,
                      seconds within = seconds(10)) {
  auto start = std::chrono::steady_clock::now();
  Reply r = berth.WaitTerminal(id, seconds(60));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.status, 500) << r.body;
  json body = r.Json();
  EXPECT_EQ(body["state"], "Failed") << r.body;
  EXPECT_EQ(body["attempts"], 1) << "a permanent failure was retried: " << r.body;
  std::string reason = body.value("reason", "");
  EXPECT_NE(reason.find(why), std::string::npos) << reason;
  EXPECT_EQ(reason.find("Poison"), std::string::npos) << reason;
  EXPECT_LT(took, within) << reason;
  EXPECT_EQ(reason.find(berth.data_dir().string()), std::string::npos)
      << "the reason names a path of the data dir: " << reason;
}

TEST_F(StartFailureTest, ACommandTheImageLacksFailsAtOnce) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":["/no/such/program"]})");
  ExpectFailedOnce(berth, id, "/no/such/program");
  EXPECT_EQ(berth.ServerOutput().find("attempt=2"), std::string::npos) << berth.ServerOutput();
}

TEST_F(StartFailureTest, NoCommandInTheJobOrTheImageFailsAtOnce) {
  LocalRegistry registry;
  ASSERT_TRUE(registry.ok());
  TestImage image;
  image.Layer(BusyboxLayer(), LayerCompression::kGzip).Config(json::object());
  ASSERT_FALSE(image.Push(registry, "nocmd", "v1").empty());
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(json{{"image", registry.host() + "/nocmd:v1"}}.dump());
  ExpectFailedOnce(berth, id, "the job gives no command and the image has none");
}

size_t OnSse(char* d, size_t s, size_t n, void* p) {
  auto* text = static_cast<std::string*>(p);
  text->append(d, s * n);
  return text->find("\"state\":\"Failed\"") != std::string::npos ? 0 : s * n;  // 0 ends it
}

// A layer that cannot be unpacked (it writes through a symlink) fails the pull while its files
// sit in a staging dir under the data dir: the reason says why, but names no such path, neither
// in the status (anonymous) nor in the job's events nor in what the store keeps.
TEST_F(StartFailureTest, APullThatFailsWhileUnpackingNamesNoDataDirPath) {
  LocalRegistry registry;
  ASSERT_TRUE(registry.ok());
  TestImage image;
  image.Layer(BusyboxLayer(), LayerCompression::kGzip)
      .Layer(
          MakeLayer({{"evil", 'l', "", "/etc"}, {"evil/pwned", 'f', "x"}}, LayerCompression::kGzip),
          LayerCompression::kGzip)
      .Config({{"Cmd", {"true"}}});
  ASSERT_FALSE(image.Push(registry, "unpack", "v1").empty());
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string events;
  std::thread reader([&] {
    CURL* c = curl_easy_init();
    std::string url = berth.url() + "/api/events?code=" + berth.key();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnSse);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &events);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_perform(c);
    curl_easy_cleanup(c);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the stream is open
  std::string id = berth.SubmitOk(json{{"image", registry.host() + "/unpack:v1"}}.dump());
  ExpectFailedOnce(berth, id, "ImagePullFailed");
  reader.join();
  std::string reason = berth.Status(id).Json().value("reason", "");
  EXPECT_NE(reason.find("evil"), std::string::npos) << reason;
  EXPECT_NE(events.find("ImagePullFailed"), std::string::npos) << events;
  EXPECT_EQ(events.find(berth.data_dir().string()), std::string::npos)
      << "the job's events name a path of the data dir: " << events;
  berth.Stop();
  std::string db =
      ReadAll(berth.data_dir() / "berth.db") + ReadAll(berth.data_dir() / "berth.db-wal");
  EXPECT_NE(db.find("ImagePullFailed"), std::string::npos);
  EXPECT_EQ(db.find(berth.data_dir().string()), std::string::npos)
      << "the stored reason names a path of the data dir";
}

}  // namespace
}  // namespace berth::e2e
