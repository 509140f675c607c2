// End-to-end: limits and isolation of real containers (real daemon, real crun, real cgroups).
// A memory hog is OOM-killed, a fork bomb hits the pids limit, a CPU burner gets its quota, and
// inside a job: its own pid namespace, an unprivileged user namespace, the default capabilities,
// a read-only /proc/sys, no way to the host's loopback, a read-only root when asked. Needs root.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/files.h"
#include "tests/e2e/berth_process.h"
#include "tests/e2e/child_process.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// The 14 capabilities Docker and Podman grant, as a CapEff mask.
constexpr char kDefaultCapEff[] = "00000000a80425fb";

class IsolationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    berth_ = new BerthProcess(json{{"JobPidsLimit", 64}, {"JobLogMaxBytes", 65536}});
  }
  static void TearDownTestSuite() {
    delete berth_;
    berth_ = nullptr;
  }
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
    ASSERT_FALSE(berth_->url().empty());
  }

  // Runs `spec` to its end; the final status body.
  static json Run(const json& spec, seconds timeout = seconds(60)) {
    std::string id = berth_->SubmitOk(spec.dump());
    Reply r = berth_->WaitTerminal(id, timeout);
    json body = r.Json();
    body["httpStatus"] = r.status;
    return body;
  }

  static BerthProcess* berth_;
};

BerthProcess* IsolationTest::berth_ = nullptr;

json Busybox(const std::string& command) { return {{"image", "busybox"}, {"command", command}}; }

// The value after "key=" on a line of `logs`, or "".
std::string Field(const std::string& logs, const std::string& key) {
  std::istringstream in(logs);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  }
  return "";
}

// A TCP listener on 127.0.0.1:<ephemeral> that counts accepted connections.
class LoopbackListener {
 public:
  LoopbackListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        ++accepted_;
        ::close(c);
      }
    });
  }
  ~LoopbackListener() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

TEST_F(IsolationTest, MemoryHogOverItsLimitEndsFailedOomKilled) {
  json spec = Busybox("dd if=/dev/zero of=/dev/null bs=64M count=4");  // a 64 MiB buffer
  spec["memoryInGB"] = 0.03;
  json body = Run(spec);
  EXPECT_EQ(body["httpStatus"], 500) << body.dump();
  EXPECT_EQ(body["state"], "Failed");
  EXPECT_EQ(body["reason"], "OOMKilled") << body.dump();
}

// `body` (a final status) ended the job Failed, OOM-killed, before it logged `never_logged`.
void ExpectOomKilledBefore(const json& body, const std::string& never_logged) {
  EXPECT_EQ(body["httpStatus"], 500) << body.dump();
  EXPECT_EQ(body["state"], "Failed");
  EXPECT_EQ(body["reason"], "OOMKilled") << body.dump();
  EXPECT_EQ(body.value("logs", "").find(never_logged), std::string::npos) << body.dump();
}

// Issue 10: a child killed for memory while its shell went on ended the job Succeeded. As
// Kubernetes does since 1.28 (memory.oom.group), an OOM kill anywhere in the job ends all of it.
TEST_F(IsolationTest, AChildKilledForMemoryEndsTheWholeJobOomKilled) {
  json spec = Busybox(
      "dd if=/dev/zero of=/dev/null bs=64M count=4; echo shell-went-on; sleep 5; "
      "echo after-the-sleep");
  spec["memoryInGB"] = 0.03;
  ExpectOomKilledBefore(Run(spec), "after-the-sleep");
}

// A job quiet for a while is watched by berth-shim-wait, which reads the OOM counters too: a kill
// that no output follows still ends the job at once.
TEST_F(IsolationTest, AMemoryKillWhileTheJobIsQuietEndsItOomKilled) {
  json spec = Busybox(
      "sleep 2; dd if=/dev/zero of=/dev/null bs=64M count=4; sleep 5; echo after-the-sleep");
  spec["memoryInGB"] = 0.03;
  ExpectOomKilledBefore(Run(spec), "after-the-sleep");
}

