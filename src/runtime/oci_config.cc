#include "runtime/oci_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "runtime/seccomp.h"
#include "runtime/seccomp_bpf.h"

namespace berth {
namespace {

using json = nlohmann::json;

// The capability set Docker and Podman grant by default.
const char* const kDefaultCaps[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE",
};

const char* const kMaskedPaths[] = {
    "/proc/acpi",          "/proc/asound",     "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi",          "/sys/firmware",    "/sys/fs/selinux",   "/sys/dev/block",
};

const char* const kReadonlyPaths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

json Mount(const char* dest, const char* type, const char* source, std::vector<std::string> opts) {
  return {{"destination", dest}, {"type", type}, {"source", source}, {"options", opts}};
}

json Mounts(bool host_network, int64_t tmp_size_bytes) {
  std::vector<std::string> tmp = {"nosuid", "nodev", "mode=1777"};
  if (tmp_size_bytes > 0) tmp.push_back("size=" + std::to_string(tmp_size_bytes));
  json mounts = json::array({
      Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      Mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}),
      Mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      Mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      Mount("/tmp", "tmpfs", "tmpfs", tmp),
  });
  if (host_network) {
    // sysfs cannot be mounted from a user namespace that does not own the network namespace.
    // "rro": read-only recursively, submounts of the host's /sys (cgroup, securityfs...) too.
    mounts[5] = Mount("/sys", "bind", "/sys", {"rbind", "nosuid", "noexec", "nodev", "rro"});
  }
  return mounts;
}

// Environment: the image's, then the spec's, then the secure variables; later names win.
json Environment(const std::string& id, const JobSpec& spec, const ImageConfig& image) {
  std::vector<std::pair<std::string, std::string>> vars;
  auto set = [&vars](const std::string& k, const std::string& v) {
    for (auto& kv : vars) {
      if (kv.first == k) {
        kv.second = v;
        return;
      }
    }
    vars.emplace_back(k, v);
  };
  set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  set("HOSTNAME", id);
  for (const auto& e : image.env) {
    size_t eq = e.find('=');
    if (eq != std::string::npos) set(e.substr(0, eq), e.substr(eq + 1));
  }
  for (const auto& [k, v] : spec.env) set(k, v);
  for (const auto& [k, v] : spec.secure_env) set(k, v);
  json env = json::array();
  for (const auto& [k, v] : vars) env.push_back(k + "=" + v);
  return env;
}

// A uid or gid: digits that fit in 32 bits. nullopt when `s` is not a number (a name).
Result<std::optional<uint32_t>> ParseId(const std::string& s, const std::string& user) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) {
    return std::optional<uint32_t>();
  }
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) {
    return Status::InvalidArgument("image user '" + user + "': id out of range");
  }
  return std::optional<uint32_t>(v);
}

Result<json> User(const ImageConfig& image) {
  // Numeric "uid[:gid]" only; names need the image's /etc/passwd (not resolved yet).
  json user = {{"uid", 0}, {"gid", 0}};
  const std::string& u = image.user;
  if (u.empty()) return user;
  size_t colon = u.find(':');
  ASSIGN_OR_RETURN(std::optional<uint32_t> uid, ParseId(u.substr(0, colon), u));
  ASSIGN_OR_RETURN(std::optional<uint32_t> gid,
                   ParseId(colon == std::string::npos ? "" : u.substr(colon + 1), u));
  if (uid) user["uid"] = *uid;
  if (gid) user["gid"] = *gid;
  return user;
}

json Resources(const JobSpec& spec, const OciConfigOptions& opts) {
  json r = json::object();
  double cpu = spec.cpu > 0 ? spec.cpu : opts.default_cpu;
  double memory_gb = spec.memory_gb > 0 ? spec.memory_gb : opts.default_memory_gb;
  if (cpu > 0) {
    constexpr int64_t kPeriod = 100000;
    constexpr int64_t kMinQuota = 1000;  // the kernel's floor is 1 ms
    r["cpu"] = {{"period", kPeriod},
                {"quota", std::max(kMinQuota, static_cast<int64_t>(std::llround(cpu * kPeriod)))}};
  }
  if (memory_gb > 0) {
    // Limit and memory+swap are equal: no swap.
    auto bytes = static_cast<int64_t>(memory_gb * 1024 * 1024 * 1024);
    r["memory"] = {{"limit", bytes}, {"swap", bytes}};
  }
  if (opts.pids_limit > 0) r["pids"] = {{"limit", opts.pids_limit}};
  // Docker's default: deny every device first, then allow only the standard character devices
  // (null, zero, full, random, urandom, tty, ptmx, pts).
  json devices = json::array({{{"allow", false}, {"access", "rwm"}}});
  for (auto [major, minor] : {std::pair{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 2}}) {
    devices.push_back(
        {{"allow", true}, {"type", "c"}, {"major", major}, {"minor", minor}, {"access", "rwm"}});
  }
  devices.push_back({{"allow", true}, {"type", "c"}, {"major", 136}, {"access", "rwm"}});
  r["devices"] = devices;
  return r;
}

