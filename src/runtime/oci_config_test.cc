#include "runtime/oci_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "images/registry_auth.h"
#include "runtime/seccomp_bpf.h"
namespace berth {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kId[] = "3f2b8c1e-6d4a-4b7e-9c0f-1a2b3c4d5e6f";

JobSpec Spec(std::vector<std::string> command = {"/bin/true"}) {
  JobSpec spec;
  spec.image = "busybox";
  spec.command = std::move(command);
  return spec;
}

// Builds the config and parses it; fails the test when either step fails.
json Build(const JobSpec& spec, const ImageConfig& image = {}, OciConfigOptions opts = {}) {
  Result<std::string> text = BuildOciConfig(kId, spec, image, opts);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  if (!text.ok()) return json::object();
  json j = json::parse(*text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << *text;
  return j;
}

// The process env as NAME -> value, failing on a name that appears twice.
std::map<std::string, std::string> EnvMap(const json& config) {
  std::map<std::string, std::string> out;
  for (const auto& e : config["process"]["env"]) {
    std::string s = e.get<std::string>();
    size_t eq = s.find('=');
    EXPECT_NE(eq, std::string::npos) << s;
    std::string name = s.substr(0, eq);
    EXPECT_FALSE(out.contains(name)) << "duplicate " << name;
    out[name] = s.substr(eq + 1);
  }
  return out;
}

std::vector<std::string> Strings(const json& array) {
  std::vector<std::string> out;
  for (const auto& v : array) out.push_back(v.get<std::string>());
  return out;
}

TEST(BuildOciConfigTest, ArgsAreTheSpecCommand) {
  ImageConfig image;
  image.entrypoint = {"/entry"};
  image.cmd = {"--image-default"};
  json config = Build(Spec({"/bin/sh", "-c", "echo hi"}), image);
  EXPECT_THAT(Strings(config["process"]["args"]), ElementsAre("/bin/sh", "-c", "echo hi"));
}

TEST(BuildOciConfigTest, ArgsFallBackToImageEntrypointAndCmd) {
  ImageConfig image;
  image.entrypoint = {"/docker-entrypoint.sh", "--quiet"};
  image.cmd = {"serve", "--port=80"};
  json config = Build(Spec({}), image);
  EXPECT_THAT(Strings(config["process"]["args"]),
              ElementsAre("/docker-entrypoint.sh", "--quiet", "serve", "--port=80"));

  ImageConfig cmd_only;
  cmd_only.cmd = {"sh"};
  EXPECT_THAT(Strings(Build(Spec({}), cmd_only)["process"]["args"]), ElementsAre("sh"));
}

TEST(BuildOciConfigTest, NoCommandAnywhereIsAnError) {
  Result<std::string> text = BuildOciConfig(kId, Spec({}), ImageConfig{}, OciConfigOptions{});
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), StatusCode::kInvalidArgument);

  Result<std::vector<std::string>> args = ResolveCommand(Spec({}), ImageConfig{});
  ASSERT_FALSE(args.ok());
  EXPECT_EQ(args.status().code(), StatusCode::kInvalidArgument);
}

TEST(ResolveCommandTest, SpecCommandReplacesEntrypointAndCmd) {
  ImageConfig image;
  image.entrypoint = {"/entry"};
  image.cmd = {"x"};
  Result<std::vector<std::string>> args = ResolveCommand(Spec({"echo", "1"}), image);
  ASSERT_TRUE(args.ok()) << args.status().ToString();
  EXPECT_THAT(*args, ElementsAre("echo", "1"));
}

TEST(BuildOciConfigTest, EnvHasPathAndHostname) {
  std::map<std::string, std::string> env = EnvMap(Build(Spec()));
  ASSERT_TRUE(env.contains("PATH"));
  EXPECT_THAT(env["PATH"], HasSubstr("/bin"));
  EXPECT_EQ(env["HOSTNAME"], kId);
}