TEST_F(IsolationTest, ForkBombIsStoppedByThePidsLimitAndTheDaemonKeepsServing) {
  // The bomb forks until the pids cgroup (JobPidsLimit 64) refuses; builtins count and clean up.
  // The count is printed once the bomb is killed: its shells' "can't fork" lines, written while
  // they live, could otherwise land in the middle of the count's line.
  std::string bomb =
      "b() { b | b & }; b; sleep 3; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; "
      "kill -9 -1; echo procs=$n; echo done=1";
  json spec = Busybox(bomb);
  spec["timeoutSeconds"] = 30;
  std::string id = berth_->SubmitOk(spec.dump());
  // The daemon answers while the bomb goes off.
  for (int i = 0; i < 5; ++i) {
    EXPECT_NE(berth_->Status(id).status, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  Reply r = berth_->WaitTerminal(id, seconds(60));
  std::string logs = r.Json().value("logs", "");
  ASSERT_FALSE(Field(logs, "procs").empty()) << r.body;
  EXPECT_LE(std::stoi(Field(logs, "procs")), 64) << logs;
  json ok = Run(Busybox("echo fine"));
  EXPECT_EQ(ok["httpStatus"], 200) << ok.dump();
  EXPECT_EQ(ok["logs"], "fine\n");
}

TEST_F(IsolationTest, CpuBurnerGetsAboutItsQuota) {
  // utime+stime (clock ticks, 100 Hz) of a busy loop over 2 s of wall time.
  std::string burn =
      "sh -c 'while :; do :; done' & p=$!; sleep 1; read -r a < /proc/$p/stat; "
      "t0=$(cut -d' ' -f1 /proc/uptime); sleep 2; read -r b < /proc/$p/stat; "
      "t1=$(cut -d' ' -f1 /proc/uptime); kill $p; set -- $a; a=$((${14}+${15})); set -- $b; "
      "b=$((${14}+${15})); echo ticks=$((b-a)); echo t0=$t0; echo t1=$t1";
  json spec = Busybox(burn);
  spec["cpu"] = 0.2;
  json body = Run(spec);
  ASSERT_EQ(body["httpStatus"], 200) << body.dump();
  std::string logs = body["logs"];
  ASSERT_FALSE(Field(logs, "ticks").empty()) << logs;
  double wall = std::stod(Field(logs, "t1")) - std::stod(Field(logs, "t0"));
  double cores = std::stod(Field(logs, "ticks")) / 100.0 / wall;
  EXPECT_GT(cores, 0.1) << logs;
  EXPECT_LT(cores, 0.35) << logs;
}

TEST_F(IsolationTest, InsideAJobOnlyItsOwnWorldIsVisible) {
  std::string probe =
      "ps -o pid,args | awk '$1==1 {print \"pid1=\" $2}'; echo nprocs=$(ps -o pid | wc -l); "
      "echo uidmap=$(awk '{print $1,$2,$3}' /proc/self/uid_map); "
      "echo gidmap=$(awk '{print $1,$2,$3}' /proc/self/gid_map); "
      "echo capeff=$(awk '/^CapEff/ {print $2}' /proc/self/status); "
      "(echo 1 > /proc/sys/vm/drop_caches) 2>/dev/null && echo procsys=written "
      "|| echo procsys=refused; "
      "echo hi > /tmp/t && echo tmp=ok; echo hi > /rootfile && echo root=ok; "
      "echo seccomp=$(awk '/^Seccomp:/ {print $2}' /proc/self/status); "
      "echo nnp=$(awk '/^NoNewPrivs/ {print $2}' /proc/self/status); "
      "echo ready=1; sleep 3";
  std::string id = berth_->SubmitOk(Busybox(probe).dump());
  // While it runs, the file it wrote to its root is owned by the mapped range on the host.
  std::filesystem::path upper_file = berth_->data_dir() / "jobs" / id / "upper" / "rootfile";
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  struct stat st {};
  bool seen = false;
  while (std::chrono::steady_clock::now() < deadline && !seen) {
    seen = ::stat(upper_file.c_str(), &st) == 0 && st.st_size > 0;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(seen) << "no " << upper_file;
  EXPECT_EQ(st.st_uid, 100000u);
  EXPECT_EQ(st.st_gid, 100000u);

  Reply r = berth_->WaitTerminal(id, seconds(30));
  ASSERT_EQ(r.status, 200) << r.body;
  std::string logs = r.Json().value("logs", "");
  EXPECT_EQ(Field(logs, "pid1"), "/bin/sh") << logs;
  EXPECT_LE(std::stoi(Field(logs, "nprocs")), 5) << "header + sh + ps + wc: " << logs;
  EXPECT_EQ(Field(logs, "uidmap"), "0 100000 65536") << logs;
  EXPECT_EQ(Field(logs, "gidmap"), "0 100000 65536") << logs;
  EXPECT_EQ(Field(logs, "capeff"), kDefaultCapEff) << logs;
  EXPECT_EQ(Field(logs, "procsys"), "refused") << logs;
  EXPECT_EQ(Field(logs, "tmp"), "ok") << logs;
  EXPECT_EQ(Field(logs, "root"), "ok") << logs;
  EXPECT_EQ(Field(logs, "seccomp"), "2") << "filter mode: " << logs;
  EXPECT_EQ(Field(logs, "nnp"), "1") << logs;
}

// The daemon compiles the profile once and crun loads that program (the config's
// run.oci.seccomp_bpf_data annotation) instead of compiling linux.seccomp on each start; crun
// gets the program alone, without the rules. A profile that refuses mkdir with EOPNOTSUPP, which
// nothing but the filter answers: the job sees the rule, with its errno, and the shipped
// profile's ENOSYS default is not what it sees.
TEST(PrecompiledSeccompTest, TheJobRunsUnderTheProfilesRulesAndErrnos) {
  char dir[] = "/tmp/berth-e2e-seccomp-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string profile = std::string(dir) + "/profile.json";
  std::ofstream(profile) << R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]})";
  {
    BerthProcess berth(nlohmann::json{{"SeccompProfile", profile}});
    ASSERT_FALSE(berth.url().empty());
    std::string id = berth.SubmitOk(
        Busybox("mkdir /tmp/d 2>&1; touch /tmp/f && echo touch=ok; echo done=1; sleep 30").dump());
    std::string logs;
    for (int i = 0; i < 300 && Field(logs, "done") != "1"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      logs = berth.Status(id).Json().value("logs", "");
    }
    EXPECT_NE(logs.find("mkdir: can't create directory '/tmp/d': Operation not supported"),
              std::string::npos)
        << logs;
    EXPECT_EQ(Field(logs, "touch"), "ok") << "what the profile allows works: " << logs;
    EXPECT_EQ(Field(logs, "done"), "1") << logs;
    // What crun was given, from its own copy of the config: no rules to compile (the monitor
    // has dropped the program too by now; crun keeps it in seccomp.bpf).
    auto state = berth.data_dir() / "runtime" / "crun" / id;
    auto config = ReadFile(state / "config.json");
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    json parsed = json::parse(*config);
    EXPECT_FALSE(parsed["linux"].contains("seccomp")) << "crun has no rules to compile";
    // A process an operator runs in the job (`crun exec`) gets the same filter, from crun's
    // seccomp.bpf, though the config no longer holds the program.
    std::string exec_out;
    int rc = RunProgram({"crun", "--root", (berth.data_dir() / "runtime" / "crun").string(), "exec",
                         id, "/bin/mkdir", "/tmp/exec"},
                        "", &exec_out);
    EXPECT_NE(rc, 0) << exec_out;
    EXPECT_NE(exec_out.find("Operation not supported"), std::string::npos) << exec_out;
    Http("DELETE", berth.url() + "/api/jobs/" + id, "", {"x-functions-key: " + berth.key()});
    EXPECT_EQ(berth.WaitTerminal(id, seconds(60)).Json()["state"], "Canceled");
  }
  std::filesystem::remove_all(dir);
}

