// End-to-end: many berth nodes on one real PostgreSQL 15 (started by the test), each a separate
// `berth serve` process with its own data dir: `--role api` nodes take the HTTP API, `--role
// worker` nodes run the containers (real crun, through a wrapper per node that records every
// `create` with its node and time). Covers issue 11's "done when": 300 jobs spread over three
// workers with logs and follow served by the api node; a worker killed with everything it
// started; a worker cut off from PostgreSQL (its network namespace's link taken down) and
// fenced when it returns; the api node replaced. Needs root (containers, network namespaces).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/child_process.h"
#include "tests/e2e/node_runtime.h"
#include "tests/support/postgres_server.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr const char* kKey = "many-nodes-test-function-key-0123456789";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Runs a command; fails the test when it fails.
void Must(const std::vector<std::string>& argv) {
  std::string out;
  int code = RunProgram(argv, "", &out);
  ASSERT_EQ(code, 0) << argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << ": " << out;
}

// Whether process `pid` is alive (not a zombie).
bool Alive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

class ManyNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (containers, netns)";
    Result<PostgresServer*> server = PostgresServer::Shared();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    pg_ = *server;
    Result<std::string> conninfo = pg_->CreateDatabase();
    ASSERT_TRUE(conninfo.ok()) << conninfo.status().ToString();
    db_ = conninfo->substr(conninfo->rfind("dbname=") + 7);
    uri_ = pg_->Uri(db_);
  }

  json Settings(const std::string& node_id, json extra = json::object()) {
    extra["StoreConnection"] = extra.value("StoreConnection", uri_);
    extra["NodeId"] = node_id;
    extra["FunctionKey"] = kKey;
    if (!extra.contains("NodeLeaseSeconds")) extra["NodeLeaseSeconds"] = "4";
    return extra;
  }

  std::unique_ptr<BerthProcess> Api(const std::string& id) {
    LaunchOptions launch;
    launch.args = {"--role", "api"};
    return std::make_unique<BerthProcess>(Settings(id), launch);
  }

  std::unique_ptr<BerthProcess> Worker(const std::string& id, const NodeRuntime& runtime,
                                       json extra = json::object(), LaunchOptions launch = {}) {
    extra["Runtime"] = runtime.path().string();
    if (!extra.contains("MaxConcurrentJobs")) extra["MaxConcurrentJobs"] = "16";
    launch.args = {"--role", "worker"};
    return std::make_unique<BerthProcess>(Settings(id, extra), launch);
  }

  static Reply Get(BerthProcess& node, const std::string& path) {
    return Http("GET", node.url() + path, "", {std::string("x-functions-key: ") + kKey});
  }

  // Polls job `id` through `api` until `done` holds for its status or `timeout` passes.
  template <typename Pred>
  static json WaitFor(BerthProcess& api, const std::string& id, seconds timeout, Pred done) {
    auto deadline = steady_clock::now() + timeout;
    json j;
    while (steady_clock::now() < deadline) {
      j = api.Status(id).Json();
      if (!j.is_discarded() && done(j)) return j;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return j;
  }

  // Kills node `w` as if its machine died: the daemon, its monitors, its containers and every
  // process that mentions its data dir, all with SIGKILL.
  static void KillMachine(BerthProcess& w, const std::vector<std::string>& jobs) {
    std::vector<pid_t> containers;
    for (const auto& id : jobs) containers.push_back(ContainerPid(w, id));
    w.Stop(/*hard=*/true);
    for (pid_t p : ProcessesMentioning(w.data_dir().string())) kill(p, SIGKILL);
    for (pid_t p : containers) {
      if (p > 0) kill(p, SIGKILL);
    }
  }

  PostgresServer* pg_ = nullptr;
  std::string db_;
  std::string uri_;
};

