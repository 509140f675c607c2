// End-to-end: HTTPS on the main listener (TlsCertFile/TlsKeyFile), with a certificate this test
// makes with the openssl CLI: curl --cacert and the berth CLI (--cacert, BERTH_CACERT) talk to
// it; plain HTTP and an untrusted certificate are refused in plain words.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/child_process.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
    cert_ = tmp_.path() / "cert.pem";
    key_ = tmp_.path() / "key.pem";
    std::string out;
    ASSERT_EQ(RunProgram(
                  {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                   "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                   "-keyout", key_.string(), "-out", cert_.string()},
                  "", &out),
              0)
        << out;
  }
  TempDir tmp_;
  fs::path cert_;
  fs::path key_;
};

TEST_F(TlsTest, MainListenerServesHttpsToCurlAndTheCli) {
  BerthProcess berth(json{{"TlsCertFile", cert_.string()}, {"TlsKeyFile", key_.string()}});
  ASSERT_FALSE(berth.url().empty());
  ASSERT_EQ(berth.url().rfind("https://127.0.0.1:", 0), 0u) << berth.url();

  std::string out;
  ASSERT_EQ(RunProgram({"curl", "-sS", "--cacert", cert_.string(), berth.url() + "/api/version"},
                       "", &out),
            0)
      << out;
  EXPECT_NE(out.find("\"version\""), std::string::npos) << out;

  out.clear();
  ASSERT_EQ(RunProgram(
                {"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", cert_.string(),
                 "-X", "POST", "-d", R"({"image": "busybox", "command": "echo over tls"})",
                 berth.url() + "/api/jobs?code=" + berth.key()},
                "", &out),
            0)
      << out;
  EXPECT_EQ(out, "202");

  // Plain HTTP on the TLS port gets no answer.
  std::string plain_url = "http://" + berth.url().substr(8);
  out.clear();
  RunProgram({"curl", "-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}",
              plain_url + "/api/version"},
             "", &out);
  EXPECT_EQ(out.find("200"), std::string::npos) << out;

  // The CLI over https: --cacert, and BERTH_CACERT.
  out.clear();
  ASSERT_EQ(berth.RunCli({"submit", "--server", berth.url(), "--key", berth.key(), "--cacert",
                          cert_.string(), "--wait", "--", "echo", "cli over tls"},
                         &out),
            0)
      << out;
  EXPECT_NE(out.find("cli over tls\n"), std::string::npos) << out;
  out.clear();
  ASSERT_EQ(RunProgram({BERTH_BINARY, "ls", "--server", berth.url(), "--key", berth.key()}, "",
                       &out, {"BERTH_CACERT=" + cert_.string()}),
            0)
      << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3) << "a header and two jobs:\n" << out;

  // Every client command trusts the same way: schedules (--cacert) and keys (BERTH_CACERT).
  out.clear();
  ASSERT_EQ(berth.RunCli({"schedule", "create", "nightly", "--cron", "0 0 3 * * *", "--server",
                          berth.url(), "--key", berth.key(), "--cacert", cert_.string()},
                         &out),
            0)
      << out;
  out.clear();
  ASSERT_EQ(
      RunProgram({BERTH_BINARY, "schedule", "ls", "--server", berth.url(), "--key", berth.key()},
                 "", &out, {"BERTH_CACERT=" + cert_.string()}),
      0)
      << out;
  EXPECT_NE(out.find("nightly"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(RunProgram({BERTH_BINARY, "keys", "list", "--server", berth.url(), "--data-dir",
                        berth.data_dir().string()},
                       "", &out, {"BERTH_CACERT=" + cert_.string()}),
            0)
      << out;

  // Without the CA the CLI says what is wrong and how to fix it.
  out.clear();
  EXPECT_EQ(RunProgram({BERTH_BINARY, "ls", "--server", berth.url(), "--key", berth.key()}, "",
                       &out, {"BERTH_CACERT="}),
            1)
      << out;
  EXPECT_NE(out.find("does not trust"), std::string::npos) << out;
  EXPECT_NE(out.find("--cacert or BERTH_CACERT"), std::string::npos) << out;
}

TEST_F(TlsTest, UnreadableCertificateStopsStartUpNamingIt) {
  fs::path settings = tmp_.path() / "settings.json";
  std::ofstream(settings) << json{{"Values",
                                   {{"TlsCertFile", (tmp_.path() / "none.pem").string()},
                                    {"TlsKeyFile", key_.string()}}}}
                                 .dump();
  std::string out;
  EXPECT_EQ(RunProgram({BERTH_BINARY, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                        (tmp_.path() / "data").string(), "--settings", settings.string()},
                       "", &out),
            1)
      << out;
  EXPECT_NE(out.find("TLS certificate " + (tmp_.path() / "none.pem").string()), std::string::npos)
      << out;
}

}  // namespace
}  // namespace berth::e2e