TEST_F(IsolationTest, TheHostsLoopbackCannotBeReached) {
  LoopbackListener listener;
  std::string port = std::to_string(listener.port());
  json body =
      Run(Busybox("nc -w 2 127.0.0.1 " + port +
                  " </dev/null && echo net=reached || echo net=unreachable; "
                  "wget -q -T 2 -O- http://127.0.0.1:" +
                  port + "/ >/dev/null 2>&1 && echo http=reached || echo http=unreachable"));
  ASSERT_EQ(body["httpStatus"], 200) << body.dump();
  EXPECT_EQ(Field(body["logs"], "net"), "unreachable") << body.dump();
  EXPECT_EQ(Field(body["logs"], "http"), "unreachable") << body.dump();
  EXPECT_EQ(listener.accepted(), 0);
}

TEST_F(IsolationTest, ReadOnlyRootFilesystemRefusesWritesButTmpWorks) {
  json spec = Busybox(
      "touch /x 2>/dev/null && echo root=written || echo root=refused; "
      "touch /tmp/y && echo tmp=ok");
  spec["readOnlyRootFilesystem"] = true;
  json body = Run(spec);
  ASSERT_EQ(body["httpStatus"], 200) << body.dump();
  EXPECT_EQ(Field(body["logs"], "root"), "refused") << body.dump();
  EXPECT_EQ(Field(body["logs"], "tmp"), "ok") << body.dump();
}

TEST_F(IsolationTest, HostNetworkIsRefusedUnlessAllowed) {
  json spec = Busybox("true");
  spec["network"] = "host";
  Reply refused = berth_->Submit(spec.dump());
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_NE(refused.body.find("network"), std::string::npos) << refused.body;

  BerthProcess allowed(json{{"AllowHostNetwork", true}});
  ASSERT_FALSE(allowed.url().empty());
  LoopbackListener listener;
  spec["command"] = "nc -w 2 127.0.0.1 " + std::to_string(listener.port()) +
                    " </dev/null && echo net=reached || echo net=unreachable";
  std::string id = allowed.SubmitOk(spec.dump());
  Reply r = allowed.WaitTerminal(id, seconds(60));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Field(r.Json().value("logs", ""), "net"), "reached") << r.body;
}

