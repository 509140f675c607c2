#include "runtime/seccomp_bpf.h"

#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "common/unique_fd.h"

namespace berth {
namespace {

using json = nlohmann::json;

struct FilterRelease {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Filter = std::unique_ptr<void, FilterRelease>;

std::optional<uint32_t> Action(const std::string& name, uint32_t errno_ret) {
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(errno_ret);
  if (name == "SCMP_ACT_KILL") return SCMP_ACT_KILL;
  if (name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(errno_ret);
  return std::nullopt;  // SCMP_ACT_NOTIFY needs a listener: crun must compile that itself
}

std::optional<scmp_compare> Operator(const std::string& name) {
  if (name == "SCMP_CMP_NE") return SCMP_CMP_NE;
  if (name == "SCMP_CMP_LT") return SCMP_CMP_LT;
  if (name == "SCMP_CMP_LE") return SCMP_CMP_LE;
  if (name == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
  if (name == "SCMP_CMP_GE") return SCMP_CMP_GE;
  if (name == "SCMP_CMP_GT") return SCMP_CMP_GT;
  if (name == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
  return std::nullopt;
}

// "SCMP_ARCH_X86_64" -> libseccomp's token for "x86_64"; 0 when unknown.
uint32_t ArchToken(std::string arch) {
  if (arch.starts_with("SCMP_ARCH_")) arch.erase(0, 10);
  for (char& c : arch) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return seccomp_arch_resolve_name(arch.c_str());
}

Status AddRules(void* ctx, const json& call, uint32_t action, int nr) {
  std::vector<scmp_arg_cmp> cmps;
  bool same_index_twice = false;
  for (const auto& a : call.value("args", json::array())) {
    auto op = Operator(a.at("op").get<std::string>());
    uint32_t index = a.at("index").get<uint32_t>();
    if (!op || index >= 6) return Status::InvalidArgument("seccomp: bad argument rule " + a.dump());
    for (const auto& c : cmps) same_index_twice = same_index_twice || c.arg == index;
    cmps.push_back({index, *op, a.at("value").get<uint64_t>(), a.value("valueTwo", uint64_t{0})});
  }
  // As crun does: conditions on distinct arguments are one rule (all must hold); two on the same
  // argument become one rule each (either may hold).
  int rc = 0;
  if (!same_index_twice) {
    rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(cmps.size()),
                                cmps.empty() ? nullptr : cmps.data());
  } else {
    for (size_t i = 0; i < cmps.size() && rc == 0; ++i)
      rc = seccomp_rule_add_array(ctx, action, nr, 1, &cmps[i]);
  }
  if (rc < 0) return Status::InvalidArgument(std::string("seccomp rule: ") + std::strerror(-rc));
  return Status::Ok();
}

}  // namespace

Result<std::string> CompileSeccompBpf(const json& seccomp) {
  try {
    uint32_t default_errno = seccomp.value("defaultErrnoRet", uint32_t{EPERM});
    std::string default_name = seccomp.at("defaultAction").get<std::string>();
    auto default_action = Action(default_name, default_errno);
    if (!default_action) return Status::InvalidArgument("seccomp: action " + default_name);
    Filter ctx(seccomp_init(*default_action));
    if (!ctx) return Status::Internal("seccomp_init failed");
    for (const auto& arch : seccomp.value("architectures", json::array())) {
      uint32_t token = ArchToken(arch.get<std::string>());
      if (token == 0) return Status::InvalidArgument("seccomp: architecture " + arch.dump());
      int rc = seccomp_arch_add(ctx.get(), token);
      if (rc < 0 && rc != -EEXIST)
        return Status::InvalidArgument("seccomp: architecture " + arch.dump());
    }
    for (const auto& call : seccomp.value("syscalls", json::array())) {
      std::string name = call.at("action").get<std::string>();
      auto action = Action(name, call.value("errnoRet", uint32_t{EPERM}));
      if (!action) return Status::InvalidArgument("seccomp: action " + name);
      if (*action == *default_action) continue;
      for (const auto& syscall : call.value("names", json::array())) {
        int nr = seccomp_syscall_resolve_name(syscall.get<std::string>().c_str());
        if (nr == __NR_SCMP_ERROR) continue;  // a newer syscall than this libseccomp knows
        RETURN_IF_ERROR(AddRules(ctx.get(), call, *action, nr));
      }
    }
    UniqueFd out(::memfd_create("berth-seccomp", MFD_CLOEXEC));
    if (!out) return Status::Internal(std::string("memfd_create: ") + std::strerror(errno));
    if (int rc = seccomp_export_bpf(ctx.get(), out.get()); rc < 0)
      return Status::Internal(std::string("seccomp_export_bpf: ") + std::strerror(-rc));
    std::string program;
    char buf[8192];
    ssize_t n = 0;
    while ((n = ::pread(out.get(), buf, sizeof buf, static_cast<off_t>(program.size()))) > 0)
      program.append(buf, static_cast<size_t>(n));
    if (n < 0) return Status::Internal(std::string("read the filter: ") + std::strerror(errno));
    return program;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("seccomp: ") + e.what());
  }
}

}  // namespace berth
