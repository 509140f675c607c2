// End-to-end: `berth serve` with StoreConnection pointing at a real PostgreSQL 15 server (the
// test starts its own, tests/support/postgres_server.h): a job runs to Succeeded with real
// crun, is recorded in PostgreSQL (no SQLite file), and survives a kill -9 and restart of the
// daemon; a daemon refuses to start on a schema newer than it knows. Needs root.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <string>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/child_process.h"
#include "tests/support/postgres_server.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// The first column of the first row of `sql` on `conninfo` ("" when there is none).
std::string QueryOne(const std::string& conninfo, const std::string& sql) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  std::string out;
  if (PQstatus(conn) == CONNECTION_OK) {
    PGresult* res = PQexec(conn, sql.c_str());
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) out = PQgetvalue(res, 0, 0);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) out = PQcmdTuples(res);
    PQclear(res);
  } else {
    ADD_FAILURE() << PQerrorMessage(conn);
  }
  PQfinish(conn);
  return out;
}

class PostgresServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
    Result<PostgresServer*> server = PostgresServer::Shared();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    Result<std::string> db = (*server)->CreateDatabase();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    conninfo_ = *db;
    // The daemon connects over TCP with a URI, as it would to a managed PostgreSQL.
    uri_ = (*server)->Uri(conninfo_.substr(conninfo_.rfind("dbname=") + 7));
  }
  json Settings(json extra = json::object()) {
    extra["StoreConnection"] = uri_;
    extra["DefaultJobCommand"] = "echo from postgres; sleep 1; echo done";
    return extra;
  }

  std::string conninfo_;
  std::string uri_;
};

TEST_F(PostgresServeTest, TheDefaultJobRunsToSucceededAndARestartKeepsIt) {
  BerthProcess berth(Settings());
  ASSERT_FALSE(berth.url().empty()) << berth.ServerOutput();
  Reply post = berth.Submit();  // the default job
  ASSERT_EQ(post.status, 202) << post.body;
  std::string id = post.Json().value("id", "");
  Reply r = berth.WaitTerminal(id, seconds(60));
  ASSERT_EQ(r.status, 200) << r.body << "\n" << berth.ServerOutput();
  EXPECT_EQ(r.Json()["state"], "Succeeded");
  EXPECT_EQ(r.Json()["logs"], "from postgres\ndone\n");
  EXPECT_EQ(QueryOne(conninfo_, "SELECT state FROM jobs WHERE id='" + id + "'"), "Succeeded");
  EXPECT_FALSE(std::filesystem::exists(berth.data_dir() / "berth.db"))
      << "with StoreConnection set, no SQLite file is made";

  // A job accepted while nothing runs (dispatch paused) waits in PostgreSQL across a kill -9.
  ASSERT_TRUE(berth.Restart(Settings({{"DispatchPaused", "true"}})));
  std::string queued = berth.SubmitOk(R"({"image":"busybox","command":"echo after restart"})");
  EXPECT_EQ(berth.Status(queued).Json()["state"], "Queued");
  ASSERT_TRUE(berth.Restart(Settings()));
  Reply again = berth.Status(id);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.Json()["state"], "Succeeded");
  EXPECT_EQ(again.Json()["logs"], "from postgres\ndone\n");
  Reply later = berth.WaitTerminal(queued, seconds(60));
  ASSERT_EQ(later.status, 200) << later.body << "\n" << berth.ServerOutput();
  EXPECT_EQ(later.Json()["logs"], "after restart\n");
  EXPECT_EQ(QueryOne(conninfo_, "SELECT COUNT(*) FROM jobs"), "2");
}

TEST_F(PostgresServeTest, ADaemonRefusesASchemaNewerThanItKnows) {
  {
    BerthProcess berth(Settings());  // creates the schema
    ASSERT_FALSE(berth.url().empty()) << berth.ServerOutput();
  }
  ASSERT_EQ(QueryOne(conninfo_, "UPDATE berth_schema SET version=version+1"), "1");
  TempDir data;
  std::string out;
  int code = RunProgram({"timeout", "-s", "KILL", "30", BERTH_BINARY, "serve", "--listen",
                         "127.0.0.1:0", "--data-dir", data.path().string()},
                        "", &out, {"StoreConnection=" + uri_});
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(code, 137) << "the daemon kept running:\n" << out;
  EXPECT_NE(out.find("StoreConnection"), std::string::npos) << out;
  EXPECT_NE(out.find("newer than the newest this berth knows"), std::string::npos) << out;
  EXPECT_EQ(out.find("serving on"), std::string::npos) << out;
}

