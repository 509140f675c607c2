#include "triggers/callback_deliverer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <deque>
#include <filesystem>

#include "common/random.h"
#include "tests/support/test_stores.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

// Answers POSTs from a script (then 200), recording each one. A transport failure is -1.
class FakeSender : public CallbackSender {
 public:
  struct Sent {
    std::string url, ip, body;
    std::vector<std::string> headers;
  };
  Result<int> Post(const std::string& url, const CallbackUrl&, const std::string& ip,
                   const std::vector<std::string>& headers, const std::string& body,
                   milliseconds) override {
    sent.push_back({url, ip, body, headers});
    int code = 200;
    if (!script.empty()) {
      code = script.front();
      script.pop_front();
    }
    if (code < 0) return Status::Unavailable("connection refused");
    return code;
  }
  std::string Header(size_t i, const std::string& name) const {
    for (const std::string& h : sent[i].headers) {
      if (h.rfind(name + ": ", 0) == 0) return h.substr(name.size() + 2);
    }
    return "";
  }
  std::deque<int> script;
  std::vector<Sent> sent;
};

class CallbackDelivererTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<TestStores>(GetParam());
    Status opened = engine_->Open(clock_);
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    store_ = engine_->store();
    triggers_ = engine_->triggers();
    opts_.secret = "node-secret-0123456789abcdef0123456789";
    opts_.backoff = milliseconds(1000);
    opts_.max_attempts = 4;
    Rebuild();
  }
  void TearDown() override {
    deliverer_.reset();
    engine_.reset();
  }
  void Rebuild() {
    deliverer_ = std::make_unique<CallbackDeliverer>(
        opts_, *triggers_, *store_, clock_, sender_,
        [this](const std::string& host, uint16_t) -> Result<std::vector<std::string>> {
          auto it = dns_.find(host);
          if (it == dns_.end()) return Status::Unavailable("resolve " + host + ": unknown");
          return it->second;
        });
  }

  // Submits a job with `url` as its callback and ends it with `state`.
  std::string EndedJob(const std::string& url, JobState state = JobState::kSucceeded) {
    JobRecord job;
    job.id = NewUuidV4();
    job.spec.image = "busybox";
    job.spec.callback_url = url;
    job.created_at = clock_.Now();
    EXPECT_TRUE(store_->SubmitJobAndWait(job, "jobs").ok());
    JobStatusUpdate end;
    end.state = state;
    end.exit_code = state == JobState::kSucceeded ? 0 : 1;
    end.finished_at = clock_.Now();
    EXPECT_TRUE(store_->UpdateJobStatus(job.id, end).ok());
    return job.id;
  }
  std::optional<CallbackStatus> Callback(const std::string& id) {
    auto job = store_->GetJob(id);
    EXPECT_TRUE(job.ok());
    return job.ok() ? job->callback : std::nullopt;
  }

  FakeClock clock_;
  std::unique_ptr<TestStores> engine_;
  Store* store_ = nullptr;
  TriggerStore* triggers_ = nullptr;
  CallbackDelivererOptions opts_;
  FakeSender sender_;
  std::map<std::string, std::vector<std::string>> dns_ = {{"hooks.example", {"203.0.113.7"}}};
  std::unique_ptr<CallbackDeliverer> deliverer_;
};

INSTANTIATE_TEST_SUITE_P(Engines, CallbackDelivererTest, ::testing::Values("Sqlite", "Postgres"),
                         EngineName);

TEST_P(CallbackDelivererTest, TheJobsEndWritesTheOutboxRowAndOnePostDeliversIt) {
  JobRecord running;
  running.id = NewUuidV4();
  running.spec.image = "busybox";
  running.spec.callback_url = "https://hooks.example/done";
  running.created_at = clock_.Now();
  ASSERT_TRUE(store_->SubmitJobAndWait(running, "jobs").ok());
  EXPECT_FALSE(Callback(running.id).has_value()) << "nothing to deliver before the end";
  EXPECT_EQ(deliverer_->RunDue(), 0);
  JobStatusUpdate end;
  end.state = JobState::kFailed;
  end.exit_code = 3;
  end.finished_at = clock_.Now();
  ASSERT_TRUE(store_->UpdateJobStatus(running.id, end).ok());
  ASSERT_TRUE(Callback(running.id).has_value());
  EXPECT_EQ(Callback(running.id)->state, CallbackState::kPending);

  EXPECT_EQ(deliverer_->RunDue(), 1);
  ASSERT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(sender_.sent[0].ip, "203.0.113.7") << "the POST goes to the checked address";
  std::string body = sender_.sent[0].body;
  EXPECT_NE(body.find("\"state\":\"Failed\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"exitCode\":3"), std::string::npos) << body;
  EXPECT_EQ(sender_.Header(0, "X-Berth-Signature"),
            SignCallbackBody(HostSecret(opts_.secret, "hooks.example"), body));
  EXPECT_NE(HostSecret(opts_.secret, "hooks.example"), HostSecret(opts_.secret, "other.example"));
  EXPECT_EQ(sender_.Header(0, "X-Berth-Job"), running.id);
  auto cb = Callback(running.id);
  EXPECT_EQ(cb->state, CallbackState::kDelivered);
  EXPECT_EQ(cb->attempts, 1);
  EXPECT_EQ(deliverer_->RunDue(), 0) << "delivered once, never again";
}