TEST_F(IsolationTest, TheLogKeepsItsNewestPartPastJobLogMaxBytes) {
  json body = Run(Busybox("seq 1 50000"));  // about 289 KB against a 64 KiB cap
  ASSERT_EQ(body["httpStatus"], 200) << body.dump().substr(0, 500);
  std::string logs = body["logs"];
  EXPECT_LE(logs.size(), 65536u);
  EXPECT_EQ(logs.rfind("--- berth: ", 0), 0u) << logs.substr(0, 200);
  EXPECT_NE(logs.find(" bytes of older output dropped ---\n"), std::string::npos);
  EXPECT_TRUE(logs.ends_with("\n49999\n50000\n"));
  EXPECT_EQ(body["logsTruncated"], true);
  // Whole lines only after the marker.
  size_t nl = logs.find('\n');
  std::string first = logs.substr(nl + 1, logs.find('\n', nl + 1) - nl - 1);
  EXPECT_EQ(std::to_string(std::stoi(first)), first);
}

// Issue 10: a follower read the log by file offset; when the monitor trimmed the log under it
// (past JobLogMaxBytes) it skipped output silently (its offset beyond the shorter file) or
// read from the middle of a line. Followed by stream offset, it sees every line once, in order,
// and a gap only where the monitor says output was dropped.
TEST_F(IsolationTest, AFollowerOfATrimmedLogNeitherSkipsNorRepeats) {
  // 20,000 numbered lines (~109 KB against the 64 KiB cap) in bursts the follower keeps up with.
  std::string id = berth_->SubmitOk(
      Busybox("for b in $(seq 0 39); do seq $((b*500+1)) $((b*500+500)); sleep 0.05; done").dump());
  Reply followed = Http("GET", berth_->url() + "/api/jobs/" + id + "/logs?follow=true");
  ASSERT_EQ(followed.status, 200);
  std::istringstream in(followed.body);
  std::string line;
  long last = 0;
  int gaps = 0;
  bool after_marker = false;
  while (std::getline(in, line)) {
    if (line.rfind("--- berth: ", 0) == 0 &&
        line.find(" bytes of older output dropped ---") != std::string::npos) {
      after_marker = true;
      continue;
    }
    ASSERT_FALSE(line.empty());
    ASSERT_EQ(line.find_first_not_of("0123456789"), std::string::npos) << "a cut line: " << line;
    long n = std::stol(line);
    if (after_marker) {
      EXPECT_GT(n, last) << "output repeated after a trim";
      if (n != last + 1) ++gaps;
      after_marker = false;
    } else {
      ASSERT_EQ(n, last + 1) << "output skipped or repeated with no marker";
    }
    last = n;
  }
  EXPECT_EQ(last, 20000);
  EXPECT_LE(gaps, 1) << "a follower that keeps up loses nothing";
}

}  // namespace
}  // namespace berth::e2e

namespace berth::e2e {
namespace {

// The job's root is an overlay mounted `volatile`: its upper dir is thrown away after the job,
// so the unmount at the job's end does not sync the data dir's whole filesystem.
TEST_F(IsolationTest, TheRootOverlayIsVolatile) {
  json body = Run(Busybox("awk '$5 == \"/\"' /proc/self/mountinfo"));
  ASSERT_EQ(body["httpStatus"], 200) << body.dump();
  std::string logs = body.value("logs", "");
  EXPECT_NE(logs.find(" - overlay "), std::string::npos) << logs;
  EXPECT_NE(logs.find("volatile"), std::string::npos) << logs;
}

TEST(IsolationUpperCapTest, WritesToTheRootStopAtJobUpperDirMaxBytes) {
  if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  BerthProcess berth(nlohmann::json{{"JobUpperDirMaxBytes", 1 << 20}});
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(
      R"({"image":"busybox","command":"dd if=/dev/zero of=/big bs=64k count=64 2>/dev/null && echo wrote=all || echo wrote=refused; rm -f /big; echo small > /small && echo small=ok"})");
  Reply r = berth.WaitTerminal(id, std::chrono::seconds(60));
  ASSERT_EQ(r.status, 200) << r.body;
  std::string logs = r.Json().value("logs", "");
  EXPECT_NE(logs.find("wrote=refused"), std::string::npos) << logs;
  EXPECT_NE(logs.find("small=ok"), std::string::npos) << logs;
}

}  // namespace
}  // namespace berth::e2e
