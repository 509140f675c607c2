// End-to-end: the real binary tells about itself — `version`, `--version`, `help`, unknown
// commands — and the server's GET /api/version names the same build.
#include <gtest/gtest.h>
#include <unistd.h>

#include <regex>
#include <sstream>

#include "tests/e2e/berth_process.h"
#include "tests/e2e/child_process.h"

namespace berth::e2e {
namespace {

int Berth(const std::vector<std::string>& args, std::string* out) {
  std::vector<std::string> argv{BERTH_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, "", out);
}

TEST(CliHelpTest, VersionAndDashDashVersionNameTheVersionAndCommit) {
  std::string a, b;
  EXPECT_EQ(Berth({"version"}, &a), 0) << a;
  EXPECT_EQ(Berth({"--version"}, &b), 0) << b;
  EXPECT_EQ(a.rfind("berth 0.1.0 (commit ", 0), 0u) << a;
  EXPECT_EQ(a, b);
  std::string commit = a.substr(a.find("commit ") + 7);
  commit = commit.substr(0, commit.find(')'));
  EXPECT_GE(commit.size(), 7u) << a;
  EXPECT_NE(commit, "unknown") << "the build is in a git tree; the commit should be baked in";
}

TEST(CliHelpTest, HelpListsTheCommandsAndExplainsOne) {
  std::string out;
  EXPECT_EQ(Berth({"help"}, &out), 0) << out;
  EXPECT_NE(out.find("Usage: berth [OPTIONS] SUBCOMMAND"), std::string::npos) << out;
  for (const char* cmd : {"serve", "submit", "status", "logs", "cancel", "ls", "version"}) {
    EXPECT_NE(out.find(cmd), std::string::npos) << cmd << " missing from:\n" << out;
  }
  EXPECT_EQ(out.find("shim"), std::string::npos) << "the monitor is not for people:\n" << out;
  std::string submit;
  EXPECT_EQ(Berth({"help", "submit"}, &submit), 0) << submit;
  EXPECT_NE(submit.find("--wait"), std::string::npos) << submit;
  std::string nope;
  EXPECT_EQ(Berth({"help", "sumbit"}, &nope), 2) << nope;
  EXPECT_NE(nope.find("no command 'sumbit'. Did you mean 'submit'?"), std::string::npos) << nope;
}

TEST(CliHelpTest, UnknownCommandsSayWhatToDoInstead) {
  std::string out;
  EXPECT_EQ(Berth({"frobnicate"}, &out), 2) << out;
  EXPECT_NE(out.find("'frobnicate' is not a berth command"), std::string::npos) << out;
  EXPECT_NE(out.find("berth help"), std::string::npos) << out;
  EXPECT_EQ(out.find("A subcommand is required"), std::string::npos) << out;

  std::string typo;
  EXPECT_EQ(Berth({"sumbit"}, &typo), 2) << typo;
  EXPECT_NE(typo.find("Did you mean 'submit'?"), std::string::npos) << typo;

  std::string none;
  EXPECT_EQ(Berth({}, &none), 2) << none;
  EXPECT_NE(none.find("a command is required (try 'berth help')"), std::string::npos) << none;
}

// What bash offers after `words` (the last one being completed), with the script the binary
// writes loaded into a real bash.
std::string Complete(const std::string& words) {
  std::string script;
  EXPECT_EQ(Berth({"completion", "bash"}, &script), 0) << script;
  std::string program =
      script + "\nCOMP_WORDS=(" + words +
      ")\nCOMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n_berth\necho \"${COMPREPLY[*]}\"\n";
  std::string out;
  EXPECT_EQ(RunProgram({"bash", "-c", program}, "", &out), 0) << out;
  return out;
}

TEST(CliHelpTest, BashCompletionComesFromTheCommandTable) {
  EXPECT_EQ(Complete("berth su"), "submit\n");
  EXPECT_EQ(Complete("berth image p"), "pull prune\n");
  EXPECT_EQ(Complete("berth submit --w"), "--wait\n");
  EXPECT_EQ(Complete("berth ls --c"), "--cacert --cursor\n");
  EXPECT_EQ(Complete("berth image rm --f"), "--force\n");
  EXPECT_EQ(Complete("berth keys cr"), "create\n");
  EXPECT_EQ(Complete("berth sh"), "\n") << "the monitor is hidden";
  std::string all = Complete("berth ''");
  for (const char* cmd : {"serve", "submit", "status", "logs", "cancel", "ls", "image", "keys",
                          "version", "help", "completion"}) {
    EXPECT_NE(all.find(cmd), std::string::npos) << cmd << " in " << all;
  }
  std::string bad;
  EXPECT_NE(Berth({"completion", "tcsh"}, &bad), 0) << bad;
}

TEST(CliHelpTest, HelpSettingsListsEverySettingWithItsDefault) {
  std::string out;
  ASSERT_EQ(Berth({"help", "settings"}, &out), 0) << out;
  for (const char* line : {R"(\nMaxConcurrentJobs +16\n)", R"(\nJobQueueName +"jobs"\n)",
                           R"(\nLogFormat +"text"\n)", R"(\nTlsCertFile +\(empty\)\n)"}) {
    EXPECT_TRUE(std::regex_search(out, std::regex(line))) << line << " in:\n" << out;
  }
  // Every setting serve's --help names is there (FUNCTIONS_WORKER_RUNTIME is accepted, unused).
  std::string serve;
  ASSERT_EQ(Berth({"serve", "--help"}, &serve), 0) << serve;
  std::string names = serve.substr(serve.find("override it):"));
  std::istringstream in(names.substr(names.find('\n') + 1));
  for (std::string name; in >> name;) {
    if (name.front() == '\'') break;  // the footer's last line
    if (name == "FUNCTIONS_WORKER_RUNTIME") continue;
    EXPECT_NE(out.find("\n" + name + " "), std::string::npos) << name;
  }
}

TEST(CliHelpTest, ApiVersionNamesTheSameBuildAsTheBinary) {
  if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  Reply r = Http("GET", berth.url() + "/api/version");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string line;
  Berth({"version"}, &line);
  EXPECT_EQ(line, "berth " + r.Json()["version"].get<std::string>() + " (commit " +
                      r.Json()["commit"].get<std::string>() + ")\n");
}

}  // namespace
}  // namespace berth::e2e