TEST_F(PostgresServeTest, AnUnreachableDatabaseStopsStartUpWithAPreciseError) {
  TempDir data;
  std::string out;
  int code = RunProgram({"timeout", "-s", "KILL", "30", BERTH_BINARY, "serve", "--listen",
                         "127.0.0.1:0", "--data-dir", data.path().string()},
                        "", &out, {"StoreConnection=postgresql://nobody@127.0.0.1:1/berth"});
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(code, 137) << "the daemon kept running:\n" << out;
  EXPECT_NE(out.find("StoreConnection"), std::string::npos) << out;
  EXPECT_NE(out.find("127.0.0.1"), std::string::npos) << out;
}

// Issue 11: an api node queues, a worker (its own data dir and port) runs; the job names the
// worker; a worker killed with its job running has the job ended NodeLost by a live node.
TEST_F(PostgresServeTest, AWorkerRunsWhatAnApiNodeQueuedAndAKilledWorkersJobEndsNodeLost) {
  BerthProcess api(Settings({{"Role", "api"}, {"NodeId", "api-1"}, {"NodeLeaseSeconds", "3"}}));
  ASSERT_FALSE(api.url().empty()) << api.ServerOutput();
  BerthProcess worker(
      Settings({{"Role", "worker"}, {"NodeId", "worker-1"}, {"NodeLeaseSeconds", "3"}}));
  ASSERT_FALSE(worker.url().empty()) << worker.ServerOutput();
  std::string id = api.SubmitOk(R"({"image":"busybox","command":["echo","hi"]})");
  Reply done = api.WaitTerminal(id, seconds(60));
  ASSERT_EQ(done.status, 200) << done.body << "\n" << worker.ServerOutput();
  EXPECT_EQ(done.Json()["node"], "worker-1");
  // A worker serves no public API; its health only.
  EXPECT_EQ(Http("GET", worker.url() + "/api/jobs/" + id).status, 404);
  EXPECT_EQ(Http("GET", worker.url() + "/healthz").status, 200);
  Reply nodes = Http("GET", api.url() + "/api/nodes?code=" + api.key());
  ASSERT_EQ(nodes.status, 200) << nodes.body;
  ASSERT_EQ(nodes.Json()["nodes"].size(), 2u) << nodes.body;
  EXPECT_EQ(nodes.Json()["nodes"][0]["id"], "api-1");
  EXPECT_EQ(nodes.Json()["nodes"][0]["role"], "api");
  EXPECT_EQ(nodes.Json()["nodes"][1]["id"], "worker-1");
  EXPECT_EQ(nodes.Json()["nodes"][1]["state"], "live");
  EXPECT_EQ(Http("GET", api.url() + "/api/nodes").status, 401);

  std::string running = api.SubmitOk(R"({"image":"busybox","command":["sleep","600"]})");
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (api.Status(running).Json().value("state", "") != "Running" &&
         std::chrono::steady_clock::now() < deadline) {
    usleep(50'000);
  }
  ASSERT_EQ(api.Status(running).Json().value("state", ""), "Running");
  worker.Stop(/*hard=*/true);
  auto killed = std::chrono::steady_clock::now();
  Reply lost = api.WaitTerminal(running, seconds(30));
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  ASSERT_EQ(lost.status, 500) << lost.body << "\n" << api.ServerOutput();
  EXPECT_EQ(lost.Json()["state"], "Failed");
  EXPECT_EQ(lost.Json()["reason"].get<std::string>().rfind("NodeLost: node 'worker-1'", 0), 0u)
      << lost.body;
  EXPECT_LT(took, 3 + 5) << "within NodeLeaseSeconds + 5 s";
  nodes = Http("GET", api.url() + "/api/nodes?code=" + api.key());
  EXPECT_EQ(nodes.Json()["nodes"][1]["state"], "lost") << nodes.body;
}

TEST_F(PostgresServeTest, WorkerAndApiRolesAreRefusedOnSqlite) {
  TempDir data;
  std::string out;
  int code = RunProgram({"timeout", "-s", "KILL", "30", BERTH_BINARY, "serve", "--role", "worker",
                         "--listen", "127.0.0.1:0", "--data-dir", data.path().string()},
                        "", &out, {});
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(code, 137) << "the daemon kept running:\n" << out;
  EXPECT_NE(out.find("StoreConnection"), std::string::npos) << out;
  EXPECT_EQ(out.find("serving on"), std::string::npos) << out;
}

}  // namespace
}  // namespace berth::e2e