TEST(BuildOciConfigTest, EnvLayersImageThenSpecThenSecure) {
  ImageConfig image;
  image.env = {"PATH=/opt/app/bin:/bin", "A=image", "B=image", "C=image", "EQ=x=y"};
  JobSpec spec = Spec();
  spec.env = {{"A", "spec"}, {"B", "spec"}, {"D", "spec"}};
  spec.secure_env = {{"A", "secret"}, {"E", "secret"}};
  std::map<std::string, std::string> env = EnvMap(Build(spec, image));
  EXPECT_EQ(env["PATH"], "/opt/app/bin:/bin");
  EXPECT_EQ(env["HOSTNAME"], kId);
  EXPECT_EQ(env["A"], "secret");
  EXPECT_EQ(env["B"], "spec");
  EXPECT_EQ(env["C"], "image");
  EXPECT_EQ(env["D"], "spec");
  EXPECT_EQ(env["E"], "secret");
  EXPECT_EQ(env["EQ"], "x=y");
  EXPECT_EQ(env.size(), 8u);
}

TEST(BuildOciConfigTest, HostnameAndRoot) {
  json config = Build(Spec());
  EXPECT_EQ(config.value("hostname", ""), kId);
  EXPECT_EQ(config["root"].value("path", ""), "rootfs");
}

TEST(BuildOciConfigTest, Namespaces) {
  json config = Build(Spec());
  std::vector<std::string> types;
  for (const auto& ns : config["linux"]["namespaces"]) types.push_back(ns.value("type", ""));
  EXPECT_THAT(types, UnorderedElementsAre("pid", "mount", "ipc", "uts", "network"));
}

TEST(BuildOciConfigTest, NoNewPrivileges) {
  json config = Build(Spec());
  ASSERT_TRUE(config["process"]["noNewPrivileges"].is_boolean());
  EXPECT_TRUE(config["process"]["noNewPrivileges"].get<bool>());
}

