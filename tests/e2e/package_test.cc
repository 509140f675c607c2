// End-to-end: the .deb `make package` builds (CPack), unpacked with dpkg-deb: its files, its
// control data (dependencies, conffile), its systemd unit (checked by systemd-analyze verify),
// and the packaged binary serving a real job from a fresh data dir.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/child_process.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

std::string ReadText(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The .deb is built and unpacked once for the suite (cpack takes a while).
class PackageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    std::string out;
    // Build the .deb from this build dir into our temp dir (the binaries are built already).
    if (RunProgram(
            {"cpack", "-G", "DEB", "--config", std::string(BERTH_BUILD_DIR) + "/CPackConfig.cmake",
             "-B", dir_->path().string()},
            "", &out) != 0) {
      setup_error_ = "cpack failed: " + out;
      return;
    }
    for (const auto& e : fs::directory_iterator(dir_->path())) {
      if (e.path().extension() == ".deb") deb_ = e.path();
    }
    root_ = dir_->path() / "root";
    if (deb_.empty() ||
        RunProgram({"dpkg-deb", "-x", deb_.string(), root_.string()}, "", &out) != 0 ||
        RunProgram({"dpkg-deb", "-e", deb_.string(), (dir_->path() / "DEBIAN").string()}, "",
                   &out) != 0) {
      setup_error_ = "no .deb, or dpkg-deb failed: " + out;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
    ASSERT_EQ(setup_error_, "");
  }
  static fs::path dir() { return dir_->path(); }

  static inline TempDir* dir_ = nullptr;
  static inline std::string setup_error_;
  static inline fs::path deb_;
  static inline fs::path root_;
};

TEST_F(PackageTest, HoldsBinariesUnitSettingsAndDeclaresItsDependencies) {
  EXPECT_EQ(deb_.filename().string(), "berth_0.1.0_amd64.deb");
  std::vector<std::string> binaries = {"usr/bin/berth", "usr/bin/berth-shim"};
  // A quiet job's monitor waits as berth-shim-wait where it is built (x86-64 only).
  if (BERTH_SHIM_WAIT_BUILT) binaries.push_back("usr/bin/berth-shim-wait");
  for (const std::string& f : binaries) {
    struct stat st {};
    ASSERT_EQ(stat((root_ / f).c_str(), &st), 0) << f;
    EXPECT_TRUE(st.st_mode & S_IXUSR) << f;
  }
  EXPECT_TRUE(fs::exists(root_ / "usr/share/berth/images/busybox/index.json"));
  EXPECT_TRUE(fs::exists(root_ / "usr/share/doc/berth/README.md"));
  // The bash completion, as the packaged binary itself writes it.
  std::string completion;
  ASSERT_EQ(RunProgram({(root_ / "usr/bin/berth").string(), "completion", "bash"}, "", &completion),
            0);
  EXPECT_EQ(ReadText(root_ / "usr/share/bash-completion/completions/berth"), completion);
  EXPECT_NE(completion.find("complete -o default -F _berth berth"), std::string::npos);
  fs::path unit = root_ / "usr/lib/systemd/system/berth.service";
  ASSERT_TRUE(fs::exists(unit));
  std::string u = ReadText(unit);
  for (const char* line :
       {"ExecStart=/usr/bin/berth serve --settings /etc/berth/settings.json --data-dir "
        "/var/lib/berth",
        "KillMode=process", "Delegate=yes", "Restart=on-failure", "ProtectSystem=full"}) {
    EXPECT_NE(u.find(line), std::string::npos) << line;
  }
  auto settings = nlohmann::json::parse(ReadText(root_ / "etc/berth/settings.json"));
  EXPECT_EQ(settings["Values"]["BundledImagesDir"], "/usr/share/berth/images");

  std::string control = ReadText(dir() / "DEBIAN/control");
  EXPECT_NE(control.find("Package: berth"), std::string::npos) << control;
  EXPECT_NE(control.find("Version: 0.1.0"), std::string::npos) << control;
  std::smatch depends;
  ASSERT_TRUE(std::regex_search(control, depends, std::regex("Depends: ([^\n]*)"))) << control;
  for (const char* dep :
       {"crun | runc", "libprometheus-cpp-core", "libsqlite3", "libcurl", "libarchive"}) {
    EXPECT_NE(depends[1].str().find(dep), std::string::npos) << dep << " in " << depends[1];
  }
  EXPECT_EQ(ReadText(dir() / "DEBIAN/conffiles"), "/etc/berth/settings.json\n");
}

TEST_F(PackageTest, SystemdAnalyzeVerifiesTheUnit) {
  // verify resolves ExecStart's binary: point it at the unpacked root.
  fs::path unit = root_ / "usr/lib/systemd/system/berth.service";
  std::string text = ReadText(unit);
  text =
      std::regex_replace(text, std::regex("/usr/bin/berth "), (root_ / "usr/bin/berth ").string());
  fs::path checked = dir() / "berth.service";
  std::ofstream(checked) << text;
  std::string out;
  int code = RunProgram({"systemd-analyze", "verify", checked.string()}, "", &out,
                        {"SYSTEMD_LOG_LEVEL=notice"});
  // Only our unit's problems count (verify may warn about the host's other units).
  std::string ours;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("berth.service") != std::string::npos) ours += line + "\n";
  }
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(ours, "") << out;

  // The check is real: a unit with a typo fails it.
  std::ofstream(checked) << std::regex_replace(text, std::regex("KillMode=process"),
                                               "KillMode=procss");
  std::string bad;
  RunProgram({"systemd-analyze", "verify", checked.string()}, "", &bad);
  EXPECT_NE(bad.find("procss"), std::string::npos) << bad;
}

TEST_F(PackageTest, PackagedBinaryRunsAJobFromAFreshDataDir) {
  fs::path berth = root_ / "usr/bin/berth";
  std::string version;
  ASSERT_EQ(RunProgram({berth.string(), "version"}, "", &version), 0) << version;
  EXPECT_EQ(version.rfind("berth 0.1.0 (commit ", 0), 0u) << version;

  fs::path data = dir() / "data";
  ChildProcess serve({berth.string(), "serve", "--listen", "127.0.0.1:0", "--data-dir",
                      data.string(), "--settings", (root_ / "etc/berth/settings.json").string()},
                     dir() / "serve.log",
                     {"BundledImagesDir=" + (root_ / "usr/share/berth/images").string(),
                      "DefaultRegistry=127.0.0.1:9"});
  std::optional<int> port = serve.WaitListeningPort(seconds(60));
  ASSERT_TRUE(port.has_value()) << serve.Output();
  std::string url = "http://127.0.0.1:" + std::to_string(*port);
  std::string key = ReadText(data / "function-key");
  while (!key.empty() && key.back() == '\n') key.pop_back();
  Reply post = Http("POST", url + "/api/jobs", R"({"image":"busybox","command":"echo packaged"})",
                    {"x-functions-key: " + key});
  ASSERT_EQ(post.status, 202) << post.body;
  std::string id = post.Json()["id"];
  Reply r;
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    r = Http("GET", url + "/api/jobs/" + id);
    if (r.status != 202) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(r.status, 200) << r.body << "\n" << serve.Output();
  EXPECT_EQ(r.Json()["logs"], "packaged\n");
  EXPECT_TRUE(fs::exists(data / "berth.db"));
}

}  // namespace
}  // namespace berth::e2e