TEST_F(ManyNodesTest, OneApiAndThreeWorkersRunThreeHundredJobsWithLogsFromTheApi) {
  auto api = Api("api-1");
  ASSERT_FALSE(api->url().empty());
  NodeRuntime r1("w1"), r2("w2"), r3("w3");
  auto w1 = Worker("w1", r1);
  auto w2 = Worker("w2", r2);
  auto w3 = Worker("w3", r3);
  ASSERT_FALSE(w1->url().empty() || w2->url().empty() || w3->url().empty());

  // A worker serves no public API, only its health.
  EXPECT_EQ(Http("GET", w1->url() + "/healthz").status, 200);
  EXPECT_EQ(
      Http("POST", w1->url() + "/api/jobs", "", {std::string("x-functions-key: ") + kKey}).status,
      404);

  // One job to follow live through the api node while the others run.
  std::string followed = api->SubmitOk(
      R"({"image":"busybox","command":"for i in 1 2 3 4 5 6; do echo line $i; sleep 0.4; done"})");
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) {
    ids.push_back(api->SubmitOk(R"({"image":"busybox","command":"echo job )" + std::to_string(i) +
                                R"(; echo second line"})"));
  }
  Reply follow = Http("GET", api->url() + "/api/jobs/" + followed + "/logs?follow=true", "",
                      {std::string("x-functions-key: ") + kKey});
  EXPECT_EQ(follow.status, 200) << follow.body;
  EXPECT_EQ(follow.body, "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n");

  std::map<std::string, int> per_node;
  for (size_t i = 0; i < ids.size(); ++i) {
    Reply r = api->WaitTerminal(ids[i], seconds(240));
    ASSERT_EQ(r.status, 200) << ids[i] << ": " << r.body << "\n" << w1->ServerOutput();
    json j = r.Json();
    EXPECT_EQ(j["state"], "Succeeded");
    EXPECT_EQ(j["logs"], "job " + std::to_string(i) + "\nsecond line\n") << ids[i];
    ++per_node[j.value("node", "")];
  }
  EXPECT_EQ(per_node.size(), 3u) << "every job ran on a worker, and every worker ran some";
  for (const auto& [node, n] : per_node) {
    EXPECT_TRUE(node == "w1" || node == "w2" || node == "w3") << node;
    EXPECT_GE(n, 10) << node << " ran only " << n << " of 300";
  }
  // Exactly one container per job, made by the node its status names.
  std::map<std::string, std::vector<CreateCall>> creates;
  for (const CreateCall& c : AllCreates({&r1, &r2, &r3})) creates[c.job].push_back(c);
  for (const auto& id : ids) {
    ASSERT_EQ(creates[id].size(), 1u) << id;
    EXPECT_EQ(creates[id][0].node, api->Status(id).Json().value("node", "")) << id;
  }

  // The api node lists every node.
  Reply nodes = Get(*api, "/api/nodes");
  ASSERT_EQ(nodes.status, 200) << nodes.body;
  std::map<std::string, std::string> roles;
  json listed = nodes.Json();
  for (const auto& n : listed["nodes"]) {
    roles[n["id"].get<std::string>()] = n["role"].get<std::string>();
    EXPECT_EQ(n["state"], "live") << n.dump();
  }
  EXPECT_EQ(roles, (std::map<std::string, std::string>{
                       {"api-1", "api"}, {"w1", "worker"}, {"w2", "worker"}, {"w3", "worker"}}));
}

