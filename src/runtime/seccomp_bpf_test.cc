// The daemon's compilation of a job's seccomp filter: the program it hands the runtime must
// enforce the same rules the runtime would have compiled from the config.
#include "runtime/seccomp_bpf.h"

#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace berth {
namespace {

using json = nlohmann::json;

// Loads `program` in a child and runs `probe` there; the child's exit code.
int RunFiltered(const std::string& program, int (*probe)()) {
  pid_t pid = ::fork();
  if (pid == 0) {
    sock_fprog prog{static_cast<unsigned short>(program.size() / sizeof(sock_filter)),
                    reinterpret_cast<sock_filter*>(const_cast<char*>(program.data()))};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(100);
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) _exit(101);
    _exit(probe());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

TEST(SeccompBpfTest, TheCompiledProgramEnforcesActionsErrnosAndArgumentRules) {
  json section = json::parse(R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [
      {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
      {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
       "args": [{"index": 0, "value": 12345, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
      {"names": ["a_syscall_no_kernel_has"], "action": "SCMP_ACT_ERRNO"},
      {"names": ["getuid"], "action": "SCMP_ACT_ALLOW"}
    ]})");
  Result<std::string> program = CompileSeccompBpf(section);
  ASSERT_TRUE(program.ok()) << program.status().ToString();
  ASSERT_FALSE(program->empty());
  EXPECT_EQ(program->size() % sizeof(sock_filter), 0u);

  EXPECT_EQ(
      RunFiltered(*program, [] { return ::syscall(SYS_getppid) == -1 && errno == 13 ? 0 : 1; }), 0)
      << "getppid answers the rule's errno";
  EXPECT_EQ(RunFiltered(*program, [] { return ::getpgid(12345) == -1 && errno == 22 ? 0 : 1; }), 0)
      << "getpgid(12345) matches the argument rule";
  EXPECT_EQ(RunFiltered(*program, [] { return ::getpgid(0) > 0 ? 0 : 1; }), 0)
      << "getpgid(0) does not match it";
  EXPECT_EQ(RunFiltered(*program, [] { return ::syscall(SYS_getuid) >= 0 ? 0 : 1; }), 0);
}

TEST(SeccompBpfTest, TheDefaultActionAndItsErrnoApplyToEverythingNotListed) {
  // As the shipped profile is: deny by default with ENOSYS, allow a list.
  json section = json::parse(R"({
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
    "syscalls": [{"names": ["exit", "exit_group", "getpid"], "action": "SCMP_ACT_ALLOW"}]})");
  Result<std::string> program = CompileSeccompBpf(section);
  ASSERT_TRUE(program.ok()) << program.status().ToString();
  EXPECT_EQ(RunFiltered(*program,
                        [] {
                          bool pid_ok = ::syscall(SYS_getpid) > 0;
                          bool denied = ::syscall(SYS_getppid) == -1 && errno == ENOSYS;
                          return pid_ok && denied ? 0 : 1;
                        }),
            0);
}

TEST(SeccompBpfTest, UnknownActionsOperatorsAndArchitecturesAreErrors) {
  EXPECT_FALSE(CompileSeccompBpf(json::parse(R"({"defaultAction": "SCMP_ACT_MAYBE"})")).ok());
  EXPECT_FALSE(CompileSeccompBpf(json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]})"))
                   .ok());
  EXPECT_FALSE(CompileSeccompBpf(json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW",
      "architectures": ["SCMP_ARCH_PDP11"]})"))
                   .ok());
  EXPECT_FALSE(CompileSeccompBpf(json::parse(R"({"syscalls": []})")).ok()) << "no default";
}

}  // namespace
}  // namespace berth
