// End-to-end: the job queue as an Azure Storage queue (AzureWebJobsStorage), against real
// Azurite (npm azurite, pinned) and real producers on @azure/storage-queue (pinned), with the
// real daemon and real crun: a POSTed job goes through the Azure queue; a JSON spec put on the
// queue by the SDK becomes a job; a redelivered message makes no second job; unrunnable
// messages end on "<queue>-poison"; Azurite down for a while loses no acknowledged job.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <set>
#include <thread>

#include "images/registry_auth.h"
#include "tests/e2e/berth_process.h"
#include "tests/e2e/child_process.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kAccountKey[] =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

std::filesystem::path NodeDir() {
  return std::filesystem::path(BERTH_SOURCE_DIR) / "tests/e2e/azure_queue";
}

// A real Azurite queue service on loopback. When `persistent`, `location` keeps its data across
// restarts; else it lives in memory. Its output goes to `location`/azurite.out.
class Azurite {
 public:
  explicit Azurite(std::filesystem::path location, bool persistent, int port = 0)
      : location_(std::move(location)), persistent_(persistent) {
    Start(port);
  }

  bool Start(int port) {
    std::vector<std::string> argv = {(NodeDir() / "node_modules/.bin/azurite-queue").string(),
                                     "--queueHost",
                                     "127.0.0.1",
                                     "--queuePort",
                                     std::to_string(port),
                                     "--disableTelemetry",
                                     "--skipApiVersionCheck"};
    if (persistent_) {
      argv.insert(argv.end(), {"--location", location_.string()});
    } else {
      argv.push_back("--inMemoryPersistence");  // (Azurite refuses it with --location)
    }
    process_ = std::make_unique<ChildProcess>(argv, location_ / "azurite.out");
    auto bound = process_->WaitListeningPort(seconds(120));
    EXPECT_TRUE(bound.has_value()) << "azurite did not start: " << process_->Output();
    port_ = bound.value_or(0);
    return bound.has_value();
  }

  // Stops the service (SIGTERM: Azurite writes its files and exits) and waits for its end.
  void Stop() {
    if (process_) ::kill(process_->pid(), SIGTERM);
    for (int i = 0; i < 300 && process_ && !process_->Exited(); ++i) {
      std::this_thread::sleep_for(milliseconds(50));
    }
    process_.reset();
  }

  int port() const { return port_; }
  std::string ConnectionString() const {
    return std::string("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=") +
           kAccountKey + ";QueueEndpoint=http://127.0.0.1:" + std::to_string(port_) +
           "/devstoreaccount1;";
  }

 private:
  std::filesystem::path location_;
  bool persistent_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// Runs the @azure/storage-queue producer script; fails the test when it fails.
std::string Producer(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"node", (NodeDir() / "producer.mjs").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  int code = RunProgram(argv, "", &out);
  EXPECT_EQ(code, 0) << out;
  return out;
}

// The texts on `queue` (visible ones, at most 32), as the SDK peeks them.
std::vector<std::string> Peek(const std::string& connection, const std::string& queue) {
  std::string out = Producer({"peek", connection, queue});
  std::vector<std::string> texts;
  try {
    for (const auto& m : json::parse(out)) texts.push_back(m["messageText"].get<std::string>());
  } catch (const json::exception& e) {
    ADD_FAILURE() << "peek answer: " << out;
  }
  return texts;
}

json Jobs(BerthProcess& b) {
  Reply r = Http("GET", b.url() + "/api/jobs?limit=100", "", {"x-functions-key: " + b.key()});
  EXPECT_EQ(r.status, 200) << r.body;
  return r.Json()["jobs"];
}

// Waits until `pred` holds (checked every 200 ms) or `timeout` passes.
template <typename Pred>
bool WaitFor(Pred pred, seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(200));
  }
  return pred();
}

class AzureQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
    ASSERT_TRUE(std::filesystem::exists(NodeDir() / "node_modules/azurite/package.json") &&
                std::filesystem::exists(NodeDir() / "node_modules/@azure/storage-queue"))
        << "run scripts/install-deps.sh (npm ci in tests/e2e/azure_queue)";
  }

  json Settings(const Azurite& azurite, json extra = json::object()) {
    json values = {{"AzureWebJobsStorage", azurite.ConnectionString()},
                   {"StartBackoffMs", "100"},
                   {"QueueRetryDelayMs", "0"}};
    for (auto& [k, v] : extra.items()) values[k] = v;
    return values;
  }

  TempDir dir_;
};