TEST_F(ManyNodesTest, AKilledWorkersJobsEndNodeLostOrRunAgainElsewhereNeverTwiceAtOnce) {
  auto api = Api("api-1");
  ASSERT_FALSE(api->url().empty());
  NodeRuntime r1("w1", /*hang_marked=*/true), r2("w2");
  auto w1 = Worker("w1", r1);
  ASSERT_FALSE(w1->url().empty());
  // Only w1 runs at first: every job lands there.
  std::vector<std::string> plain, on_failure, claimed;
  for (int i = 0; i < 2; ++i) {
    plain.push_back(api->SubmitOk(R"({"image":"busybox","command":"sleep 300"})"));
    on_failure.push_back(api->SubmitOk(
        R"({"image":"busybox","command":"sleep 300","restartPolicy":"OnFailure","maxRetries":2})"));
    // Its `create` hangs on w1: claimed and being started there, never running.
    claimed.push_back(api->SubmitOk(
        R"({"image":"busybox","command":"echo ran elsewhere","environmentVariables":{"HANG_CREATE":"1"}})"));
  }
  for (const auto& id : plain) {
    json j = WaitFor(*api, id, seconds(60), [](const json& j) { return j["state"] == "Running"; });
    ASSERT_EQ(j["state"], "Running") << j.dump() << w1->ServerOutput();
    EXPECT_EQ(j["node"], "w1");
  }
  for (const auto& id : on_failure) {
    json j = WaitFor(*api, id, seconds(60), [](const json& j) { return j["state"] == "Running"; });
    ASSERT_EQ(j["state"], "Running") << j.dump();
  }
  for (const auto& id : claimed) {
    json j = WaitFor(*api, id, seconds(60), [&](const json&) {
      for (const auto& c : r1.Creates()) {
        if (c.job == id) return true;
      }
      return false;
    });
    EXPECT_EQ(j["state"], "Pending") << j.dump();
    EXPECT_EQ(j["node"], "w1") << j.dump();
  }
  // A cancel's SIGTERM, then SIGKILL 1 s later (`sleep` as the container's pid 1 ignores TERM).
  auto w2 = Worker("w2", r2, {{"CancelGraceSeconds", "1"}});
  ASSERT_FALSE(w2->url().empty());

  std::vector<std::string> all = plain;
  all.insert(all.end(), on_failure.begin(), on_failure.end());
  all.insert(all.end(), claimed.begin(), claimed.end());
  KillMachine(*w1, all);
  int64_t killed_ns = NowNs();
  auto killed = steady_clock::now();
  const seconds budget(4 + 5);  // NodeLeaseSeconds + 5 s

  for (const auto& id : plain) {
    json j = WaitFor(*api, id, seconds(30), [](const json& j) { return j["state"] == "Failed"; });
    ASSERT_EQ(j["state"], "Failed") << j.dump() << api->ServerOutput() << w2->ServerOutput();
    EXPECT_EQ(j["reason"].get<std::string>().rfind("NodeLost", 0), 0u) << j.dump();
    EXPECT_LE(steady_clock::now() - killed, budget + seconds(1));
  }
  for (const auto& id : on_failure) {
    json j = WaitFor(*api, id, seconds(30),
                     [](const json& j) { return j["state"] == "Running" && j["node"] == "w2"; });
    ASSERT_EQ(j["node"], "w2") << j.dump() << w2->ServerOutput();
    EXPECT_LE(steady_clock::now() - killed, budget + seconds(2));
    ASSERT_TRUE(j["history"].is_array()) << j.dump();
    ASSERT_FALSE(j["history"].empty()) << j.dump();
    EXPECT_NE(j["history"].back().dump().find("NodeLost"), std::string::npos) << j.dump();
  }
  for (const auto& id : claimed) {
    json j =
        WaitFor(*api, id, seconds(30), [](const json& j) { return j["state"] == "Succeeded"; });
    ASSERT_EQ(j["state"], "Succeeded") << j.dump() << w2->ServerOutput();
    EXPECT_EQ(j["node"], "w2");
    EXPECT_EQ(j["logs"], "ran elsewhere\n");
  }
  // Never on two nodes at once: w1's containers died with it, w2 made its own only after.
  for (const CreateCall& c : AllCreates({&r1, &r2})) {
    if (c.node == "w1") {
      EXPECT_LT(c.at_ns, killed_ns) << c.job;
    } else {
      EXPECT_GT(c.at_ns, killed_ns) << c.job;
    }
  }
  // A cancel through the api node reaches the worker running the job within a second: the job
  // ends after that, the grace second and the record.
  for (const auto& id : on_failure) {
    auto asked = steady_clock::now();
    Reply r = Http("DELETE", api->url() + "/api/jobs/" + id, "",
                   {std::string("x-functions-key: ") + kKey});
    EXPECT_LT(r.status, 300) << r.body;
    json j = WaitFor(*api, id, seconds(20), [](const json& j) { return j["state"] == "Canceled"; });
    EXPECT_EQ(j["state"], "Canceled") << j.dump();
    EXPECT_LE(steady_clock::now() - asked, seconds(4));
  }
  Reply nodes = Get(*api, "/api/nodes");
  ASSERT_EQ(nodes.status, 200) << nodes.body;
  json listed = nodes.Json();
  for (const auto& n : listed["nodes"]) {
    if (n["id"] == "w1") {
      EXPECT_EQ(n["state"], "lost") << n.dump();
    } else {
      EXPECT_EQ(n["state"], "live") << n.dump();
    }
  }
}

