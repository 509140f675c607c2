// What a running job keeps on the node's disk (and so in its page cache, for as long as it
// runs): only what its supervision needs. Needs root (real containers).
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(JobFilesTest, ARunningJobKeepsOnlyWhatItsSupervisionNeeds) {
  if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":"echo up; sleep 30"})");
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (std::chrono::steady_clock::now() < deadline &&
         berth.Status(id).Json().value("logs", "") != "up\n") {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(berth.Status(id).Json().value("logs", ""), "up\n");
  auto dir = berth.data_dir() / "jobs" / id;
  // The monitor settles in once the first output is in the log; its record names the container
  // once the rest is done (the start's files gone, the runtime's config rewritten).
  EXPECT_GT(ContainerPid(berth, id), 0);
  EXPECT_TRUE(std::filesystem::exists(dir / "monitor.json"));
  EXPECT_TRUE(std::filesystem::exists(dir / "log"));
  EXPECT_FALSE(std::filesystem::exists(dir / "bundle" / "config.json"))
      << "the runtime read it and keeps its own copy";
  EXPECT_FALSE(std::filesystem::exists(dir / "container.pid")) << "monitor.json holds the pid";
  json mon = json::parse(ReadAll(dir / "monitor.json"));
  EXPECT_GT(mon.value("containerPid", 0), 0) << mon.dump();

  // crun's copy of the config: neither the rules nor the precompiled program (12 KB of base64)
  // stay once the job runs; crun keeps the program in its seccomp.bpf, which `crun exec` loads.
  auto state = berth.data_dir() / "runtime" / "crun" / id;
  json config = json::parse(ReadAll(state / "config.json"));
  EXPECT_FALSE(config["annotations"].contains("run.oci.seccomp_bpf_data")) << config.dump();
  EXPECT_FALSE(config["linux"].contains("seccomp"));
  EXPECT_LE(std::filesystem::file_size(state / "config.json"), 4096u) << "one page";
  EXPECT_GT(std::filesystem::file_size(state / "seccomp.bpf"), 0u);

  Http("DELETE", berth.url() + "/api/jobs/" + id, "", {"x-functions-key: " + berth.key()});
  EXPECT_EQ(berth.WaitTerminal(id, seconds(30)).Json()["state"], "Canceled");
}

}  // namespace
}  // namespace berth::e2e
