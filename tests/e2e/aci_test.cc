// End-to-end: the ACI-compatible API (ArmListen) driven by the real Azure SDK,
// @azure/arm-containerinstance (tests/e2e/aci, pinned by its package-lock.json), against the real
// daemon and real crun: create as a long-running operation, poll to Succeeded, logs, a failing
// container's exit code, listings, stop, delete, the ARM errors for what berth cannot do. The
// SDK trusts berth's self-signed certificate through NODE_EXTRA_CA_CERTS, as a user would.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/child_process.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kSubscription[] = "00000000-1111-2222-3333-444444444444";

// The ACI listener's URL from the daemon's log ("" when it did not log one).
std::string ArmUrl(const BerthProcess& berth) {
  std::string out = berth.ServerOutput();
  const std::string marker = "ACI-compatible API on ";
  size_t at = out.find(marker);
  if (at == std::string::npos) return "";
  size_t start = at + marker.size();
  return out.substr(start, out.find_first_of(" \"\n", start) - start);
}

bool Contains(const json& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

class AciTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
    // Installed by scripts/install-deps.sh (npm ci): missing is a failure, never a skip.
    ASSERT_TRUE(fs::exists(script_dir_ / "node_modules/@azure/arm-containerinstance/package.json"))
        << "run scripts/install-deps.sh (npm ci in tests/e2e/aci)";
  }
  fs::path script_dir_ = fs::path(BERTH_SOURCE_DIR) / "tests/e2e/aci";
};