// A network namespace with a veth link to the host: a worker in it reaches PostgreSQL through
// a forwarder on the host side of the link; taking the link down cuts it off.
class CutOffNamespace {
 public:
  CutOffNamespace() {
    std::string tag = std::to_string(getpid() % 100000);
    name_ = "berth-cut-" + tag;
    host_if_ = "bcut" + tag + "h";
    ns_if_ = "bcut" + tag + "n";
    Must({"ip", "netns", "add", name_});
    Must({"ip", "link", "add", host_if_, "type", "veth", "peer", "name", ns_if_});
    Must({"ip", "link", "set", ns_if_, "netns", name_});
    Must({"ip", "addr", "add", host_ip_ + "/30", "dev", host_if_});
    Must({"ip", "link", "set", host_if_, "up"});
    Must({"ip", "netns", "exec", name_, "ip", "addr", "add", ns_ip_ + "/30", "dev", ns_if_});
    Must({"ip", "netns", "exec", name_, "ip", "link", "set", ns_if_, "up"});
    Must({"ip", "netns", "exec", name_, "ip", "link", "set", "lo", "up"});
  }
  ~CutOffNamespace() {
    std::string out;
    RunProgram({"ip", "link", "del", host_if_}, "", &out);
    RunProgram({"ip", "netns", "del", name_}, "", &out);
  }
  void Cut() { Must({"ip", "link", "set", host_if_, "down"}); }
  void Mend() { Must({"ip", "link", "set", host_if_, "up"}); }
  // Runs a command in the namespace's network only (the mounts stay the host's).
  std::vector<std::string> Prefix() const { return {"nsenter", "--net=/run/netns/" + name_}; }
  const std::string& host_ip() const { return host_ip_; }
  const std::string& ns_ip() const { return ns_ip_; }

 private:
  std::string name_, host_if_, ns_if_;
  std::string host_ip_ = "10.231.77.1";
  std::string ns_ip_ = "10.231.77.2";
};

