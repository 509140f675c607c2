#include "runtime/runtime_version.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace berth {
namespace {

TEST(RuntimeVersionTest, ReadsTheFirstLineOfEachRuntime) {
  Result<RuntimeVersion> crun = ParseRuntimeVersion(
      "crun version 1.8.1\ncommit: f8a096be060b22ccd3d5f3ebe44108517fbf6c30\nrundir: "
      "/run/user/0/crun\nspec: 1.0.0\n+SYSTEMD +SELINUX +APPARMOR +CAP +SECCOMP +EBPF +YAJL\n");
  ASSERT_TRUE(crun.ok()) << crun.status().ToString();
  EXPECT_EQ(crun->name, "crun");
  EXPECT_EQ(crun->major, 1);
  EXPECT_EQ(crun->minor, 8);
  EXPECT_EQ(crun->patch, 1);

  Result<RuntimeVersion> runc = ParseRuntimeVersion("runc version 1.1.5+ds1\ncommit: 1.1.5\n");
  ASSERT_TRUE(runc.ok());
  EXPECT_EQ(runc->name, "runc");
  EXPECT_EQ(runc->patch, 5);

  Result<RuntimeVersion> runsc = ParseRuntimeVersion("runsc version release-20231009.0\n");
  ASSERT_TRUE(runsc.ok());
  EXPECT_EQ(runsc->name, "runsc");
  EXPECT_EQ(runsc->major, 0) << "an unreadable version stays 0.0.0";

  for (const char* bad : {"", "\n", "crun 1.8.1", " version 1.0", "Usage: crun [OPTION...]"}) {
    EXPECT_FALSE(ParseRuntimeVersion(bad).ok()) << bad;
  }
}

TEST(RuntimeVersionTest, OnlyCrunSince018LoadsTheProgramAlone) {
  EXPECT_TRUE(LoadsPrecompiledSeccomp({"crun", 1, 8, 1}));
  EXPECT_TRUE(LoadsPrecompiledSeccomp({"crun", 0, 18, 0}));
  EXPECT_FALSE(LoadsPrecompiledSeccomp({"crun", 0, 17, 9})) << "the annotation came in 0.18";
  EXPECT_FALSE(LoadsPrecompiledSeccomp({"runc", 1, 1, 5}));
  EXPECT_FALSE(LoadsPrecompiledSeccomp({"youki", 0, 3, 0}));
}

TEST(RuntimeVersionTest, OnlyCrunDeletesByPattern) {
  EXPECT_TRUE(DeletesByPattern({"crun", 1, 8, 1}));
  EXPECT_FALSE(DeletesByPattern({"runc", 1, 1, 5})) << "runc delete takes one id";
  EXPECT_FALSE(DeletesByPattern({"youki", 0, 3, 0}));
}

TEST(RuntimeVersionTest, OnlyCrunRunsFromTheSealedCopy) {
  EXPECT_TRUE(RunsFromSealedCopy({"crun", 1, 8, 1}));
  EXPECT_FALSE(RunsFromSealedCopy({"runc", 1, 1, 5})) << "not measured with runc";
  EXPECT_FALSE(RunsFromSealedCopy({"runsc", 0, 0, 0}));
}

TEST(RuntimeVersionTest, ProbesTheInstalledRuntime) {
  Result<RuntimeVersion> v = ProbeRuntimeVersion("/usr/bin/crun");
  ASSERT_TRUE(v.ok()) << v.status().ToString() << " (scripts/install-deps.sh installs crun)";
  EXPECT_EQ(v->name, "crun");
  EXPECT_TRUE(v->major > 0 || v->minor > 0);
}

TEST(RuntimeVersionTest, AFailingOrSilentBinaryIsAnError) {
  EXPECT_FALSE(ProbeRuntimeVersion("/nonexistent/crun").ok());
  EXPECT_FALSE(ProbeRuntimeVersion("/bin/false").ok());
  char dir[] = "/tmp/berth-runtime-version-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::filesystem::path script = std::filesystem::path(dir) / "wrapper";
  std::ofstream(script) << "#!/bin/sh\necho 'crun version 1.9.0'\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  Result<RuntimeVersion> wrapped = ProbeRuntimeVersion(script.string());
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  EXPECT_EQ(wrapped->minor, 9) << "a wrapper answers for the runtime it runs";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace berth
