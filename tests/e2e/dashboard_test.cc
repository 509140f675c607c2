// End-to-end: the dashboard in a real headless Chromium (Debian's), driven by playwright-core
// (tests/browser/dashboard.mjs), against the real daemon running real containers. Screenshots
// of each page are kept in <build>/browser-artifacts/.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/child_process.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

TEST(DashboardTest, KeyJobsSubmitLiveLogCancelAndFailedJobInChromium) {
  if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/chromium")) << "apt-get install chromium";
  std::filesystem::path script = std::filesystem::path(BERTH_SOURCE_DIR) / "tests/browser";
  ASSERT_TRUE(std::filesystem::exists(script / "node_modules/playwright-core/package.json"))
      << "run scripts/install-deps.sh (npm ci in tests/browser)";

  BerthProcess berth(json{{"CancelGraceSeconds", "2"}});
  ASSERT_FALSE(berth.url().empty());
  std::string failed =
      berth.SubmitOk(R"({"image":"busybox","command":"echo failing on purpose; exit 7"})");
  ASSERT_EQ(berth.WaitTerminal(failed, seconds(60)).status, 500);

  std::filesystem::path artifacts = std::filesystem::path(BERTH_BUILD_DIR) / "browser-artifacts";
  std::filesystem::remove_all(artifacts);
  std::string out;
  int code = RunProgram({"node", (script / "dashboard.mjs").string(), berth.url(), berth.key(),
                         failed, artifacts.string()},
                        "", &out);
  EXPECT_EQ(code, 0) << out << "\nserver:\n" << berth.ServerOutput();
  EXPECT_NE(out.find("dashboard: ok"), std::string::npos) << out;

  // What the browser did, seen from the server: one job succeeded with the default job's log,
  // one was canceled, and the screenshots are real PNGs.
  Reply list =
      Http("GET", berth.url() + "/api/jobs?limit=100", "", {"x-functions-key: " + berth.key()});
  ASSERT_EQ(list.status, 200);
  std::map<std::string, int> states;
  json listed = list.Json();
  for (const auto& j : listed["jobs"]) states[j["state"].get<std::string>()]++;
  EXPECT_EQ(states["Succeeded"], 2) << list.body;  // the default job and the live-list job
  EXPECT_EQ(states["Canceled"], 1) << list.body;
  EXPECT_EQ(states["Failed"], 1) << list.body;
  for (const char* name : {"01-key", "02-jobs", "03-failed-job", "05-running-job",
                           "06-succeeded-job", "07-canceled-job", "09-images", "10-narrow"}) {
    std::ifstream png(artifacts / (std::string(name) + ".png"), std::ios::binary);
    char magic[4] = {};
    png.read(magic, 4);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG") << name;
  }
}

TEST(DashboardTest, PageAndAssetsAreServedFromTheBinary) {
  if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  Reply index = Http("GET", berth.url() + "/");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.headers["content-type"], "text/html; charset=utf-8");
  for (const char* id : {"key-input", "key-save", "submit-image", "submit-command", "submit-button",
                         "job-log", "cancel-button"}) {
    EXPECT_NE(index.body.find("data-testid=\"" + std::string(id) + "\""), std::string::npos) << id;
  }
  Reply js = Http("GET", berth.url() + "/ui/app.js");
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.headers["content-type"], "text/javascript; charset=utf-8");
  std::ifstream src(std::filesystem::path(BERTH_SOURCE_DIR) / "web/app.js");
  std::string want((std::istreambuf_iterator<char>(src)), std::istreambuf_iterator<char>());
  EXPECT_EQ(js.body, want) << "the binary serves the web/ it was built from";
  EXPECT_EQ(Http("GET", berth.url() + "/ui/nope.js").status, 404);
  // The events stream needs the key.
  EXPECT_EQ(Http("GET", berth.url() + "/api/events").status, 401);
}

}  // namespace
}  // namespace berth::e2e
