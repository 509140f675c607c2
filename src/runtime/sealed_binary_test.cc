#include "runtime/sealed_binary.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/files.h"
#include "common/test_temp_dir.h"

namespace berth {
namespace {

// Runs `path` with `args` (argv[0] included), stdout to `out_file` when given; its exit status.
int RunProgram(const std::string& path, std::vector<std::string> args,
               const std::string& out_file = "") {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.empty() ? "/dev/null" : out_file.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class SealedBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()) << "no temp directory"; }
  TestTempDir tmp_{"berth-sealed"};
  const std::filesystem::path& dir_ = tmp_.path();
};

TEST_F(SealedBinaryTest, TheCopyIsTheBinarySealedAgainstEveryChange) {
  Result<UniqueFd> copy = SealedCopy("/bin/true");
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_EQ(::fcntl(copy->get(), F_GET_SEALS), RuntimeCopySeals());
  EXPECT_EQ(RuntimeCopySeals(), F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  EXPECT_TRUE(::fcntl(copy->get(), F_GETFD) & FD_CLOEXEC) << "a child must not inherit it";

  auto original = ReadFile("/bin/true");
  auto copied = ReadFile(FdExecPath(copy->get()));
  ASSERT_TRUE(original.ok() && copied.ok());
  EXPECT_EQ(*copied, *original);

  // Nobody can change it, not even through a writable open of its own.
  UniqueFd writable(::open(FdExecPath(copy->get()).c_str(), O_WRONLY | O_CLOEXEC));
  if (writable) {
    EXPECT_LT(::pwrite(writable.get(), "x", 1, 0), 0);
    EXPECT_EQ(errno, EPERM);
  } else {
    EXPECT_EQ(errno, EPERM);
  }
  EXPECT_NE(::ftruncate(copy->get(), 0), 0);
  EXPECT_NE(::fcntl(copy->get(), F_ADD_SEALS, 0), 0) << "F_SEAL_SEAL: no seal can be taken back";
}

TEST_F(SealedBinaryTest, TheCopyRunsFromItsFdPath) {
  Result<UniqueFd> t = SealedCopy("/bin/true");
  Result<UniqueFd> f = SealedCopy("/bin/false");
  ASSERT_TRUE(t.ok() && f.ok());
  EXPECT_EQ(RunProgram(FdExecPath(t->get()), {"true"}), 0);
  EXPECT_EQ(RunProgram(FdExecPath(f->get()), {"false"}), 1);
}

TEST_F(SealedBinaryTest, AScriptOrAMissingFileIsRefused) {
  std::filesystem::path script = dir_ / "runtime.sh";
  { std::ofstream(script) << "#!/bin/sh\nexec crun \"$@\"\n"; }
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  Result<UniqueFd> s = SealedCopy(script.string());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status().ToString();
  EXPECT_NE(s.status().message().find("not an ELF executable"), std::string::npos);

  Result<UniqueFd> missing = SealedCopy((dir_ / "none").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("none"), std::string::npos);
}

// The reason for the copy: crun run from it does not copy itself and execute again. strace
// counts the execs of one `crun --version` (crun's guard runs on every call).
TEST_F(SealedBinaryTest, CrunRunFromTheCopyExecutesOnceInsteadOfTwice) {
  ASSERT_EQ(::access("/usr/bin/strace", X_OK), 0)
      << "needs strace (scripts/install-deps.sh installs it)";
  ASSERT_EQ(::access("/usr/bin/crun", X_OK), 0) << "needs crun";
  Result<UniqueFd> copy = SealedCopy("/usr/bin/crun");
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  auto execs = [this](const std::string& binary, const std::string& name) {
    std::string trace = (dir_ / (name + ".trace")).string();
    int rc = RunProgram("/usr/bin/strace", {"strace", "-f", "-e", "trace=execve,execveat", "-o",
                                            trace, binary, "--version"});
    EXPECT_EQ(rc, 0) << binary;
    std::ifstream in(trace);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      if ((line.find("execve(") != std::string::npos ||
           line.find("execveat(") != std::string::npos) &&
          line.find("= 0") != std::string::npos) {
        ++n;
      }
    }
    return n;
  };
  // The copy is inherited by strace and crun here (it is close-on-exec in this process, but the
  // path resolves in each child before its exec closes it).
  UniqueFd inherited(::fcntl(copy->get(), F_DUPFD, 10));
  ASSERT_TRUE(inherited);
  EXPECT_EQ(execs("/usr/bin/crun", "path"), 2) << "crun copies itself and executes the copy";
  EXPECT_EQ(execs(FdExecPath(inherited.get()), "copy"), 1)
      << "crun started from the sealed copy runs as it is";
}

}  // namespace
}  // namespace berth