TEST(BuildOciConfigTest, CapabilitiesAreDockerDefaults) {
  json caps = Build(Spec())["process"]["capabilities"];
  EXPECT_THAT(Strings(caps["bounding"]),
              UnorderedElementsAre("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
                                   "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
                                   "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                                   "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"));
  for (const char* set : {"bounding", "effective", "permitted", "inheritable", "ambient"}) {
    if (!caps.contains(set)) continue;
    std::vector<std::string> names = Strings(caps[set]);
    EXPECT_THAT(names, ::testing::Not(::testing::Contains("CAP_SYS_ADMIN"))) << set;
    EXPECT_LE(std::set<std::string>(names.begin(), names.end()).size(), 14u) << set;
  }
}

TEST(BuildOciConfigTest, CpuLimit) {
  JobSpec spec = Spec();
  spec.cpu = 0.5;
  json cpu = Build(spec)["linux"]["resources"]["cpu"];
  EXPECT_EQ(cpu.value("quota", int64_t{0}), 50000);
  EXPECT_EQ(cpu.value("period", int64_t{0}), 100000);

  spec.cpu = 2;
  cpu = Build(spec)["linux"]["resources"]["cpu"];
  EXPECT_EQ(cpu.value("quota", int64_t{0}), 200000);
}

TEST(BuildOciConfigTest, MemoryLimit) {
  JobSpec spec = Spec();
  spec.memory_gb = 1;
  json memory = Build(spec)["linux"]["resources"]["memory"];
  EXPECT_EQ(memory.value("limit", int64_t{0}), 1073741824);

  spec.memory_gb = 0.5;
  memory = Build(spec)["linux"]["resources"]["memory"];
  EXPECT_EQ(memory.value("limit", int64_t{0}), 536870912);
}

TEST(BuildOciConfigTest, NoCpuOrMemoryLimitByDefault) {
  json resources = Build(Spec())["linux"]["resources"];
  EXPECT_FALSE(resources.contains("cpu")) << resources.dump();
  EXPECT_FALSE(resources.contains("memory")) << resources.dump();
}

TEST(BuildOciConfigTest, PidsLimitFromOptions) {
  OciConfigOptions opts;
  opts.pids_limit = 77;
  json resources = Build(Spec(), {}, opts)["linux"]["resources"];
  EXPECT_EQ(resources["pids"].value("limit", int64_t{0}), 77);

  opts.pids_limit = 0;
  resources = Build(Spec(), {}, opts)["linux"]["resources"];
  EXPECT_FALSE(resources.contains("pids")) << resources.dump();
}

TEST(BuildOciConfigTest, CwdFromImageOrRoot) {
  EXPECT_EQ(Build(Spec())["process"].value("cwd", ""), "/");
  ImageConfig image;
  image.working_dir = "/srv/app";
  EXPECT_EQ(Build(Spec(), image)["process"].value("cwd", ""), "/srv/app");
}

TEST(BuildOciConfigTest, NumericImageUser) {
  ImageConfig image;
  image.user = "1000:1000";
  json user = Build(Spec(), image)["process"]["user"];
  EXPECT_EQ(user.value("uid", -1), 1000);
  EXPECT_EQ(user.value("gid", -1), 1000);

  image.user = "1001:2002";
  user = Build(Spec(), image)["process"]["user"];
  EXPECT_EQ(user.value("uid", -1), 1001);
  EXPECT_EQ(user.value("gid", -1), 2002);
}

TEST(BuildOciConfigTest, NoImageUserIsRoot) {
  json user = Build(Spec())["process"]["user"];
  EXPECT_EQ(user.value("uid", -1), 0);
  EXPECT_EQ(user.value("gid", -1), 0);
}

// The image config comes from a registry: a User that does not fit a uid must be an error, not
// an exception escaping the runtime layer (std::stoul throws std::out_of_range on the first) and
// not a uid outside the OCI spec's uint32 range (the second).
TEST(BuildOciConfigTest, OutOfRangeImageUserIsAnError) {
  for (const char* user : {"99999999999999999999", "1000:99999999999999999999", "4294967296"}) {
    SCOPED_TRACE(user);
    ImageConfig image;
    image.user = user;
    bool threw = false;
    std::optional<Result<std::string>> text;
    try {
      text.emplace(BuildOciConfig(kId, Spec(), image, OciConfigOptions{}));
    } catch (const std::exception& e) {
      threw = true;
      ADD_FAILURE() << "BuildOciConfig threw: " << e.what();
    }
    if (!threw) {
      ASSERT_TRUE(text.has_value());
      EXPECT_FALSE(text->ok()) << "accepted User " << user << ": " << **text;
    }
  }
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

json BuildWith(const JobSpec& spec, const OciConfigOptions& opts) {
  Result<std::string> text = BuildOciConfig("id", spec, ImageConfig{}, opts);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? json::parse(*text) : json::object();
}

JobSpec Busybox() {
  JobSpec spec;
  spec.image = "busybox";
  spec.command = {"/bin/true"};
  return spec;
}

TEST(IsolationConfigTest, DefaultLimitsApplyOnlyWhenTheSpecGivesNone) {
  OciConfigOptions opts;
  opts.default_cpu = 0.25;
  opts.default_memory_gb = 0.5;
  json r = BuildWith(Busybox(), opts)["linux"]["resources"];
  EXPECT_EQ(r["cpu"].value("quota", 0), 25000);
  EXPECT_EQ(r["memory"].value("limit", int64_t{0}), 536870912);
  EXPECT_EQ(r["memory"].value("swap", int64_t{0}), 536870912) << "no swap beyond the limit";
  JobSpec spec = Busybox();
  spec.cpu = 2;
  spec.memory_gb = 1;
  r = BuildWith(spec, opts)["linux"]["resources"];
  EXPECT_EQ(r["cpu"].value("quota", 0), 200000);
  EXPECT_EQ(r["memory"].value("limit", int64_t{0}), 1073741824);
}

TEST(IsolationConfigTest, UserNamespaceMapsRootToTheRange) {
  OciConfigOptions opts;
  opts.user_namespace = {100000, 65536};
  json linux_section = BuildWith(Busybox(), opts)["linux"];
  std::vector<std::string> types;
  for (const auto& ns : linux_section["namespaces"]) types.push_back(ns.value("type", ""));
  EXPECT_THAT(types, ::testing::Contains("user"));
  for (const char* key : {"uidMappings", "gidMappings"}) {
    ASSERT_EQ(linux_section[key].size(), 1u) << key;
    EXPECT_EQ(linux_section[key][0].value("containerID", -1), 0);
    EXPECT_EQ(linux_section[key][0].value("hostID", 0), 100000);
    EXPECT_EQ(linux_section[key][0].value("size", 0), 65536);
  }
  json plain = BuildWith(Busybox(), OciConfigOptions{})["linux"];
  EXPECT_FALSE(plain.contains("uidMappings"));
}

TEST(IsolationConfigTest, NetworkNoneHasItsOwnNamespaceHostHasNone) {
  JobSpec spec = Busybox();
  auto types = [](const json& config) {
    std::vector<std::string> out;
    for (const auto& ns : config["linux"]["namespaces"]) out.push_back(ns.value("type", ""));
    return out;
  };
  EXPECT_THAT(types(BuildWith(spec, {})), ::testing::Contains("network"));
  spec.network = NetworkMode::kHost;
  json host = BuildWith(spec, {});
  EXPECT_THAT(types(host), ::testing::Not(::testing::Contains("network")));
  bool sys_bound = false;
  for (const auto& m : host["mounts"]) {
    if (m["destination"] == "/sys") sys_bound = m["type"] == "bind";
  }
  EXPECT_TRUE(sys_bound);
}

TEST(IsolationConfigTest, ReadOnlyRootFilesystem) {
  JobSpec spec = Busybox();
  EXPECT_FALSE(BuildWith(spec, {})["root"]["readonly"].get<bool>());
  spec.read_only_root_filesystem = true;
  EXPECT_TRUE(BuildWith(spec, {})["root"]["readonly"].get<bool>());
}

TEST(IsolationConfigTest, SeccompFromTheProfileWithTheJobsCaps) {
  OciConfigOptions opts;
  opts.seccomp_profile = R"({
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                 "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
    "syscalls": [
      {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
      {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["reboot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
       "excludes": {"caps": ["CAP_SYS_BOOT"]}},
      {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
      {"names": ["breakpoint"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm"]}},
      {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
    ]})";
  json seccomp = BuildWith(Busybox(), opts)["linux"]["seccomp"];
  EXPECT_EQ(seccomp["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(seccomp["defaultErrnoRet"], 38);
  EXPECT_THAT(Strings(seccomp["architectures"]),
              ElementsAre("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"));
  std::set<std::string> names;
  for (const auto& s : seccomp["syscalls"]) {
    for (const auto& n : s["names"]) names.insert(n.get<std::string>());
    if (s["names"][0] == "personality") {
      EXPECT_EQ(s["args"][0]["value"], 8);
    }
    if (s["names"][0] == "reboot") {
      EXPECT_EQ(s["errnoRet"], 1);
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"read", "write", "chroot", "reboot", "arch_prctl",
                                          "personality"}));

  opts.seccomp_profile = "{not json";
  EXPECT_FALSE(BuildOciConfig("id", Busybox(), ImageConfig{}, opts).ok());
}

TEST(IsolationConfigTest, TheShippedPodmanProfileTranslates) {
  std::ifstream in("/usr/share/containers/seccomp.json");
  if (!in) GTEST_SKIP() << "golang-github-containers-common is not installed";
  OciConfigOptions opts;
  opts.seccomp_profile.assign(std::istreambuf_iterator<char>(in), {});
  json seccomp = BuildWith(Busybox(), opts)["linux"]["seccomp"];
  std::set<std::string> allowed;
  for (const auto& s : seccomp["syscalls"]) {
    if (s["action"] != "SCMP_ACT_ALLOW") continue;
    for (const auto& n : s["names"]) allowed.insert(n.get<std::string>());
  }
  EXPECT_TRUE(allowed.contains("read"));
  EXPECT_TRUE(allowed.contains("chroot")) << "CAP_SYS_CHROOT is a default cap";
  EXPECT_FALSE(allowed.contains("open_by_handle_at")) << "needs CAP_DAC_READ_SEARCH";
  EXPECT_FALSE(allowed.contains("init_module")) << "needs CAP_SYS_MODULE";
  EXPECT_FALSE(allowed.contains("bpf"));
  EXPECT_FALSE(allowed.contains("kexec_load"));
}

TEST(IsolationConfigTest, TheFilterTravelsPrecompiledBesideItsSection) {
  std::ifstream in("/usr/share/containers/seccomp.json");
  ASSERT_TRUE(in) << "golang-github-containers-common is not installed (scripts/install-deps.sh)";
  OciConfigOptions opts;
  opts.seccomp_profile.assign(std::istreambuf_iterator<char>(in), {});
  json config = BuildWith(Busybox(), opts);
  ASSERT_TRUE(config.contains("annotations")) << "no precompiled filter";
  std::string data = config["annotations"].value(kSeccompBpfAnnotation, "");
  Result<std::string> compiled = CompileSeccompBpf(config["linux"]["seccomp"]);
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  EXPECT_EQ(data, Base64Encode(*compiled)) << "the annotation is the section, compiled";

  opts.seccomp_profile.clear();
  EXPECT_FALSE(BuildWith(Busybox(), opts).contains("annotations")) << "no profile, no filter";
}

TEST(IsolationConfigTest, ARuntimeThatLoadsTheProgramAloneGetsNoRules) {
  std::ifstream in("/usr/share/containers/seccomp.json");
  ASSERT_TRUE(in) << "golang-github-containers-common is not installed (scripts/install-deps.sh)";
  OciConfigOptions opts;
  opts.seccomp_profile.assign(std::istreambuf_iterator<char>(in), {});
  std::string both = BuildOciConfig("id", Busybox(), ImageConfig{}, opts).value();
  opts.seccomp_program_only = true;
  std::string alone = BuildOciConfig("id", Busybox(), ImageConfig{}, opts).value();
  json config = json::parse(alone);
  EXPECT_FALSE(config["linux"].contains("seccomp")) << "the rules travel only to compile them";
  EXPECT_EQ(config["annotations"].value(kSeccompBpfAnnotation, ""),
            json::parse(both)["annotations"].value(kSeccompBpfAnnotation, ""))
      << "the same program as beside the rules";
  EXPECT_LT(alone.size() * 4, both.size() * 3) << "a quarter less at least";

  // Rules that need the runtime's own compile keep the section.
  opts.seccomp_profile = R"({"defaultAction": "SCMP_ACT_ERRNO",
    "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]})";
  json notify = BuildWith(Busybox(), opts);
  EXPECT_TRUE(notify["linux"].contains("seccomp")) << "no program for a notify action";
}

TEST(IsolationConfigTest, WarmingCompilesTheFilterTheJobsThenUse) {
  OciConfigOptions opts;
  opts.seccomp_profile = R"({"defaultAction": "SCMP_ACT_ERRNO",
    "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                 {"names": ["chroot"], "action": "SCMP_ACT_ALLOW",
                  "includes": {"caps": ["CAP_SYS_CHROOT"]}}]})";
  Result<std::shared_ptr<const SeccompFilter>> warm = WarmSeccompFilter(opts);
  ASSERT_TRUE(warm.ok()) << warm.status().ToString();
  ASSERT_NE(*warm, nullptr);
  ASSERT_FALSE((*warm)->bpf.empty());
  json config = BuildWith(Busybox(), opts);
  EXPECT_EQ(config["annotations"].value(kSeccompBpfAnnotation, ""), (*warm)->bpf_base64)
      << "a job with the default capabilities gets the warmed program";
  Result<std::shared_ptr<const SeccompFilter>> again = WarmSeccompFilter(opts);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), warm->get()) << "compiled once";

  EXPECT_EQ(*WarmSeccompFilter(OciConfigOptions{}), nullptr) << "no profile, nothing to warm";
}

TEST(ParseIdRangeTest, Ranges) {
  Result<IdRange> r = ParseIdRange("100000:65536");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->start, 100000u);
  EXPECT_EQ(r->count, 65536u);
  EXPECT_EQ(ParseIdRange("")->count, 0u);
  EXPECT_EQ(ParseIdRange("0:0")->count, 0u);
  for (const char* bad :
       {"0:65536", "100000", "a:b", "100000:0", "4294967295:2", ":5", "5:", "-1:5", "1:2:3"}) {
    EXPECT_FALSE(ParseIdRange(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

const json* FindMount(const json& config, const std::string& destination) {
  for (const auto& m : config["mounts"]) {
    if (m["destination"] == destination) return &m;
  }
  return nullptr;
}

// Issue 10 (Docker's default): every device is denied first; then only the standard ones.
TEST(IsolationConfigTest, DevicesAreDeniedFirstThenTheStandardOnesAllowed) {
  json devices = BuildWith(Busybox(), {})["linux"]["resources"]["devices"];
  ASSERT_TRUE(devices.is_array()) << devices;
  ASSERT_FALSE(devices.empty());
  EXPECT_EQ(devices[0], (json{{"allow", false}, {"access", "rwm"}})) << devices;
  std::set<std::string> allowed;
  for (size_t i = 1; i < devices.size(); ++i) {
    EXPECT_TRUE(devices[i].value("allow", false)) << devices[i];
    EXPECT_EQ(devices[i].value("type", ""), "c") << devices[i];
    allowed.insert(std::to_string(devices[i].value("major", -1)) + ":" +
                   (devices[i].contains("minor") ? std::to_string(devices[i].value("minor", -1))
                                                 : std::string("*")));
  }
  EXPECT_EQ(allowed,
            (std::set<std::string>{"1:3", "1:5", "1:7", "1:8", "1:9", "5:0", "5:2", "136:*"}));
}

// Issue 10: with the host network, /sys is a bind of the host's; "ro" alone leaves its submounts
// writable, "rro" (recursive read-only) covers them.
TEST(IsolationConfigTest, HostSysIsRecursivelyReadOnly) {
  JobSpec spec = Busybox();
  spec.network = NetworkMode::kHost;
  const json config = BuildWith(spec, {});
  const json* sys = FindMount(config, "/sys");
  ASSERT_NE(sys, nullptr);
  EXPECT_THAT(Strings((*sys)["options"]), ::testing::Contains("rro")) << *sys;
  EXPECT_THAT(Strings((*sys)["options"]), ::testing::Not(::testing::Contains("ro"))) << *sys;
}

// Issue 10: /tmp was an unsized tmpfs.
TEST(IsolationConfigTest, TmpIsASizedTmpfs) {
  OciConfigOptions opts;
  EXPECT_EQ(opts.tmp_size_bytes, int64_t{256} << 20);
  opts.tmp_size_bytes = 32 << 20;
  const json config = BuildWith(Busybox(), opts);
  const json* tmp = FindMount(config, "/tmp");
  ASSERT_NE(tmp, nullptr);
  EXPECT_THAT(Strings((*tmp)["options"]), ::testing::Contains("size=33554432")) << *tmp;
}

}  // namespace
}  // namespace berth
