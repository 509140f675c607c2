// End-to-end: what one running job costs. A job's monitor (berth-shim) lives as long as the job,
// so its own memory is paid once per running job (bench P4); this keeps it small.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A field in KiB of one of the process's /proc files ("smaps_rollup", "status"), or -1.
long ProcKib(pid_t pid, const std::string& file, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

TEST(DensityTest, AMonitorOfARunningJobKeepsUnder110KiBOfItsOwnMemory) {
  if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  BerthProcess berth(json{{"CancelGraceSeconds", "1"}});
  ASSERT_FALSE(berth.url().empty());
  // It writes once, so the monitor has read output before the measure, then waits.
  std::string id =
      berth.SubmitOk(R"({"image":"busybox","command":"echo started; exec sleep 600"})");
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (berth.Status(id).Json().value("logs", "") != "started\n" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(berth.Status(id).Json().value("logs", ""), "started\n");
  std::this_thread::sleep_for(milliseconds(500));  // a few of its OOM-counter polls
  auto mon = json::parse(ReadAll(berth.data_dir() / "jobs" / id / "monitor.json"), nullptr, false);
  ASSERT_FALSE(mon.is_discarded());
  pid_t pid = mon.value("pid", 0);
  ASSERT_GT(pid, 0);
  // Its private (anonymous) pages: heap, stack, data. 320 KiB when it was a PIE on the shared
  // libc that kept its start-up heap and stack, 132 KiB while glibc's thread cache still held
  // the freed start-up heap (80 KiB now); the binary's text is shared by every monitor.
  long anon = ProcKib(pid, "smaps_rollup", "Anonymous");
  ASSERT_GE(anon, 0);
  EXPECT_LT(anon, 110) << "KiB of anonymous memory in the monitor of a running job";

  // And it still does its work: the job is stopped, its exit recorded, its log whole.
  Reply c =
      Http("DELETE", berth.url() + "/api/jobs/" + id, "", {"x-functions-key: " + berth.key()});
  ASSERT_EQ(c.status, 202) << c.body;  // a running job: the stop is under way
  Reply r = berth.WaitTerminal(id, seconds(30));
  EXPECT_EQ(r.Json()["state"], "Canceled") << r.body;
  EXPECT_EQ(r.Json()["logs"], "started\n");
}

// The monitor mounts the job's root in a mount namespace of its own, but the container's namespace
// holds that root once it runs: a monitor that stayed in its own held a copy of every host mount,
// the idmapped layers and the bundle's tmpfs for the job's whole run (about 13 KiB of kernel memory
// per job). It goes back to the namespace it started in, and still stops the job and deletes the
// container (each runtime verb then gets a private namespace of its own).
TEST(DensityTest, AMonitorOfARunningJobHoldsNoMountNamespaceOfItsOwn) {
  if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  BerthProcess berth(json{{"CancelGraceSeconds", "1"}});
  ASSERT_FALSE(berth.url().empty());
  std::string id =
      berth.SubmitOk(R"({"image":"busybox","command":"echo started; exec sleep 600"})");
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (berth.Status(id).Json().value("logs", "") != "started\n" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(berth.Status(id).Json().value("logs", ""), "started\n");
  // The monitor has settled in once its record names the container.
  ASSERT_GT(ContainerPid(berth, id), 0);
  auto mon = json::parse(ReadAll(berth.data_dir() / "jobs" / id / "monitor.json"), nullptr, false);
  ASSERT_FALSE(mon.is_discarded());
  pid_t pid = mon.value("pid", 0);
  ASSERT_GT(pid, 0);
  auto ns = [](const std::string& proc) {
    std::error_code ec;
    return std::filesystem::read_symlink(proc + "/ns/mnt", ec).string();
  };
  std::string ours = ns("/proc/self");
  ASSERT_FALSE(ours.empty());
  EXPECT_EQ(ns("/proc/" + std::to_string(pid)), ours) << "the monitor's mount namespace";
  // The idmapped layers' mount points went with the namespace (when there were any).
  EXPECT_FALSE(std::filesystem::exists(berth.data_dir() / "jobs" / id / "lowers"));

  // The stop still reaches the job, and `delete` (in a namespace of its own) removes the
  // container: the job's cgroup is gone once it ended.
  Reply c =
      Http("DELETE", berth.url() + "/api/jobs/" + id, "", {"x-functions-key: " + berth.key()});
  ASSERT_EQ(c.status, 202) << c.body;
  Reply r = berth.WaitTerminal(id, seconds(30));
  EXPECT_EQ(r.Json()["state"], "Canceled") << r.body;
  EXPECT_EQ(r.Json()["logs"], "started\n");
  EXPECT_FALSE(std::filesystem::exists(berth.data_dir() / "runtime" / "crun" / id))
      << "the runtime's state of the ended container";
}

#if BERTH_SHIM_WAIT_BUILT  // x86-64 only (CMakeLists.txt); elsewhere the monitor waits itself
// Once the job has been quiet for a second, the monitor (the same process) waits as
// berth-shim-wait: no libc, a few KiB of memory and page tables instead of berth-shim's
// ~80 KiB and ~44 KiB. Output, signals and the end bring berth-shim back, which handles them.
TEST(DensityTest, AQuietJobsMonitorWaitsInUnder24KiBOfMemoryAnd32KiBOfPageTables) {
  if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  BerthProcess berth(json{{"CancelGraceSeconds", "1"}});
  ASSERT_FALSE(berth.url().empty());
  // A line, a quiet while, a marker-looking line cut by a pause (the escaper's state crosses
  // the hand-over), then a wait.
  std::string id = berth.SubmitOk(
      R"({"image":"busybox","command":"echo started; sleep 2; printf %s '--- ber'; sleep 2; )"
      R"(echo 'th: fake'; exec sleep 600"})");
  auto logs = [&] { return berth.Status(id).Json().value("logs", ""); };
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (logs() != "started\n" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(logs(), "started\n");
  std::this_thread::sleep_for(milliseconds(1500));  // quiet for over a second
  auto mon = json::parse(ReadAll(berth.data_dir() / "jobs" / id / "monitor.json"), nullptr, false);
  ASSERT_FALSE(mon.is_discarded());
  pid_t pid = mon.value("pid", 0);
  ASSERT_GT(pid, 0);
  long anon = ProcKib(pid, "smaps_rollup", "Anonymous");
  long tables = ProcKib(pid, "status", "VmPTE");
  ASSERT_GE(anon, 0);
  ASSERT_GE(tables, 0);
  EXPECT_LT(anon, 24) << "KiB of anonymous memory in the monitor of a quiet job";
  EXPECT_LE(tables, 32) << "KiB of page tables of the monitor of a quiet job";

  // Its output after the hand-over reaches the log, escaped as one piece would have been.
  deadline = std::chrono::steady_clock::now() + seconds(30);
  while (logs() != "started\n\\--- berth: fake\n" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(logs(), "started\n\\--- berth: fake\n");
  std::this_thread::sleep_for(milliseconds(1500));  // quiet again
  // A stop reaches the job through the waiting monitor; its end is recorded as always.
  Reply c =
      Http("DELETE", berth.url() + "/api/jobs/" + id, "", {"x-functions-key: " + berth.key()});
  ASSERT_EQ(c.status, 202) << c.body;
  Reply r = berth.WaitTerminal(id, seconds(30));
  EXPECT_EQ(r.Json()["state"], "Canceled") << r.body;
  EXPECT_EQ(r.Json()["logs"], "started\n\\--- berth: fake\n");
  auto after =
      json::parse(ReadAll(berth.data_dir() / "jobs" / id / "monitor.json"), nullptr, false);
  EXPECT_EQ(after.value("pid", 0), pid) << "the same monitor all along";
}
#endif

// Without berth-shim-wait beside berth-shim (not built for this machine, or not installed), a
// quiet job's monitor waits itself: it still sees the job through to its end and records it.
TEST(DensityTest, WithoutBerthShimWaitAQuietJobsMonitorWaitsItselfToTheJobsEnd) {
  if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  // The daemon and berth-shim alone in a directory (hard links, so /proc/self/exe names it):
  // the daemon runs the berth-shim beside it, which looks for berth-shim-wait beside itself.
  std::string tmpl = std::string(BERTH_BUILD_DIR) + "/e2e-no-shim-wait-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  std::filesystem::path bin = tmpl;
  struct RemoveDir {
    std::filesystem::path dir;
    ~RemoveDir() { std::filesystem::remove_all(dir); }
  } remove_bin{bin};
  std::filesystem::path built = std::filesystem::path(BERTH_BINARY).parent_path();
  for (const char* name : {"berth", "berth-shim"}) {
    std::error_code ec;
    std::filesystem::create_hard_link(built / name, bin / name, ec);
    ASSERT_FALSE(ec) << name << ": " << ec.message();
  }
  ASSERT_FALSE(std::filesystem::exists(bin / "berth-shim-wait"));
  // `sh -c` runs that daemon in place of the build's (its first argument) with the rest.
  LaunchOptions launch;
  launch.prefix = {"/bin/sh", "-c", R"(shift; exec "$0" "$@")", (bin / "berth").string()};
  BerthProcess berth(json::object(), launch);
  ASSERT_FALSE(berth.url().empty());
  std::string id =
      berth.SubmitOk(R"({"image":"busybox","command":"echo started; sleep 3; echo woke; exit 7"})");
  auto logs = [&] { return berth.Status(id).Json().value("logs", ""); };
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (logs() != "started\n" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(logs(), "started\n");
  std::this_thread::sleep_for(milliseconds(1500));  // quiet for over a second
  auto mon = json::parse(ReadAll(berth.data_dir() / "jobs" / id / "monitor.json"), nullptr, false);
  ASSERT_FALSE(mon.is_discarded());
  pid_t pid = mon.value("pid", 0);
  ASSERT_GT(pid, 0);
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  EXPECT_EQ(exe, bin / "berth-shim") << "the program the monitor of a quiet job waits in";

  Reply r = berth.WaitTerminal(id, seconds(30));
  EXPECT_EQ(r.Json()["state"], "Failed") << r.body;
  EXPECT_EQ(r.Json()["exitCode"], 7) << r.body;
  EXPECT_EQ(r.Json()["logs"], "started\nwoke\n");
}

}  // namespace
}  // namespace berth::e2e
