// End-to-end: runc runs jobs in the user namespace as crun does, and settings that turn
// isolation off say so at start. Needs root and /usr/sbin/runc (scripts/install-deps.sh).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class RuncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }
};

// With the default UserNamespaceRange every runc job failed five times with "error preparing
// rootfs ... permission denied": runc prepares the rootfs from inside the namespace, whose root
// cannot pass through the data dir (0700). The monitor now hands runc the bundle through a
// tmpfs of its own mount namespace.
TEST_F(RuncTest, RuncRunsAJobInTheUserNamespaceToSucceeded) {
  if (access("/usr/sbin/runc", X_OK) != 0 && access("/usr/bin/runc", X_OK) != 0) {
    GTEST_FAIL() << "needs runc (scripts/install-deps.sh installs it)";
  }
  BerthProcess berth(json{{"Runtime", "runc"}});
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(json{
      {"image", "busybox"},
      {"command",
       {"/bin/sh", "-c",
        "id -u; awk '{print $1, $2}' /proc/self/uid_map; echo hi > /tmp/x; "
        "touch /made; cat /tmp/x"}}}.dump());
  Reply r = berth.WaitTerminal(id, seconds(60));
  ASSERT_EQ(r.status, 200) << r.body << berth.ServerOutput();
  EXPECT_EQ(r.Json()["state"], "Succeeded");
  EXPECT_EQ(r.Json()["logs"], "0\n0 100000\nhi\n") << r.body;
  EXPECT_EQ(r.Json()["attempts"], 1);
  // Nothing on the host was opened up for it: the data dir and the job's dir stay root's alone.
  for (const auto& dir : {berth.data_dir(), berth.data_dir() / "jobs" / id}) {
    struct stat st {};
    ASSERT_EQ(stat(dir.c_str(), &st), 0) << dir;
    EXPECT_EQ(st.st_gid, 0u) << dir;
    EXPECT_EQ(st.st_mode & 0777, 0700u) << dir;
  }
  EXPECT_EQ(berth.ServerOutput().find(" WARN "), std::string::npos) << berth.ServerOutput();
}

TEST_F(RuncTest, SettingsThatTurnIsolationOffSaySoAtStart) {
  BerthProcess berth(json{{"UserNamespaceRange", ""}, {"AllowHostNetwork", true}});
  ASSERT_FALSE(berth.url().empty());
  std::string out = berth.ServerOutput();
  EXPECT_NE(out.find(" WARN  UserNamespaceRange is empty: jobs run WITHOUT a user namespace"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(" WARN  AllowHostNetwork is on"), std::string::npos) << out;
  // The job still runs (as host root, which is what the operator asked for).
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":"id -u"})");
  Reply r = berth.WaitTerminal(id, seconds(30));
  EXPECT_EQ(r.Json()["logs"], "0\n") << r.body;
}

}  // namespace
}  // namespace berth::e2e