TEST_F(AzureQueueTest, PostedJobGoesThroughTheAzureQueueAndSucceeds) {
  Azurite azurite(dir_.path(), /*persistent=*/false);
  ASSERT_GT(azurite.port(), 0);
  // Paused first: the relay puts the job's id on the Azure queue, nothing consumes it.
  BerthProcess berth(Settings(azurite, {{"DispatchPaused", "true"}}));
  ASSERT_FALSE(berth.url().empty()) << berth.ServerOutput();
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":"echo through azure"})");
  std::vector<std::string> on_queue;
  ASSERT_TRUE(WaitFor(
      [&] {
        on_queue = Peek(azurite.ConnectionString(), "jobs");
        return !on_queue.empty();
      },
      seconds(30)))
      << berth.ServerOutput();
  ASSERT_EQ(on_queue.size(), 1u);
  EXPECT_EQ(on_queue[0], Base64Encode(id)) << "the job id, base64 as the Functions runtime reads";

  // Consumed from Azure: the job runs and its message is deleted.
  ASSERT_TRUE(berth.Restart(Settings(azurite)));
  Reply done = berth.WaitTerminal(id, seconds(90));
  ASSERT_EQ(done.status, 200) << done.body << berth.ServerOutput();
  EXPECT_EQ(done.Json()["logs"], "through azure\n");
  EXPECT_EQ(done.Json()["attempts"], 1);
  EXPECT_TRUE(Peek(azurite.ConnectionString(), "jobs").empty());
  EXPECT_TRUE(Peek(azurite.ConnectionString(), "jobs-poison").empty());
}

TEST_F(AzureQueueTest, SpecPutOnTheQueueBySdkBecomesAJob) {
  Azurite azurite(dir_.path(), /*persistent=*/false);
  ASSERT_GT(azurite.port(), 0);
  BerthProcess berth(Settings(azurite));
  ASSERT_FALSE(berth.url().empty()) << berth.ServerOutput();
  Producer({"put", azurite.ConnectionString(), "jobs",
            Base64Encode(R"({"image":"busybox","command":"echo from the sdk; exit 0"})")});
  json jobs;
  ASSERT_TRUE(WaitFor(
      [&] {
        jobs = Jobs(berth);
        return jobs.size() == 1;
      },
      seconds(30)))
      << jobs.dump() << berth.ServerOutput();
  std::string id = jobs[0]["id"];
  Reply done = berth.WaitTerminal(id, seconds(90));
  ASSERT_EQ(done.status, 200) << done.body << berth.ServerOutput();
  EXPECT_EQ(done.Json()["logs"], "from the sdk\n");
  EXPECT_EQ(Jobs(berth).size(), 1u);
  EXPECT_TRUE(Peek(azurite.ConnectionString(), "jobs").empty());
}

TEST_F(AzureQueueTest, PlainTextEncodingAndSasConnection) {
  Azurite azurite(dir_.path(), /*persistent=*/false);
  ASSERT_GT(azurite.port(), 0);
  std::string sas = Producer({"sas", azurite.ConnectionString()});
  while (!sas.empty() && sas.back() == '\n') sas.pop_back();
  BerthProcess berth(json{{"AzureWebJobsStorage", sas}, {"QueueMessageEncoding", "none"}});
  ASSERT_FALSE(berth.url().empty()) << berth.ServerOutput();
  std::string posted = berth.SubmitOk(R"({"image":"busybox","command":"echo posted"})");
  Producer({"put", azurite.ConnectionString(), "jobs",
            R"({"image":"busybox","command":"echo 'plain & <text>'"})"});
  ASSERT_EQ(berth.WaitTerminal(posted, seconds(90)).status, 200) << berth.ServerOutput();
  json jobs;
  ASSERT_TRUE(WaitFor(
      [&] {
        jobs = Jobs(berth);
        return jobs.size() == 2;
      },
      seconds(30)))
      << jobs.dump() << berth.ServerOutput();
  for (const auto& j : jobs) {
    Reply r = berth.WaitTerminal(j["id"], seconds(90));
    EXPECT_EQ(r.status, 200) << r.body;
    if (j["id"] != posted) {
      EXPECT_EQ(r.Json()["logs"], "plain & <text>\n");
    }
  }
}

// The daemon dies right after it made the job of a spec message (before the message is
// deleted); the message comes back after its lease and the restarted daemon runs the same job.
TEST_F(AzureQueueTest, RedeliveredSpecMessageMakesOneJob) {
  Azurite azurite(dir_.path(), /*persistent=*/false);
  ASSERT_GT(azurite.port(), 0);
  json values = Settings(azurite, {{"QueueLeaseSeconds", "2"}});
  BerthProcess berth(values, "claimed");
  ASSERT_FALSE(berth.url().empty()) << berth.ServerOutput();
  Producer({"put", azurite.ConnectionString(), "jobs",
            Base64Encode(R"({"image":"busybox","command":"echo once"})")});
  ASSERT_TRUE(WaitFor([&] { return berth.Exited(); }, seconds(60))) << berth.ServerOutput();
  ASSERT_NE(berth.ServerOutput().find("crash point 'claimed'"), std::string::npos);
  ASSERT_TRUE(berth.Restart(values));
  json jobs;
  ASSERT_TRUE(WaitFor(
      [&] {
        jobs = Jobs(berth);
        return jobs.size() == 1 && jobs[0]["state"] == "Succeeded";
      },
      seconds(90)))
      << jobs.dump() << berth.ServerOutput();
  Reply done = berth.Status(jobs[0]["id"]);
  EXPECT_EQ(done.Json()["logs"], "once\n");
  std::this_thread::sleep_for(seconds(3));  // more than a lease: nothing else comes back
  EXPECT_EQ(Jobs(berth).size(), 1u) << Jobs(berth).dump();
  EXPECT_TRUE(Peek(azurite.ConnectionString(), "jobs").empty());
}