TEST_F(AciTest, TheAzureSdkDrivesContainerGroupsAsJobs) {
  BerthProcess berth(json{{"ArmListen", "127.0.0.1:0"}, {"CancelGraceSeconds", 2}});
  ASSERT_FALSE(berth.url().empty());
  std::string arm = ArmUrl(berth);
  ASSERT_EQ(arm.rfind("https://127.0.0.1:", 0), 0u) << berth.ServerOutput();

  // The self-signed pair is in the data dir, the key private, the certificate named in the log.
  fs::path cert = berth.data_dir() / "arm-tls.crt";
  struct stat st {};
  ASSERT_EQ(stat((berth.data_dir() / "arm-tls.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_NE(berth.ServerOutput().find("NODE_EXTRA_CA_CERTS=" + cert.string()), std::string::npos)
      << berth.ServerOutput();

  std::string out;
  int code =
      RunProgram({"node", (script_dir_ / "aci.mjs").string(), arm, berth.key(), kSubscription}, "",
                 &out, {"NODE_EXTRA_CA_CERTS=" + cert.string()});
  ASSERT_EQ(code, 0) << out << "\n--- daemon:\n" << berth.ServerOutput();
  json s = json::parse(out.substr(out.rfind("\n{") == std::string::npos ? 0 : out.rfind("\n{")),
                       nullptr, false);
  ASSERT_FALSE(s.is_discarded()) << out;

  EXPECT_EQ(s["created"]["name"], "hello");
  EXPECT_EQ(s["created"]["type"], "Microsoft.ContainerInstance/containerGroups");
  EXPECT_EQ(s["created"]["id"], std::string("/subscriptions/") + kSubscription +
                                    "/resourceGroups/batch-rg/providers/"
                                    "Microsoft.ContainerInstance/containerGroups/hello");
  EXPECT_EQ(s["created"]["provisioningState"], "Succeeded");
  EXPECT_EQ(s["created"]["tags"]["pattern"], "job");

  EXPECT_EQ(s["hello"]["state"], "Succeeded");
  EXPECT_EQ(s["hello"]["exitCode"], 0);
  EXPECT_EQ(s["hello"]["currentState"], "Terminated");
  EXPECT_EQ(s["hello"]["startTime"], true);
  EXPECT_EQ(s["hello"]["finishTime"], true);
  EXPECT_EQ(s["hello"]["restartCount"], 0);
  EXPECT_EQ(s["logs"], "hello from aci\ntoken has 12 chars\n");
  EXPECT_EQ(s["tail"], "token has 12 chars\n");
  EXPECT_EQ(s.dump().find("s3cret-value"), std::string::npos) << "a secure value was echoed";
  EXPECT_EQ(s["againState"], "Succeeded");

  EXPECT_EQ(s["fails"]["state"], "Failed");
  EXPECT_EQ(s["fails"]["exitCode"], 3);

  EXPECT_TRUE(Contains(s["listRg"], "hello") && Contains(s["listRg"], "fails")) << s["listRg"];
  EXPECT_TRUE(Contains(s["listSub"], "hello") && Contains(s["listSub"], "fails")) << s["listSub"];

  EXPECT_EQ(s["conflict"]["status"], 409) << s["conflict"];
  EXPECT_EQ(s["stopped"], "Stopped");
  EXPECT_EQ(s["afterDelete"]["status"], 404);
  EXPECT_EQ(s["afterDelete"]["code"], "ResourceNotFound");
  EXPECT_FALSE(Contains(s["listAfterDelete"], "sleeper")) << s["listAfterDelete"];

  for (const char* what : {"always", "windows", "twoContainers", "volumes", "publicIp"}) {
    const json& e = s["unsupported"][what];
    EXPECT_EQ(e["status"], 400) << what << ": " << e;
    EXPECT_EQ(e["code"], "UnsupportedFeature") << what << ": " << e;
  }
  EXPECT_NE(s["unsupported"]["always"]["message"].get<std::string>().find("restartPolicy"),
            std::string::npos);
  EXPECT_EQ(s["unsupported"]["missing"]["status"], 404);
  EXPECT_EQ(s["unauthorized"]["status"], 401);
  EXPECT_EQ(s["unauthorized"]["code"], "AuthenticationFailed");

  // One system, two front doors: the groups are jobs under /api/jobs too; nothing was made for
  // the refused groups, and the deleted one is gone.
  Reply jobs = Http("GET", berth.url() + "/api/jobs?limit=100&code=" + berth.key());
  ASSERT_EQ(jobs.status, 200) << jobs.body;
  json list = jobs.Json()["jobs"];
  EXPECT_EQ(list.size(), 2u) << list;
  int succeeded = 0, failed = 0;
  for (const json& job : list) {
    succeeded += job["state"] == "Succeeded";
    failed += job["state"] == "Failed" && job["exitCode"] == 3;
  }
  EXPECT_EQ(succeeded, 1) << list;
  EXPECT_EQ(failed, 1) << list;
}

TEST_F(AciTest, TheArmListenerSpeaksHttpsOnlyAndAGivenCertificateIsUsed) {
  TempDir tmp;
  fs::path cert = tmp.path() / "cert.pem";
  fs::path key = tmp.path() / "key.pem";
  std::string out;
  ASSERT_EQ(
      RunProgram({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                  "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                  "-keyout", key.string(), "-out", cert.string()},
                 "", &out),
      0)
      << out;
  BerthProcess berth(json{{"ArmListen", "127.0.0.1:0"},
                          {"ArmTlsCertFile", cert.string()},
                          {"ArmTlsKeyFile", key.string()}});
  std::string arm = ArmUrl(berth);
  ASSERT_FALSE(arm.empty()) << berth.ServerOutput();
  EXPECT_FALSE(fs::exists(berth.data_dir() / "arm-tls.crt"));

  std::string groups = arm + "/subscriptions/" + kSubscription +
                       "/providers/Microsoft.ContainerInstance/containerGroups";
  out.clear();
  ASSERT_EQ(RunProgram({"curl", "-sS", "--cacert", cert.string(), "-H",
                        "Authorization: Bearer " + berth.key(), groups + "?api-version=2023-05-01"},
                       "", &out),
            0)
      << out;
  EXPECT_EQ(json::parse(out, nullptr, false), json({{"value", json::array()}})) << out;
  out.clear();
  RunProgram({"curl", "-sS", "--cacert", cert.string(), groups + "?api-version=2023-05-01"}, "",
             &out);
  EXPECT_NE(out.find("\"AuthenticationFailed\""), std::string::npos) << out;
  out.clear();
  RunProgram({"curl", "-sS", "--cacert", cert.string(), "-H",
              "Authorization: Bearer " + berth.key(), groups},
             "", &out);
  EXPECT_NE(out.find("\"MissingApiVersionParameter\""), std::string::npos) << out;
  // Plain HTTP on the ARM port gets no answer.
  out.clear();
  RunProgram({"curl", "-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}",
              "http://" + arm.substr(8) +
                  "/subscriptions/x/providers/"
                  "Microsoft.ContainerInstance/containerGroups"},
             "", &out);
  EXPECT_EQ(out.find("200"), std::string::npos) << out;
  EXPECT_EQ(out.find("401"), std::string::npos) << out;
}

}  // namespace
}  // namespace berth::e2e
