// Ended containers are deleted by the daemon, those of jobs that ended together in one runtime
// call (crun's `delete --regex`), before the jobs' outcomes are recorded; a container its
// monitor left while no daemon ran is deleted when the job is adopted. Runtime calls are counted
// by an OCI runtime wrapper (tests/e2e/counting_runtime.h). Needs root (real containers).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/counting_runtime.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

class BatchDeleteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }
};

// Waits until the monitor of each job in `ids` has ended (gone, or a zombie its stopped parent
// has not reaped) after recording the job's exit.
bool WaitMonitorsEnded(const BerthProcess& berth, const std::vector<std::string>& ids,
                       seconds timeout) {
  auto ended = [&](const std::string& id) {
    auto dir = berth.data_dir() / "jobs" / id;
    if (!std::filesystem::exists(dir / "exit.json")) return false;
    json mon = json::parse(ReadAll(dir / "monitor.json"), nullptr, false);
    if (mon.is_discarded() || !mon.contains("pid")) return false;
    std::string stat = ReadAll("/proc/" + std::to_string(mon["pid"].get<int>()) + "/stat");
    size_t paren = stat.rfind(')');
    return stat.empty() || (paren != std::string::npos && stat.substr(paren + 2, 1) == "Z");
  };
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    bool all = true;
    for (const auto& id : ids) all = all && ended(id);
    if (all) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return false;
}

bool WaitLogged(BerthProcess& berth, const std::string& id, const std::string& line) {
  auto deadline = Clock::now() + seconds(30);
  while (Clock::now() < deadline) {
    if (berth.Status(id).Json().value("logs", "") == line) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return false;
}

// Waits until every thread of process `pid` is stopped (state T in its stat).
bool WaitAllThreadsStopped(pid_t pid, seconds timeout) {
  auto stopped = [pid] {
    std::error_code ec;
    auto tasks = std::filesystem::path("/proc") / std::to_string(pid) / "task";
    for (const auto& t : std::filesystem::directory_iterator(tasks, ec)) {
      std::string stat = ReadAll(t.path() / "stat");
      size_t paren = stat.rfind(')');
      if (paren == std::string::npos || stat.substr(paren + 2, 1) != "T") return false;
    }
    return !ec;
  };
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (stopped()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return false;
}

std::vector<std::string> ContainersIn(const std::filesystem::path& state) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(state, ec)) {
    names.push_back(e.path().filename().string());
  }
  return names;
}

// The daemon is stopped (SIGSTOP) while six jobs end: their monitors exit meanwhile, leaving
// their containers; once it continues, it finds them all ended at once and deletes the six
// containers in one runtime call, and only then records each job Succeeded. The jobs end when
// told to (SIGTERM, which they answer with exit 0), only once the daemon is stopped: however
// slowly the six start, none ends before.
TEST_F(BatchDeleteTest, JobsThatEndTogetherAreDeletedInOneRuntimeCall) {
  CountingRuntime runtime;
  BerthProcess berth(json{{"Runtime", runtime.path().string()}});
  ASSERT_FALSE(berth.url().empty());
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(berth.SubmitOk(
        R"({"image":"busybox","command":"trap 'exit 0' TERM; echo up; sleep 3600 & wait"})"));
  }
  for (const auto& id : ids) ASSERT_TRUE(WaitLogged(berth, id, "up\n")) << id;
  std::vector<pid_t> containers;
  for (const auto& id : ids) {
    containers.push_back(ContainerPid(berth, id));
    ASSERT_GT(containers.back(), 0) << id;  // never 0 or -1: that would signal the test itself
  }
  ASSERT_EQ(::kill(berth.pid(), SIGSTOP), 0);
  // A stop takes effect as each thread next runs: under load, a watcher thread still running
  // could see the first end alone.
  EXPECT_TRUE(WaitAllThreadsStopped(berth.pid(), seconds(10)));
  for (pid_t container : containers) EXPECT_EQ(::kill(container, SIGTERM), 0);
  bool ended = WaitMonitorsEnded(berth, ids, seconds(20));
  std::vector<std::string> left = ContainersIn(berth.data_dir() / "runtime" / "counting-crun");
  ASSERT_EQ(::kill(berth.pid(), SIGCONT), 0);
  ASSERT_TRUE(ended) << "the jobs' monitors did not end";
  EXPECT_EQ(left.size(), ids.size()) << "each monitor leaves its ended container to the daemon";
  EXPECT_TRUE(runtime.Deletes().empty()) << "no monitor deleted its own container";

  for (const auto& id : ids) {
    Reply r = berth.WaitTerminal(id, seconds(30));
    EXPECT_EQ(r.Json()["state"], "Succeeded") << r.body;
  }
  // One runtime call names the six. A container that call could not delete (crun deletes each
  // match on its own) is deleted again, alone, before its job's outcome is read: such a call
  // names one job.
  std::vector<std::string> deletes = runtime.Deletes();
  std::string calls;
  for (const auto& d : deletes) calls += "\n  " + d;
  ASSERT_FALSE(deletes.empty()) << "no runtime call deleted the containers";
  for (size_t i = 1; i < deletes.size(); ++i) {
    size_t named = 0;
    for (const auto& id : ids) named += deletes[i].find(id) != std::string::npos;
    EXPECT_LE(named, 1u) << "a later call deletes one left container; the calls:" << calls;
  }
  for (const auto& id : ids) {
    EXPECT_NE(deletes[0].find(id), std::string::npos) << "the first call names all six:" << calls;
    EXPECT_FALSE(std::filesystem::exists("/sys/fs/cgroup/memory/berth-" + id));
    EXPECT_FALSE(std::filesystem::exists("/sys/fs/cgroup/pids/berth-" + id));
  }
  EXPECT_EQ(ContainersIn(berth.data_dir() / "runtime" / "counting-crun"),
            std::vector<std::string>{})
      << "gone before the jobs' outcomes were recorded";
}

// A job that ends while no daemon runs: its monitor leaves the container; the restarted daemon
// adopts the job, deletes the container, and records the exit.
TEST_F(BatchDeleteTest, AContainerLeftWhileNoDaemonRanIsDeletedWhenItsJobIsAdopted) {
  CountingRuntime runtime;
  BerthProcess berth(json{{"Runtime", runtime.path().string()}});
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":"echo up; sleep 1; exit 3"})");
  ASSERT_TRUE(WaitLogged(berth, id, "up\n"));
  berth.Stop(/*hard=*/true);
  ASSERT_TRUE(WaitMonitorsEnded(berth, {id}, seconds(20)));
  auto state = berth.data_dir() / "runtime" / "counting-crun";
  EXPECT_EQ(ContainersIn(state), std::vector<std::string>{id}) << "left to the daemon";

  ASSERT_TRUE(berth.Restart(json{{"Runtime", runtime.path().string()}}));
  Reply r = berth.WaitTerminal(id, seconds(30));
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(r.Json()["exitCode"], 3) << r.body;
  EXPECT_EQ(ContainersIn(state), std::vector<std::string>{});
  EXPECT_FALSE(std::filesystem::exists("/sys/fs/cgroup/memory/berth-" + id));
  std::vector<std::string> deletes = runtime.Deletes();
  ASSERT_EQ(deletes.size(), 1u);
  EXPECT_NE(deletes[0].find(id), std::string::npos) << deletes[0];
}

}  // namespace
}  // namespace berth::e2e