json Namespaces(const JobSpec& spec, const OciConfigOptions& opts) {
  json ns =
      json::array({{{"type", "pid"}}, {{"type", "mount"}}, {{"type", "ipc"}}, {{"type", "uts"}}});
  if (spec.network == NetworkMode::kNone) ns.push_back({{"type", "network"}});
  if (opts.user_namespace.count > 0) ns.push_back({{"type", "user"}});
  return ns;
}

}  // namespace

Result<IdRange> ParseIdRange(std::string_view text) {
  if (text.empty()) return IdRange{};
  size_t colon = text.find(':');
  auto bad = [&text] {
    return Status::InvalidArgument("user namespace range '" + std::string(text) +
                                   "': want START:COUNT with START > 0");
  };
  if (colon == std::string_view::npos) return bad();
  IdRange r;
  std::string_view a = text.substr(0, colon), b = text.substr(colon + 1);
  auto [ea, eca] = std::from_chars(a.data(), a.data() + a.size(), r.start);
  auto [eb, ecb] = std::from_chars(b.data(), b.data() + b.size(), r.count);
  if (a.empty() || b.empty() || eca != std::errc() || ecb != std::errc() ||
      ea != a.data() + a.size() || eb != b.data() + b.size()) {
    return bad();
  }
  if (r.count == 0 && r.start == 0) return IdRange{};
  if (r.start == 0 || r.count == 0 || uint64_t{r.start} + r.count > uint64_t{1} << 32) return bad();
  return r;
}

Result<std::vector<std::string>> ResolveCommand(const JobSpec& spec, const ImageConfig& image) {
  std::vector<std::string> args = spec.command;
  if (args.empty()) {
    args = image.entrypoint;
    args.insert(args.end(), image.cmd.begin(), image.cmd.end());
  }
  if (args.empty()) {
    return Status::InvalidArgument("the job gives no command and the image has none");
  }
  return args;
}

Result<std::shared_ptr<const SeccompFilter>> WarmSeccompFilter(const OciConfigOptions& opts) {
  if (opts.seccomp_profile.empty()) return std::shared_ptr<const SeccompFilter>();
  std::vector<std::string> caps(std::begin(kDefaultCaps), std::end(kDefaultCaps));
  return CachedSeccompFilter(opts.seccomp_profile, SeccompTarget{.caps = caps});
}

Result<std::string> BuildOciConfig(const std::string& id, const JobSpec& spec,
                                   const ImageConfig& image, const OciConfigOptions& opts) {
  ASSIGN_OR_RETURN(std::vector<std::string> args, ResolveCommand(spec, image));
  ASSIGN_OR_RETURN(json user, User(image));
  std::vector<std::string> caps(std::begin(kDefaultCaps), std::end(kDefaultCaps));
  json process = {
      {"terminal", false},
      {"user", user},
      {"args", args},
      {"env", Environment(id, spec, image)},
      {"cwd", image.working_dir.empty() ? "/" : image.working_dir},
      {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
      {"noNewPrivileges", true},
  };
  json linux_section = {
      {"namespaces", Namespaces(spec, opts)},
      {"cgroupsPath", "/berth-" + id},
      {"resources", Resources(spec, opts)},
      {"maskedPaths", std::vector<std::string>(std::begin(kMaskedPaths), std::end(kMaskedPaths))},
      {"readonlyPaths",
       std::vector<std::string>(std::begin(kReadonlyPaths), std::end(kReadonlyPaths))},
  };
  if (const IdRange& r = opts.user_namespace; r.count > 0) {
    json map = json::array({{{"containerID", 0}, {"hostID", r.start}, {"size", r.count}}});
    linux_section["uidMappings"] = map;
    linux_section["gidMappings"] = map;
  }
  json annotations = json::object();
  if (!opts.seccomp_profile.empty()) {
    ASSIGN_OR_RETURN(auto seccomp,
                     CachedSeccompFilter(opts.seccomp_profile, SeccompTarget{.caps = caps}));
    if (!seccomp->bpf.empty()) annotations[kSeccompBpfAnnotation] = seccomp->bpf_base64;
    // crun applies its default flags (SECCOMP_FILTER_FLAG_SPEC_ALLOW) with or without the rules;
    // a profile's own flags or listener need the rules.
    bool program_alone = opts.seccomp_program_only && !seccomp->bpf.empty() &&
                         !seccomp->section.contains("flags") &&
                         !seccomp->section.contains("listenerPath");
    if (!program_alone) linux_section["seccomp"] = seccomp->section;
  }
  json config = {
      {"ociVersion", "1.0.2"},
      {"process", process},
      {"root", {{"path", "rootfs"}, {"readonly", spec.read_only_root_filesystem}}},
      {"hostname", id},
      {"mounts", Mounts(spec.network == NetworkMode::kHost, opts.tmp_size_bytes)},
      {"linux", linux_section},
  };
  if (!annotations.empty()) config["annotations"] = annotations;
  // One line: half the bytes of an indented config (mostly the seccomp rules) for the daemon to
  // write and the runtime to read and copy on each start.
  return config.dump();
}

}  // namespace berth
