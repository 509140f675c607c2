#include "images/registry_auth.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "images/registry_options.h"

namespace berth {
namespace {

TEST(RegistryAuthTest, ParsesBearerChallenge) {
  Result<AuthChallenge> c = ParseAuthChallenge(
      R"(Bearer realm="https://auth.example/token",service="reg,istry",scope="repository:a/b:pull")");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->params["realm"], "https://auth.example/token");
  EXPECT_EQ(c->params["service"], "reg,istry");
  EXPECT_EQ(c->params["scope"], "repository:a/b:pull");
}

TEST(RegistryAuthTest, ParsesBasicChallengeAndRejectsEmpty) {
  Result<AuthChallenge> c = ParseAuthChallenge(R"(Basic realm="Registry Realm")");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->scheme, "basic");
  EXPECT_EQ(c->params["realm"], "Registry Realm");
  EXPECT_FALSE(ParseAuthChallenge("").ok());
}

TEST(RegistryAuthTest, Base64RoundTrips) {
  for (std::string s :
       std::vector<std::string>{"", "a", "ab", "abc", "user:pa:ss", std::string("\0\xff", 2)}) {
    Result<std::string> back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base64Encode("alice:s3cret"), "YWxpY2U6czNjcmV0");
  EXPECT_FALSE(Base64Decode("abc").ok());
}

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-auth-XXXXXX";
    path_ = std::string(mkstemp(tmpl) >= 0 ? tmpl : "");
  }
  void TearDown() override { std::filesystem::remove(path_); }
  void Write(const std::string& text) { std::ofstream(path_) << text; }
  std::filesystem::path path_;
};

TEST_F(CredentialsTest, FindsByHostAndUrlKeys) {
  Write(R"({"auths": {
    "https://index.docker.io/v1/": {"auth": ")" +
        Base64Encode("hub:pw") + R"("},
    "127.0.0.1:5000": {"auth": ")" +
        Base64Encode("alice:s3:cret") + R"("},
    "ghcr.io": {"username": "bob", "password": "tok"}}})");
  Result<Credentials> hub = LookupCredentials(path_, "docker.io");
  ASSERT_TRUE(hub.ok()) << hub.status().ToString();
  EXPECT_EQ(hub->username, "hub");
  Result<Credentials> local = LookupCredentials(path_, "127.0.0.1:5000");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->username, "alice");
  EXPECT_EQ(local->password, "s3:cret");
  EXPECT_EQ(LookupCredentials(path_, "ghcr.io")->password, "tok");
  EXPECT_TRUE(LookupCredentials(path_, "quay.io")->empty());
  EXPECT_TRUE(LookupCredentials("", "quay.io")->empty());
}

TEST_F(CredentialsTest, MalformedFileIsAnError) {
  Write("not json");
  EXPECT_TRUE(LookupCredentials(path_, "x.io").status().IsInvalidArgument());
  Write(R"({"auths": {"x.io": {"auth": "bm9jb2xvbg=="}}})");  // "nocolon"
  EXPECT_FALSE(LookupCredentials(path_, "x.io").ok());
}

TEST(RegistryOptionsTest, AllowedRegistries) {
  EXPECT_TRUE(RegistryAllowed("anything.io", {}));
  std::vector<std::string> allowed = {"ghcr.io", "127.0.0.1:5000", "*.corp.example"};
  EXPECT_TRUE(RegistryAllowed("ghcr.io", allowed));
  EXPECT_TRUE(RegistryAllowed("GHCR.io", allowed));
  EXPECT_TRUE(RegistryAllowed("127.0.0.1:5000", allowed));
  EXPECT_FALSE(RegistryAllowed("127.0.0.1:5001", allowed));
  EXPECT_FALSE(RegistryAllowed("127.0.0.1", allowed));
  EXPECT_TRUE(RegistryAllowed("reg.corp.example", allowed));
  EXPECT_TRUE(RegistryAllowed("reg.corp.example:443", allowed));
  EXPECT_FALSE(RegistryAllowed("corp.example", allowed));
  EXPECT_FALSE(RegistryAllowed("evilcorp.example", allowed));
  EXPECT_FALSE(RegistryAllowed("docker.io", allowed));
}

TEST(RegistryOptionsTest, SplitsLists) {
  EXPECT_EQ(SplitRegistryList(" a:1, b ,,c"), (std::vector<std::string>{"a:1", "b", "c"}));
  EXPECT_TRUE(SplitRegistryList("").empty());
}

}  // namespace
}  // namespace berth
