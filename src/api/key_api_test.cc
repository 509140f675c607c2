#include "api/key_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/keys.h"

namespace berth {
namespace {

using json = nlohmann::json;

constexpr char kMaster[] = "master-0123456789abcdef";
constexpr char kHostKey[] = "host-0123456789abcdef";

class KeyApiTest : public ::testing::Test {
 protected:
  KeyApiTest() : keys_(MemoryKeyStore::WithHostKeys({kHostKey}, kMaster)), api_(keys_) {
    api_.Register(router_);
  }

  HttpResponse Call(const std::string& method, const std::string& target, std::string body = "",
                    std::string key = kMaster) {
    HttpRequest req;
    req.method = method;
    EXPECT_TRUE(ParseTarget(target, req.path, req.query));
    req.body = std::move(body);
    if (!key.empty()) req.headers["x-functions-key"] = key;
    HttpResponse got;
    int calls = 0;
    router_.Handle(req, [&](HttpResponse r) {
      ++calls;
      got = std::move(r);
    });
    EXPECT_EQ(calls, 1);
    return got;
  }

  std::shared_ptr<MemoryKeyStore> keys_;
  KeyApi api_;
  Router router_;
};

TEST_F(KeyApiTest, OnlyTheMasterKeyGetsIn) {
  EXPECT_EQ(Call("GET", "/admin/host/keys", "", "").status, 401);
  EXPECT_EQ(Call("GET", "/admin/host/keys", "", "wrong-key-0123456789").status, 401);
  EXPECT_EQ(Call("GET", "/admin/host/keys", "", kHostKey).status, 403);
  EXPECT_EQ(Call("GET", "/admin/functions/jobs/keys", "", kHostKey).status, 403);
  EXPECT_EQ(Call("GET", "/admin/host/keys").status, 200);
  EXPECT_EQ(Call("GET", std::string("/admin/host/keys?code=") + kMaster, "", "").status, 200);
}

TEST_F(KeyApiTest, HostKeysListDefaultAndMaster) {
  HttpResponse r = Call("GET", "/admin/host/keys");
  ASSERT_EQ(r.status, 200) << r.body;
  json want = {
      {"keys",
       {{{"name", "_master"}, {"value", kMaster}}, {{"name", "default"}, {"value", kHostKey}}}}};
  EXPECT_EQ(json::parse(r.body), want);
  EXPECT_EQ(json::parse(Call("GET", "/admin/host/keys/default").body)["value"], kHostKey);
  EXPECT_EQ(Call("GET", "/admin/host/keys/nope").status, 404);
}

TEST_F(KeyApiTest, FunctionKeyLifecycle) {
  EXPECT_EQ(json::parse(Call("GET", "/admin/functions/jobs/keys").body),
            json({{"keys", json::array()}}));

  // POST generates.
  HttpResponse made = Call("POST", "/admin/functions/jobs/keys/ci");
  ASSERT_EQ(made.status, 201) << made.body;
  std::string generated = json::parse(made.body)["value"];
  EXPECT_EQ(generated.size(), 43u);  // 32 bytes, URL-safe base64 without padding
  EXPECT_EQ(keys_->Check("jobs", generated), KeyAccess::kFunction);
  EXPECT_EQ(keys_->Check("other", generated), KeyAccess::kNone);

  // PUT with a value replaces it: 200.
  HttpResponse put =
      Call("PUT", "/admin/functions/jobs/keys/ci", R"({"value":"abcdefghijklmnop"})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(keys_->Check("jobs", generated), KeyAccess::kNone);
  EXPECT_EQ(keys_->Check("jobs", "abcdefghijklmnop"), KeyAccess::kFunction);

  // PUT on the collection with a name creates: 201.
  HttpResponse put2 = Call("PUT", "/admin/functions/jobs/keys",
                           R"({"name":"second","value":"0123456789abcdefXYZ"})");
  ASSERT_EQ(put2.status, 201) << put2.body;
  EXPECT_EQ(json::parse(Call("GET", "/admin/functions/jobs/keys").body)["keys"].size(), 2u);

  EXPECT_EQ(Call("DELETE", "/admin/functions/jobs/keys/ci").status, 204);
  EXPECT_EQ(Call("DELETE", "/admin/functions/jobs/keys/ci").status, 404);
  EXPECT_EQ(keys_->Check("jobs", "abcdefghijklmnop"), KeyAccess::kNone);
}

TEST_F(KeyApiTest, BadInputAnswers4xx) {
  EXPECT_EQ(Call("GET", "/admin/functions/nope/keys").status, 404);
  EXPECT_EQ(Call("POST", "/admin/functions/nope/keys/k").status, 404);
  EXPECT_EQ(Call("PUT", "/admin/functions/jobs/keys/k", "{not json").status, 400);
  EXPECT_EQ(Call("PUT", "/admin/functions/jobs/keys/k", R"({"value": 5})").status, 400);
  EXPECT_EQ(Call("PUT", "/admin/functions/jobs/keys/k", R"({"value": "short"})").status, 400);
  EXPECT_EQ(Call("PUT", "/admin/functions/jobs/keys/k", R"({"extra": "x"})").status, 400);
  EXPECT_EQ(Call("PUT", "/admin/functions/jobs/keys/k", R"({"name": "other"})").status, 400);
  EXPECT_EQ(Call("PUT", "/admin/functions/jobs/keys", R"({"value": "abcdefghijklmnop"})").status,
            400);
  EXPECT_EQ(Call("POST", "/admin/functions/jobs/keys/_sneaky").status, 400);
  EXPECT_EQ(Call("POST", "/admin/functions/jobs/keys/a%2Fb").status, 400);
  EXPECT_EQ(Call("POST", "/admin/functions/jobs/keys/_master").status, 400);
  EXPECT_EQ(Call("DELETE", "/admin/host/keys/_master").status, 409);
  EXPECT_EQ(Call("DELETE", "/admin/host/keys/default").status, 409);
  EXPECT_EQ(Call("PATCH", "/admin/host/keys").status, 405);
}

TEST_F(KeyApiTest, RenewingTheMasterKeyRetiresTheOldOne) {
  HttpResponse r = Call("POST", "/admin/host/keys/_master");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string fresh = json::parse(r.body)["value"];
  EXPECT_NE(fresh, kMaster);
  EXPECT_EQ(Call("GET", "/admin/host/keys").status, 401);
  EXPECT_EQ(Call("GET", "/admin/host/keys", "", fresh).status, 200);
}

TEST_F(KeyApiTest, HostKeysWorkForEveryFunctionAndMasterEverywhere) {
  ASSERT_EQ(Call("PUT", "/admin/host/keys/shared", R"({"value":"shared-key-0123456789"})").status,
            201);
  EXPECT_EQ(keys_->Check("jobs", "shared-key-0123456789"), KeyAccess::kFunction);
  EXPECT_EQ(keys_->Check("anything", "shared-key-0123456789"), KeyAccess::kFunction);
  EXPECT_EQ(keys_->Check("jobs", kMaster), KeyAccess::kMaster);
  EXPECT_EQ(keys_->Check("jobs", ""), KeyAccess::kNone);
}

TEST(KeySetTest, PinnedDefaultCannotChange) {
  KeySet set;
  set.host["default"] = "pinned-0123456789abc";
  set.default_pinned = true;
  EXPECT_EQ(set.Put("", "default", "").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(set.Put("", "other", "").status().code(), StatusCode::kOk);
}

TEST(KeySetTest, NamesAndValuesAreValidated) {
  EXPECT_TRUE(ValidateKeyName("ci-1.runner_x").ok());
  EXPECT_FALSE(ValidateKeyName("").ok());
  EXPECT_FALSE(ValidateKeyName(std::string(129, 'a')).ok());
  EXPECT_FALSE(ValidateKeyName("a b").ok());
  EXPECT_FALSE(ValidateKeyName("../x").ok());
  EXPECT_FALSE(ValidateKeyName("_x").ok());
  EXPECT_TRUE(ValidateKeyValue("abcdefghijklmnop").ok());
  EXPECT_FALSE(ValidateKeyValue("abcdefghijklmno").ok());
  EXPECT_FALSE(ValidateKeyValue(std::string(257, 'a')).ok());
  EXPECT_FALSE(ValidateKeyValue("abcdefghijklmnop\n").ok());
}

}  // namespace
}  // namespace berth