TEST_F(AzureQueueTest, UnrunnableMessagesEndOnThePoisonQueue) {
  Azurite azurite(dir_.path(), /*persistent=*/false);
  ASSERT_GT(azurite.port(), 0);
  BerthProcess berth(Settings(azurite, {{"MaxDequeueCount", "2"}}));
  ASSERT_FALSE(berth.url().empty()) << berth.ServerOutput();
  const std::string conn = azurite.ConnectionString();
  std::vector<std::string> bad = {
      Base64Encode("hello, not a job"),
      Base64Encode("6d07bd04-5382-4654-a376-c8a8446cdac4"),  // no such job
      Base64Encode(R"({"image":"busybox","cpu":"lots"})"),   // not a valid spec
      "{\"image\":\"busybox\"}",                             // not base64
  };
  for (const std::string& text : bad) Producer({"put", conn, "jobs", text});
  // A valid spec whose image cannot be pulled: its start fails MaxDequeueCount times (the
  // message's own DequeueCount), then it goes to the poison queue and its one job fails.
  std::string unpullable = Base64Encode(R"({"image":"127.0.0.1:9/nothing/here:1"})");
  Producer({"put", conn, "jobs", unpullable});
  std::vector<std::string> poisoned;
  ASSERT_TRUE(WaitFor(
      [&] {
        poisoned = Peek(conn, "jobs-poison");
        return poisoned.size() == bad.size() + 1;
      },
      seconds(120)))
      << json(poisoned).dump() << berth.ServerOutput();
  std::multiset<std::string> want(bad.begin(), bad.end());
  want.insert(unpullable);
  EXPECT_EQ(std::multiset<std::string>(poisoned.begin(), poisoned.end()), want)
      << "the poison copies carry the original texts";
  EXPECT_TRUE(Peek(conn, "jobs").empty());
  json jobs = Jobs(berth);
  ASSERT_EQ(jobs.size(), 1u) << jobs.dump();
  Reply failed = berth.WaitTerminal(jobs[0]["id"], seconds(30));
  EXPECT_EQ(failed.status, 500);
  EXPECT_EQ(failed.Json()["state"], "Failed");
  EXPECT_NE(failed.Json()["reason"].get<std::string>().find("jobs-poison"), std::string::npos)
      << failed.body;
  EXPECT_EQ(failed.Json()["attempts"], 2) << failed.body;
  std::string log = berth.ServerOutput();
  for (const char* reason : {"neither the id of a stored job nor a JSON job spec",
                             "no stored job has id 6d07bd04-5382-4654-a376-c8a8446cdac4",
                             "not a valid job spec", "not base64"}) {
    EXPECT_NE(log.find(reason), std::string::npos) << reason << "\n" << log;
  }
}

// Azurite stopped: a POST still answers 202 (the outbox), a job already relayed stays in
// Azurite's files; once Azurite is back on the same data, every acknowledged job runs.
TEST_F(AzureQueueTest, AzuriteDownForAWhileLosesNoAcknowledgedJob) {
  Azurite azurite(dir_.path(), /*persistent=*/true);
  ASSERT_GT(azurite.port(), 0);
  int port = azurite.port();
  BerthProcess berth(Settings(azurite, {{"DispatchPaused", "true"}}));
  ASSERT_FALSE(berth.url().empty()) << berth.ServerOutput();
  std::string relayed = berth.SubmitOk(R"({"image":"busybox","command":"echo relayed"})");
  ASSERT_TRUE(
      WaitFor([&] { return !Peek(azurite.ConnectionString(), "jobs").empty(); }, seconds(30)));

  azurite.Stop();
  std::vector<std::string> while_down;
  for (int i = 0; i < 3; ++i) {
    while_down.push_back(berth.SubmitOk(R"({"image":"busybox","command":"echo while down )" +
                                        std::to_string(i) + "\"}"));
  }
  // The relay keeps failing for a while (and says so in the log); nothing is lost meanwhile.
  std::this_thread::sleep_for(seconds(3));
  EXPECT_NE(berth.ServerOutput().find("cannot relay submitted jobs"), std::string::npos)
      << berth.ServerOutput();
  // The daemon restarts too, unpaused, while Azurite is still down.
  ASSERT_TRUE(berth.Restart(Settings(azurite)));
  for (const std::string& id : while_down) EXPECT_EQ(berth.Status(id).Json()["state"], "Queued");

  ASSERT_TRUE(azurite.Start(port));
  for (const std::string& id : while_down) {
    Reply r = berth.WaitTerminal(id, seconds(120));
    EXPECT_EQ(r.status, 200) << r.body << berth.ServerOutput();
  }
  Reply r = berth.WaitTerminal(relayed, seconds(60));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["logs"], "relayed\n");
  EXPECT_EQ(Jobs(berth).size(), 4u);
  EXPECT_TRUE(Peek(azurite.ConnectionString(), "jobs").empty());
}

}  // namespace
}  // namespace berth::e2e
