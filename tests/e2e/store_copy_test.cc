// End-to-end: a single node outgrows its machine. `berth serve` on SQLite runs a job to
// Succeeded and accepts one more while dispatch is paused; it stops; `berth store copy` moves
// its history into a real PostgreSQL 15 server; a new node on a new data dir with
// StoreConnection answers for the old job, takes the old key, and runs the queued job (real
// crun). Needs root.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/child_process.h"
#include "tests/support/postgres_server.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class StoreCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
    Result<PostgresServer*> server = PostgresServer::Shared();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    Result<std::string> db = (*server)->CreateDatabase();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    uri_ = (*server)->Uri(db->substr(db->rfind("dbname=") + 7));
  }

  std::string uri_;
};

TEST_F(StoreCopyTest, ASingleNodesHistoryMovesToPostgresAndGoesOn) {
  BerthProcess old_node;
  ASSERT_FALSE(old_node.url().empty()) << old_node.ServerOutput();
  const std::string old_key = old_node.key();
  std::string done = old_node.SubmitOk(R"({"image":"busybox","command":"echo before the move"})");
  Reply finished = old_node.WaitTerminal(done, seconds(60));
  ASSERT_EQ(finished.status, 200) << finished.body << "\n" << old_node.ServerOutput();
  ASSERT_TRUE(old_node.Restart({{"DispatchPaused", "true"}}));
  std::string waiting = old_node.SubmitOk(R"({"image":"busybox","command":"echo after the move"})");
  ASSERT_EQ(old_node.Status(waiting).Json()["state"], "Queued");

  // A running node's data dir is refused, with the reason.
  std::string out;
  int code = RunProgram(
      {BERTH_BINARY, "store", "copy", "--from", old_node.data_dir().string(), "--to", uri_}, "",
      &out);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("daemon is running"), std::string::npos) << out;

  old_node.Stop();
  code = RunProgram(
      {BERTH_BINARY, "store", "copy", "--from", old_node.data_dir().string(), "--to", uri_}, "",
      &out);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("copied 2 of 2 jobs"), std::string::npos) << out;
  EXPECT_NE(out.find("jobs: 2 copied"), std::string::npos) << out;
  // Run again: refused (the destination holds jobs), and with --merge it adds nothing.
  code = RunProgram(
      {BERTH_BINARY, "store", "copy", "--from", old_node.data_dir().string(), "--to", uri_}, "",
      &out);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("--merge"), std::string::npos) << out;
  code = RunProgram({BERTH_BINARY, "store", "copy", "--from", old_node.data_dir().string(), "--to",
                     uri_, "--merge"},
                    "", &out);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("jobs: 0 copied, 2 already there"), std::string::npos) << out;

  // The new node: another data dir, the PostgreSQL store.
  BerthProcess new_node(json{{"StoreConnection", uri_}});
  ASSERT_FALSE(new_node.url().empty()) << new_node.ServerOutput();
  // The store's default key is the old one, mirrored into the new data dir for the CLI.
  EXPECT_EQ(new_node.key(), old_key);
  Reply old_job = Http("GET", new_node.url() + "/api/jobs/" + done);
  ASSERT_EQ(old_job.status, 200) << old_job.body;
  EXPECT_EQ(old_job.Json()["state"], "Succeeded");
  EXPECT_EQ(old_job.Json()["exitCode"], finished.Json()["exitCode"]);
  EXPECT_EQ(old_job.Json()["createdAt"], finished.Json()["createdAt"]);
  EXPECT_EQ(old_job.Json()["finishedAt"], finished.Json()["finishedAt"]);
  // Its log came along: the new node has no file of it and serves it from the store.
  EXPECT_EQ(old_job.Json()["logs"], "before the move\n");
  Reply posted = Http("POST", new_node.url() + "/api/jobs",
                      R"({"image":"busybox","command":"echo with the old key"})",
                      {"x-functions-key: " + old_key});
  EXPECT_EQ(posted.status, 202) << posted.body;
  Reply ran = new_node.WaitTerminal(waiting, seconds(60));
  ASSERT_EQ(ran.status, 200) << ran.body << "\n" << new_node.ServerOutput();
  EXPECT_EQ(ran.Json()["state"], "Succeeded");
  EXPECT_EQ(ran.Json()["logs"], "after the move\n");
}

}  // namespace
}  // namespace berth::e2e
