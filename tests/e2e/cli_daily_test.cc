// End-to-end: the daily experience of the command line (issue 13), each point with the real
// binary: submit -f with -e, keys create/renew guards, ls paging, plain transport errors,
// --listen forms, settings errors with line and column, image commands that refuse a dir
// without berth data and guard the default job's image.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/child_process.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

int Berth(const std::vector<std::string>& args, std::string* out) {
  std::vector<std::string> argv{BERTH_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, "", out);
}

size_t CountLines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class CliDailyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }
  TempDir tmp_;
};

TEST_F(CliDailyTest, SubmitFileWithEnvMergesIntoTheSpecAndOverrides) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  fs::path spec = tmp_.path() / "spec.json";
  std::ofstream(spec) << R"({"image": "busybox", "command": ["/bin/sh", "-c", "echo X=$X Y=$Y"],
                             "environmentVariables": {"X": "1", "Y": "2"}})";
  std::string out;
  ASSERT_EQ(berth.RunCli({"submit", "--server", berth.url(), "--key", berth.key(), "-f",
                          spec.string(), "-e", "X=9", "-e", "Z=3", "--wait"},
                         &out),
            0)
      << out;
  EXPECT_NE(out.find("X=9 Y=2\n"), std::string::npos) << "-e overrides X, keeps Y:\n" << out;

  // A spec file that is not JSON is named when it is to be merged.
  std::ofstream(tmp_.path() / "bad.json") << "{oops";
  out.clear();
  EXPECT_EQ(berth.RunCli({"submit", "--server", berth.url(), "--key", berth.key(), "-f",
                          (tmp_.path() / "bad.json").string(), "-e", "X=9"},
                         &out),
            2)
      << out;
  EXPECT_NE(out.find("bad.json: not a JSON object"), std::string::npos) << out;
}

TEST_F(CliDailyTest, KeysCreateRefusesAnExistingNameAndRenewRefusesAMissingOne) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  auto keys = [&](std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), "keys");
    for (const std::string& a : {std::string("--server"), berth.url(), std::string("--data-dir"),
                                 berth.data_dir().string()}) {
      args.push_back(a);
    }
    out->clear();
    return berth.RunCli(args, out);
  };
  std::string out;
  ASSERT_EQ(keys({"create", "nightly"}, &out), 0) << out;
  std::string first = out;
  EXPECT_EQ(keys({"create", "nightly"}, &out), 1) << out;
  EXPECT_NE(out.find("'nightly' exists already"), std::string::npos) << out;
  EXPECT_NE(out.find("--force"), std::string::npos) << out;
  ASSERT_EQ(keys({"list"}, &out), 0);
  EXPECT_EQ(out, "nightly\t" + first) << "the refused create changed nothing";
  ASSERT_EQ(keys({"create", "nightly", "--force"}, &out), 0) << out;
  EXPECT_NE(out, first);

  EXPECT_EQ(keys({"renew", "nokey"}, &out), 1) << out;
  EXPECT_NE(out.find("no key of function 'jobs' named 'nokey'"), std::string::npos) << out;
  ASSERT_EQ(keys({"list"}, &out), 0);
  EXPECT_EQ(out.find("nokey"), std::string::npos) << "renew created a key:\n" << out;
  EXPECT_EQ(keys({"renew", "nightly"}, &out), 0) << out;
}

TEST_F(CliDailyTest, LsSaysWhenMoreJobsExistAndPagesWithCursorAllAndJson) {
  BerthProcess berth(json{{"DispatchPaused", true}});
  ASSERT_FALSE(berth.url().empty());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(berth.SubmitOk(R"({"image": "busybox", "command": "true"})"));
  const std::vector<std::string> where = {"--server", berth.url(), "--key", berth.key()};
  auto ls = [&](std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), "ls");
    args.insert(args.end(), where.begin(), where.end());
    out->clear();
    return berth.RunCli(args, out);
  };
  std::string out;
  ASSERT_EQ(ls({"-n", "2"}, &out), 0) << out;
  EXPECT_EQ(CountLines(out, "Queued"), 2u) << out;
  EXPECT_NE(out.find(ids[2]), std::string::npos) << "newest first:\n" << out;
  size_t hint = out.find("more jobs exist: 'berth ls --cursor ");
  ASSERT_NE(hint, std::string::npos) << out;
  std::string cursor = out.substr(hint + 36, out.find('\'', hint + 36) - (hint + 36));

  ASSERT_EQ(ls({"-n", "2", "--cursor", cursor}, &out), 0) << out;
  EXPECT_EQ(CountLines(out, "Queued"), 1u) << out;
  EXPECT_NE(out.find(ids[0]), std::string::npos) << out;
  EXPECT_EQ(out.find("more jobs exist"), std::string::npos) << out;

  ASSERT_EQ(ls({"-n", "2", "--all"}, &out), 0) << out;
  EXPECT_EQ(CountLines(out, "Queued"), 3u) << out;
  EXPECT_EQ(out.find("more jobs exist"), std::string::npos) << out;

  ASSERT_EQ(ls({"-n", "2", "--json"}, &out), 0) << out;
  json page = json::parse(out, nullptr, false);
  ASSERT_FALSE(page.is_discarded()) << out;
  EXPECT_EQ(page["jobs"].size(), 2u);
  EXPECT_EQ(page["nextCursor"], cursor);
  ASSERT_EQ(ls({"--json", "--all", "-n", "1"}, &out), 0) << out;
  page = json::parse(out, nullptr, false);
  ASSERT_FALSE(page.is_discarded()) << out;
  EXPECT_EQ(page["jobs"].size(), 3u);
  EXPECT_TRUE(page["nextCursor"].is_null());
}