TEST_P(CallbackDelivererTest, RetriesWithDoublingBackoffUntilA2xx) {
  sender_.script = {500, -1, 200};
  std::string id = EndedJob("http://hooks.example/x");
  EXPECT_EQ(deliverer_->RunDue(), 1);
  EXPECT_EQ(Callback(id)->state, CallbackState::kPending);
  EXPECT_EQ(Callback(id)->last_error, "the receiver answered 500");
  clock_.Advance(milliseconds(999));
  EXPECT_EQ(deliverer_->RunDue(), 0) << "the first retry waits 1 s";
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(deliverer_->RunDue(), 1);
  clock_.Advance(milliseconds(1999));
  EXPECT_EQ(deliverer_->RunDue(), 0) << "the second waits 2 s";
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(deliverer_->RunDue(), 1);
  EXPECT_EQ(sender_.sent.size(), 3u);
  EXPECT_EQ(Callback(id)->state, CallbackState::kDelivered);
  EXPECT_EQ(Callback(id)->attempts, 3);
}

TEST_P(CallbackDelivererTest, GivesUpAfterMaxAttempts) {
  sender_.script = {500, 500, 500, 500, 500};
  std::string id = EndedJob("http://hooks.example/x");
  for (int i = 0; i < 10; ++i) {
    deliverer_->RunDue();
    clock_.Advance(milliseconds(60'000));
  }
  EXPECT_EQ(sender_.sent.size(), 4u);
  EXPECT_EQ(Callback(id)->state, CallbackState::kFailed);
  EXPECT_EQ(Callback(id)->attempts, 4);
}

TEST_P(CallbackDelivererTest, ANameThatResolvesToLoopbackOrLinkLocalIsNeverCalled) {
  dns_["sneaky.example"] = {"203.0.113.9", "127.0.0.1"};
  dns_["metadata.example"] = {"169.254.169.254"};
  std::string a = EndedJob("http://sneaky.example/x");
  std::string b = EndedJob("http://metadata.example/x");
  deliverer_->RunDue();
  EXPECT_TRUE(sender_.sent.empty());
  EXPECT_EQ(Callback(a)->state, CallbackState::kFailed);
  EXPECT_NE(Callback(a)->last_error.find("loopback"), std::string::npos);
  EXPECT_EQ(Callback(b)->state, CallbackState::kFailed);
  opts_.policy.allow_loopback = true;  // AllowLoopbackCallbacks lets loopback through
  Rebuild();
  std::string c = EndedJob("http://sneaky.example/y");
  deliverer_->RunDue();
  EXPECT_EQ(Callback(c)->state, CallbackState::kDelivered);
}

TEST_P(CallbackDelivererTest, ACrashMidPostRetriesAfterTheClaimRunsOut) {
  std::string id = EndedJob("http://hooks.example/x");
  auto claimed = triggers_->ClaimCallbacks(10, milliseconds(25'000));  // a deliverer that died
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ(deliverer_->RunDue(), 0);
  clock_.Advance(milliseconds(25'000));
  EXPECT_EQ(deliverer_->RunDue(), 1);
  EXPECT_EQ(Callback(id)->state, CallbackState::kDelivered);
  EXPECT_EQ(Callback(id)->attempts, 2);
}

TEST_P(CallbackDelivererTest, ACanceledQueuedJobIsCalledBackToo) {
  JobRecord job;
  job.id = NewUuidV4();
  job.spec.image = "busybox";
  job.spec.callback_url = "http://hooks.example/x";
  job.created_at = clock_.Now();
  ASSERT_TRUE(store_->SubmitJobAndWait(job, "jobs").ok());
  ASSERT_TRUE(store_->RequestCancel(job.id).ok());
  EXPECT_EQ(deliverer_->RunDue(), 1);
  EXPECT_NE(sender_.sent[0].body.find("\"state\":\"Canceled\""), std::string::npos);
}

TEST(CallbackPolicyTest, AllowListAndLoopback) {
  CallbackPolicy open;
  auto url = [](const std::string& u) { return ParseCallbackUrl(u).value(); };
  EXPECT_TRUE(CheckCallbackUrl(open, url("https://hooks.example/x")).ok());
  EXPECT_FALSE(CheckCallbackUrl(open, url("http://127.0.0.2/x")).ok());
  EXPECT_FALSE(CheckCallbackUrl(open, url("http://localhost:8080/x")).ok());
  EXPECT_FALSE(CheckCallbackUrl(open, url("http://[::1]/x")).ok());
  EXPECT_FALSE(CheckCallbackAddress(open, "::ffff:127.0.0.1").ok());
  EXPECT_FALSE(CheckCallbackAddress(open, "0.0.0.0").ok());
  EXPECT_FALSE(CheckCallbackAddress(open, "fe80::1").ok());
  EXPECT_TRUE(CheckCallbackAddress(open, "2001:db8::1").ok());
  CallbackPolicy listed{{"hooks.example", "*.corp.example"}, false};
  EXPECT_TRUE(CheckCallbackUrl(listed, url("http://hooks.example/x")).ok());
  EXPECT_TRUE(CheckCallbackUrl(listed, url("http://a.b.corp.example/x")).ok());
  EXPECT_FALSE(CheckCallbackUrl(listed, url("http://corp.example/x")).ok());
  EXPECT_FALSE(CheckCallbackUrl(listed, url("http://evilcorp.example/x")).ok());
  EXPECT_FALSE(CheckCallbackUrl(listed, url("http://other.example/x")).ok());
}

TEST(CallbackUrlTest, ParsesAndRefusesPrecisely) {
  auto u = ParseCallbackUrl("https://Hooks.Example:8443/a?b=c");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "hooks.example");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(ParseCallbackUrl("http://[2001:db8::1]/x")->host, "2001:db8::1");
  EXPECT_EQ(ParseCallbackUrl("http://h/x")->port, 80);
  for (const char* bad : {"", "ftp://h/x", "http:///x", "http://u:p@h/x", "http://h:0/x",
                          "http://h:99999/x", "http://h x/", "http://[::1/x", "http://h:/x"}) {
    auto r = ParseCallbackUrl(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("callbackUrl"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace berth
