// End-to-end: key management through the real daemon's admin API and the `berth keys` CLI.
// Function keys, host keys and the master key, as in the function-key model.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

using nlohmann::json;

std::string ReadTrimmed(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

mode_t ModeOf(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 0777;
}

class KeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  }

  static Reply Submit(const BerthProcess& berth, const std::string& key) {
    return Http("POST", berth.url() + "/api/jobs", R"({"image":"busybox","command":"true"})",
                {"x-functions-key: " + key});
  }
};

TEST_F(KeysTest, FunctionHostAndMasterKeysEndToEnd) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  const std::string master = ReadTrimmed(berth.data_dir() / "master-key");
  ASSERT_EQ(master.size(), 43u);
  EXPECT_EQ(ModeOf(berth.data_dir() / "master-key"), 0600u);
  EXPECT_EQ(ModeOf(berth.data_dir() / "function-key"), 0600u);
  // The README's `KEY=$(cat .berth/function-key)` is the default host key.
  EXPECT_EQ(ReadTrimmed(berth.data_dir() / "function-key"), berth.key());
  // Issue 10: the master key never reaches stdout/stderr (the journal); the start says where.
  EXPECT_EQ(berth.ServerOutput().find(master), std::string::npos) << berth.ServerOutput();
  EXPECT_NE(
      berth.ServerOutput().find("master key in " + (berth.data_dir() / "master-key").string()),
      std::string::npos)
      << berth.ServerOutput();
  const std::string admin = berth.url() + "/admin";
  const std::vector<std::string> as_master = {"x-functions-key: " + master};

  // The master key works wherever a function key does; a function key cannot reach /admin.
  EXPECT_EQ(Submit(berth, master).status, 202);
  EXPECT_EQ(Http("GET", admin + "/host/keys", "", {"x-functions-key: " + berth.key()}).status, 403);
  EXPECT_EQ(Http("GET", admin + "/host/keys").status, 401);

  Reply host = Http("GET", admin + "/host/keys", "", as_master);
  ASSERT_EQ(host.status, 200) << host.body;
  EXPECT_EQ(host.Json(), json({{"keys",
                                {{{"name", "_master"}, {"value", master}},
                                 {{"name", "default"}, {"value", berth.key()}}}}}));

  // A function key: created (201), works for POST /api/jobs, is refused on /admin, deleted (204),
  // then refused.
  Reply made = Http("POST", admin + "/functions/jobs/keys/ci", "", as_master);
  ASSERT_EQ(made.status, 201) << made.body;
  std::string ci = made.Json().value("value", "");
  EXPECT_EQ(ci.size(), 43u);
  EXPECT_EQ(Submit(berth, ci).status, 202);
  EXPECT_EQ(Http("GET", admin + "/functions/jobs/keys", "", {"x-functions-key: " + ci}).status,
            403);
  Reply listed = Http("GET", admin + "/functions/jobs/keys", "", as_master);
  EXPECT_EQ(listed.Json(), json({{"keys", {{{"name", "ci"}, {"value", ci}}}}}));
  EXPECT_EQ(ModeOf(berth.data_dir() / "keys.json"), 0600u);
  // PUT with a value replaces it (200); the old value stops working.
  Reply put = Http("PUT", admin + "/functions/jobs/keys/ci", R"({"value":"chosen-by-ops-0123"})",
                   as_master);
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(Submit(berth, ci).status, 401);
  EXPECT_EQ(Submit(berth, "chosen-by-ops-0123").status, 202);
  EXPECT_EQ(Http("DELETE", admin + "/functions/jobs/keys/ci", "", as_master).status, 204);
  EXPECT_EQ(Submit(berth, "chosen-by-ops-0123").status, 401);
  EXPECT_EQ(Http("DELETE", admin + "/functions/jobs/keys/ci", "", as_master).status, 404);
  EXPECT_EQ(Http("GET", admin + "/functions/nope/keys", "", as_master).status, 404);

  // A host key made with PUT {"name","value"} on the collection.
  Reply hk = Http("PUT", admin + "/host/keys", R"({"name":"ops","value":"host-key-for-ops-0123"})",
                  as_master);
  EXPECT_EQ(hk.status, 201) << hk.body;
  EXPECT_EQ(Submit(berth, "host-key-for-ops-0123").status, 202);

  // Renewing the default key rewrites <data>/function-key; renewing the master key retires it.
  Reply renewed = Http("POST", admin + "/host/keys/default", "", as_master);
  ASSERT_EQ(renewed.status, 200) << renewed.body;
  std::string fresh_default = renewed.Json().value("value", "");
  EXPECT_EQ(ReadTrimmed(berth.data_dir() / "function-key"), fresh_default);
  EXPECT_EQ(Submit(berth, berth.key()).status, 401);
  EXPECT_EQ(Submit(berth, fresh_default).status, 202);
  Reply new_master = Http("POST", admin + "/host/keys/_master", "", as_master);
  ASSERT_EQ(new_master.status, 200) << new_master.body;
  std::string fresh_master = new_master.Json().value("value", "");
  EXPECT_EQ(ReadTrimmed(berth.data_dir() / "master-key"), fresh_master);
  EXPECT_EQ(Http("GET", admin + "/host/keys", "", as_master).status, 401);
  EXPECT_EQ(Http("GET", admin + "/host/keys", "", {"x-functions-key: " + fresh_master}).status,
            200);
  EXPECT_EQ(
      Http("DELETE", admin + "/host/keys/_master", "", {"x-functions-key: " + fresh_master}).status,
      409);
}

TEST_F(KeysTest, CliManagesKeysThroughTheServer) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  const std::vector<std::string> where = {"--server", berth.url(), "--data-dir",
                                          berth.data_dir().string()};
  auto cli = [&](std::vector<std::string> args, std::string* out) {
    args.insert(args.end(), where.begin(), where.end());
    return berth.RunCli(args, out);
  };
  std::string out;
  ASSERT_EQ(cli({"keys", "create", "nightly"}, &out), 0) << out;
  std::string nightly = out.substr(0, out.find('\n'));
  EXPECT_EQ(nightly.size(), 43u) << out;
  EXPECT_EQ(Submit(berth, nightly).status, 202);

  out.clear();
  ASSERT_EQ(cli({"keys", "list"}, &out), 0) << out;
  EXPECT_EQ(out, "nightly\t" + nightly + "\n");

  out.clear();
  ASSERT_EQ(cli({"keys", "create", "ops", "--host", "--value", "host-key-from-cli-0123"}, &out), 0)
      << out;
  out.clear();
  ASSERT_EQ(cli({"keys", "list", "--host"}, &out), 0) << out;
  EXPECT_NE(out.find("ops\thost-key-from-cli-0123\n"), std::string::npos) << out;
  EXPECT_NE(out.find("default\t" + berth.key() + "\n"), std::string::npos) << out;

  out.clear();
  ASSERT_EQ(cli({"keys", "delete", "nightly"}, &out), 0) << out;
  EXPECT_EQ(Submit(berth, nightly).status, 401);
  out.clear();
  EXPECT_EQ(cli({"keys", "delete", "nightly"}, &out), 1);
  EXPECT_NE(out.find("404"), std::string::npos) << out;

  // Without the master key the CLI says how to give it.
  out.clear();
  EXPECT_NE(
      berth.RunCli({"keys", "list", "--server", berth.url(), "--data-dir", "/nonexistent"}, &out),
      0);
  EXPECT_NE(out.find("master key"), std::string::npos) << out;
}

}  // namespace
}  // namespace berth::e2e