TEST_F(ManyNodesTest, AWorkerCutOffFromTheStoreIsHandledAndFencesItselfWhenItReturns) {
  CutOffNamespace ns;
  TcpForwarder forward(ns.host_ip(), pg_->port());
  ASSERT_GT(forward.port(), 0);
  auto api = Api("api-1");
  ASSERT_FALSE(api->url().empty());
  NodeRuntime r1("w1"), r2("w2");
  LaunchOptions in_ns;
  in_ns.prefix = ns.Prefix();
  in_ns.listen = ns.ns_ip() + ":0";
  std::string via_link = uri_;
  via_link.replace(via_link.find("127.0.0.1:" + std::to_string(pg_->port())),
                   std::string("127.0.0.1:" + std::to_string(pg_->port())).size(),
                   ns.host_ip() + ":" + std::to_string(forward.port()));
  auto w1 = Worker("w1", r1, {{"StoreConnection", via_link}}, in_ns);
  ASSERT_FALSE(w1->url().empty());

  std::vector<std::string> plain = {api->SubmitOk(R"({"image":"busybox","command":"sleep 300"})"),
                                    api->SubmitOk(R"({"image":"busybox","command":"sleep 300"})")};
  std::string again = api->SubmitOk(
      R"({"image":"busybox","command":"sleep 300","restartPolicy":"OnFailure","maxRetries":2})");
  std::vector<std::string> all = plain;
  all.push_back(again);
  for (const auto& id : all) {
    json j = WaitFor(*api, id, seconds(60), [](const json& j) { return j["state"] == "Running"; });
    ASSERT_EQ(j["state"], "Running") << j.dump() << w1->ServerOutput();
    ASSERT_EQ(j["node"], "w1");
  }
  auto w2 = Worker("w2", r2);
  ASSERT_FALSE(w2->url().empty());
  std::map<std::string, pid_t> on_w1;
  for (const auto& id : all) on_w1[id] = ContainerPid(*w1, id);

  ns.Cut();
  auto cut = steady_clock::now();
  for (const auto& id : plain) {
    json j = WaitFor(*api, id, seconds(40), [](const json& j) { return j["state"] == "Failed"; });
    ASSERT_EQ(j["state"], "Failed") << j.dump() << api->ServerOutput();
    EXPECT_EQ(j["reason"].get<std::string>().rfind("NodeLost", 0), 0u) << j.dump();
  }
  json moved = WaitFor(*api, again, seconds(40),
                       [](const json& j) { return j["state"] == "Running" && j["node"] == "w2"; });
  ASSERT_EQ(moved["node"], "w2") << moved.dump() << w2->ServerOutput();
  EXPECT_LE(steady_clock::now() - cut, seconds(4 + 5 + 2));
  // The rerun started only after w1's container of that job was gone: w1 fenced itself when
  // its lease lapsed (it cannot know whether others took its jobs).
  EXPECT_FALSE(Alive(on_w1[again])) << "the job ran on two nodes at once";

  // Back on the network: w1 kills the containers of jobs it no longer owns, and claims new
  // work only afterwards.
  ns.Mend();
  auto deadline = steady_clock::now() + seconds(30);
  while (steady_clock::now() < deadline && (Alive(on_w1[plain[0]]) || Alive(on_w1[plain[1]]))) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  for (const auto& id : plain) EXPECT_FALSE(Alive(on_w1[id])) << id << " still runs on w1";
  // Its end does not overwrite what the store says now.
  for (const auto& id : plain) {
    json j = api->Status(id).Json();
    EXPECT_EQ(j["state"], "Failed") << j.dump();
    EXPECT_EQ(j["reason"].get<std::string>().rfind("NodeLost", 0), 0u) << j.dump();
  }
  json still = api->Status(again).Json();
  EXPECT_EQ(still["state"], "Running") << still.dump();
  EXPECT_EQ(still["node"], "w2") << still.dump();
  // w1 works again.
  json later;
  deadline = steady_clock::now() + seconds(30);
  std::set<std::string> nodes_seen;
  while (steady_clock::now() < deadline && nodes_seen.count("w1") == 0) {
    std::string id = api->SubmitOk(R"({"image":"busybox","command":"echo back"})");
    later = WaitFor(*api, id, seconds(30), [](const json& j) { return j["state"] == "Succeeded"; });
    nodes_seen.insert(later.value("node", ""));
  }
  EXPECT_EQ(nodes_seen.count("w1"), 1u) << later.dump() << w1->ServerOutput();
  Http("DELETE", api->url() + "/api/jobs/" + again, "", {std::string("x-functions-key: ") + kKey});
}

TEST_F(ManyNodesTest, ReplacingTheApiNodeKeepsEveryJobAndItsAnswer) {
  auto api = Api("api-1");
  ASSERT_FALSE(api->url().empty());
  NodeRuntime r1("w1");
  auto w1 = Worker("w1", r1);
  ASSERT_FALSE(w1->url().empty());
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(
        api->SubmitOk(R"({"image":"busybox","command":"echo number )" + std::to_string(i) + "\"}"));
  }
  ids.push_back(api->SubmitOk(R"({"image":"busybox","command":"echo failing; exit 3"})"));
  std::map<std::string, std::string> answers;
  for (const auto& id : ids) {
    Reply r = api->WaitTerminal(id, seconds(60));
    ASSERT_NE(r.status, 202) << r.body;
    EXPECT_NE(r.Json()["logs"].get<std::string>(), "") << "the api node serves the log";
    answers[id] = std::to_string(r.status) + " " + r.Json()["state"].get<std::string>() + " " +
                  r.Json()["logs"].get<std::string>();
  }
  api->Stop(/*hard=*/true);
  auto replacement = Api("api-2");
  ASSERT_FALSE(replacement->url().empty());
  for (const auto& id : ids) {
    Reply r = replacement->Status(id);
    EXPECT_EQ(std::to_string(r.status) + " " + r.Json()["state"].get<std::string>() + " " +
                  r.Json()["logs"].get<std::string>(),
              answers[id]);
  }
  std::string fresh = replacement->SubmitOk(R"({"image":"busybox","command":"echo still here"})");
  Reply r = replacement->WaitTerminal(fresh, seconds(60));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["logs"], "still here\n");
}

}  // namespace
}  // namespace berth::e2e
