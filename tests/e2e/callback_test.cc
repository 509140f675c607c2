// End-to-end: completion callbacks against the real daemon and real crun, with a receiver
// started by the test — one verified delivery per finished job after two 500s, and across a
// kill -9 between the job's end and the delivery; loopback refused by default.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <thread>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/callback_receiver.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string HmacHex(const std::string& key, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

class CallbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }

  // The signing secret for callbacks to 127.0.0.1, as its owner gets it (master key).
  std::string Secret(BerthProcess& b) {
    std::string master = ReadAll(b.data_dir() / "master-key");
    while (!master.empty() && master.back() == '\n') master.pop_back();
    Reply r = Http("GET", b.url() + "/admin/callback-secret?host=127.0.0.1", "",
                   {"x-functions-key: " + master});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Http("GET", b.url() + "/admin/callback-secret?host=127.0.0.1", "",
                   {"x-functions-key: " + b.key()})
                  .status,
              401)
        << "a function key does not reveal the secret";
    return r.Json().value("secret", "");
  }

  // Every request the receiver got is signed with `secret` and carries its job's final status;
  // each job in `ids` got exactly one 2xx delivery. Returns the requests per job.
  std::map<std::string, int> Verify(const CallbackReceiver& rx, const std::string& secret,
                                    const std::map<std::string, std::string>& state_of) {
    std::map<std::string, int> delivered, seen;
    for (const auto& r : rx.Requests()) {
      EXPECT_EQ(r.method, "POST");
      EXPECT_EQ(r.path, "/hook");
      EXPECT_EQ(r.headers.at("x-berth-signature"), "sha256=" + HmacHex(secret, r.body))
          << "bad signature on " << r.body;
      json body = json::parse(r.body, nullptr, false);
      EXPECT_FALSE(body.is_discarded()) << r.body;
      if (body.is_discarded()) continue;
      std::string id = body.value("id", "");
      EXPECT_EQ(r.headers.at("x-berth-job"), id);
      EXPECT_TRUE(state_of.count(id)) << "a callback for an unknown job " << id;
      if (!state_of.count(id)) continue;
      EXPECT_EQ(body.value("state", ""), state_of.at(id)) << r.body;
      ++seen[id];
      if (r.answered / 100 == 2) ++delivered[id];
    }
    for (const auto& [id, state] : state_of) {
      EXPECT_EQ(delivered[id], 1) << "job " << id << " was not delivered exactly once";
    }
    return seen;
  }
};

TEST_F(CallbackTest, OneVerifiedDeliveryPerFinishedJobAfterTwo500s) {
  CallbackReceiver rx(/*fail_first=*/2);
  BerthProcess berth(json{{"AllowLoopbackCallbacks", "true"}, {"CallbackBackoffMs", "200"}});
  ASSERT_FALSE(berth.url().empty());
  std::string secret = Secret(berth);
  ASSERT_FALSE(secret.empty());
  std::string ok = berth.SubmitOk(
      json{{"image", "busybox"}, {"command", "echo fine"}, {"callbackUrl", rx.url()}}.dump());
  std::string bad = berth.SubmitOk(
      json{{"image", "busybox"}, {"command", "exit 3"}, {"callbackUrl", rx.url()}}.dump());
  ASSERT_EQ(berth.WaitTerminal(ok, seconds(30)).status, 200);
  ASSERT_EQ(berth.WaitTerminal(bad, seconds(30)).status, 500);
  ASSERT_TRUE(rx.WaitForDelivered(2, seconds(30)));
  std::this_thread::sleep_for(milliseconds(1500));  // room for a wrong extra delivery
  auto seen = Verify(rx, secret, {{ok, "Succeeded"}, {bad, "Failed"}});
  EXPECT_EQ(seen[ok], 3);
  EXPECT_EQ(seen[bad], 3);
  for (const std::string& id : {ok, bad}) {
    json cb = berth.Status(id).Json()["callback"];
    EXPECT_EQ(cb.value("state", ""), "Delivered") << cb.dump();
    EXPECT_EQ(cb.value("attempts", 0), 3) << cb.dump();
    EXPECT_EQ(cb.value("url", ""), rx.url());
  }
}

TEST_F(CallbackTest, DaemonKilledBetweenTheJobsEndAndTheDeliveryStillDeliversOnce) {
  CallbackReceiver rx(/*fail_first=*/1);
  json settings = {{"AllowLoopbackCallbacks", "true"}, {"CallbackBackoffMs", "4000"}};
  BerthProcess berth(settings);
  ASSERT_FALSE(berth.url().empty());
  std::string secret = Secret(berth);
  std::string id = berth.SubmitOk(
      json{{"image", "busybox"}, {"command", "echo bye"}, {"callbackUrl", rx.url()}}.dump());
  ASSERT_EQ(berth.WaitTerminal(id, seconds(30)).status, 200);
  // The first attempt got a 500; the next one is 4 s away. Kill the daemon in between.
  auto deadline = std::chrono::steady_clock::now() + seconds(20);
  while (rx.Requests().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_EQ(rx.Requests().size(), 1u);
  json pending = berth.Status(id).Json()["callback"];
  EXPECT_EQ(pending.value("state", ""), "Pending") << pending.dump();
  EXPECT_NE(pending.value("lastError", ""), "");
  ASSERT_TRUE(berth.Restart(settings));  // kill -9 and start again
  ASSERT_TRUE(rx.WaitForDelivered(1, seconds(30)));
  std::this_thread::sleep_for(milliseconds(1000));
  auto seen = Verify(rx, secret, {{id, "Succeeded"}});
  EXPECT_EQ(seen[id], 2);
  EXPECT_EQ(berth.Status(id).Json()["callback"].value("state", ""), "Delivered");
}

TEST_F(CallbackTest, LoopbackAndUnlistedHostsAreRefusedByDefault) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  for (const std::string url :
       {"http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook",
        "ftp://example.com/x", "http://user:pw@example.com/x"}) {
    Reply r = berth.Submit(json{{"image", "busybox"}, {"callbackUrl", url}}.dump());
    EXPECT_EQ(r.status, 400) << url << ": " << r.body;
    EXPECT_NE(r.body.find("callbackUrl"), std::string::npos) << r.body;
  }
  BerthProcess listed(json{{"CallbackAllowedHosts", "hooks.example.com, *.corp.example"}});
  ASSERT_FALSE(listed.url().empty());
  EXPECT_EQ(listed
                .Submit(json{{"image", "busybox"},
                             {"command", "true"},
                             {"callbackUrl", "https://a.corp.example/x"}}
                            .dump())
                .status,
            202);
  Reply r = listed.Submit(
      json{{"image", "busybox"}, {"callbackUrl", "https://other.example.com/x"}}.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("CallbackAllowedHosts"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace berth::e2e