// A server that answers every connection with a body shorter than its Content-Length.
class TruncatingServer {
 public:
  TruncatingServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 4);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      (void)!read(c, buf, sizeof buf);
      std::string answer =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"st";
      (void)!write(c, answer.data(), answer.size());
      close(c);
    });
  }
  ~TruncatingServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(CliDailyTest, TransportErrorsAreInPlainWordsWithoutCurlJargon) {
  const std::string id = "0b6a8a8e-7f36-4e43-9b7a-2f1a9c1f0a11";
  std::string out;
  {
    TruncatingServer server;
    EXPECT_EQ(Berth({"status", "--server", "http://127.0.0.1:" + std::to_string(server.port()), id},
                    &out),
              1)
        << out;
  }
  EXPECT_NE(out.find("broke before its answer was complete"), std::string::npos) << out;
  EXPECT_EQ(out.find("Transferred a partial file"), std::string::npos) << out;

  out.clear();
  // Port 9 (discard) on loopback: nothing listens there in the test machine.
  EXPECT_EQ(Berth({"status", "--server", "http://127.0.0.1:9", id}, &out), 1) << out;
  EXPECT_NE(out.find("nothing answers at http://127.0.0.1:9 (is 'berth serve' running there?"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("Couldn't connect"), std::string::npos) << out;
}

TEST_F(CliDailyTest, ListenTakesAHostNameOrABarePort) {
  fs::path settings = tmp_.path() / "settings.json";
  std::ofstream(settings) << R"({"Values": {"DefaultRegistry": "127.0.0.1:9"}})";
  for (const std::string listen : {"localhost:0", ":0", "0"}) {
    fs::path data = tmp_.path() / ("data" + std::to_string(std::hash<std::string>{}(listen)));
    ChildProcess serve({BERTH_BINARY, "serve", "--listen", listen, "--data-dir", data.string(),
                        "--settings", settings.string()},
                       tmp_.path() / "serve.log");
    std::optional<int> port = serve.WaitListeningPort(std::chrono::seconds(30));
    ASSERT_TRUE(port.has_value()) << listen << ":\n" << serve.Output();
    Reply r = Http("GET", "http://127.0.0.1:" + std::to_string(*port) + "/api/version");
    EXPECT_EQ(r.status, 200) << listen << ": loopback, by name or by default\n" << serve.Output();
  }
  std::string out;
  EXPECT_EQ(Berth({"serve", "--listen", "localhost:http:x", "--data-dir",
                   (tmp_.path() / "never").string()},
                  &out),
            1)
      << out;
  EXPECT_NE(out.find("--listen must be HOST:PORT, :PORT or PORT"), std::string::npos) << out;
}

TEST_F(CliDailyTest, MalformedSettingsFileNamesLineAndColumn) {
  fs::path settings = tmp_.path() / "settings.json";
  std::ofstream(settings)
      << "{\n  \"Values\": {\n    \"MaxRetries\": 3\n    \"Runtime\": \"crun\"\n"
         "  }\n}\n";
  std::string out;
  EXPECT_EQ(Berth({"serve", "--listen", "127.0.0.1:0", "--data-dir",
                   (tmp_.path() / "data").string(), "--settings", settings.string()},
                  &out),
            1)
      << out;
  EXPECT_NE(out.find(settings.string() + ": malformed JSON at line 4, column 5"), std::string::npos)
      << out;
  EXPECT_FALSE(fs::exists(tmp_.path() / "data")) << "nothing is made before the settings read";
}

TEST_F(CliDailyTest, ImageCommandsRefuseADirWithoutBerthDataAndGuardTheDefaultImage) {
  std::string out;
  fs::path missing = tmp_.path() / "missing";
  EXPECT_EQ(Berth({"image", "ls", "--data-dir", missing.string()}, &out), 1) << out;
  EXPECT_NE(out.find("no data dir at " + missing.string()), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(missing));

  fs::path empty = tmp_.path() / "empty";
  fs::create_directories(empty);
  fs::path layout = fs::path(BERTH_BUILD_DIR) / "images" / "busybox";
  out.clear();
  EXPECT_EQ(
      Berth({"image", "import", layout.string(), "mine:1", "--data-dir", empty.string()}, &out), 1)
      << out;
  EXPECT_NE(out.find(empty.string() + " holds no berth data"), std::string::npos) << out;
  EXPECT_TRUE(fs::is_empty(empty)) << "nothing was created there";

  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  const std::string data = berth.data_dir().string();
  out.clear();
  ASSERT_EQ(Berth({"image", "import", layout.string(), "mine:1", "--data-dir", data}, &out), 0)
      << out;
  out.clear();
  EXPECT_EQ(Berth({"image", "rm", "docker.io/library/busybox:latest", "--data-dir", data}, &out), 1)
      << out;
  EXPECT_NE(out.find("the image the default job runs (DefaultJobImage)"), std::string::npos) << out;
  out.clear();
  ASSERT_EQ(Berth({"image", "ls", "--data-dir", data}, &out), 0) << out;
  EXPECT_NE(out.find("docker.io/library/busybox:latest"), std::string::npos) << out;
  out.clear();
  ASSERT_EQ(Berth({"image", "rm", "mine:1", "--data-dir", data}, &out), 0) << out;
  out.clear();
  ASSERT_EQ(Berth({"image", "rm", "busybox", "--force", "--data-dir", data}, &out), 0) << out;
  out.clear();
  ASSERT_EQ(Berth({"image", "ls", "--data-dir", data}, &out), 0) << out;
  EXPECT_EQ(out.find("busybox"), std::string::npos) << out;
}

}  // namespace
}  // namespace berth::e2e
