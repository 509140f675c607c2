#include "api/aci_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>
#include <string>

#include "api/fake_job_service.h"

namespace berth {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kHostKey[] = "host-key-0123456789";
constexpr char kMasterKey[] = "master-key-0123456789";
constexpr char kFunctionKey[] = "jobs-only-key-0123456789";
constexpr char kGroup[] =
    "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ContainerInstance/"
    "containerGroups/";

json Body(const std::string& image = "busybox") {
  return {{"location", "local"},
          {"properties",
           {{"osType", "Linux"},
            {"restartPolicy", "Never"},
            {"containers",
             {{{"name", "main"},
               {"properties",
                {{"image", image},
                 {"command", {"echo", "hi"}},
                 {"resources", {{"requests", {{"cpu", 1}, {"memoryInGB", 1}}}}}}}}}}}}};
}

std::string Header(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

class AciApiTest : public ::testing::Test {
 protected:
  AciApiTest() {
    KeySet keys;
    keys.master = kMasterKey;
    keys.host["default"] = kHostKey;
    keys.functions["jobs"]["only"] = kFunctionKey;
    AciApiOptions opts;
    opts.keys = std::make_shared<MemoryKeyStore>(keys);
    opts.base_url = "https://127.0.0.1:7443";
    api_ = std::make_unique<AciApi>(jobs_, opts);
    api_->Register(router_);
  }

  HttpResponse Call(const std::string& method, const std::string& path, const json& body = nullptr,
                    const std::string& token = kHostKey,
                    std::optional<std::string> api_version = "2023-05-01") {
    HttpRequest req;
    req.method = method;
    size_t q = path.find('?');
    req.path = path.substr(0, q);
    if (q != std::string::npos) {
      std::map<std::string, std::string> query;
      std::string ignored;
      EXPECT_TRUE(ParseTarget(path, ignored, query));
      req.query = query;
    }
    if (api_version) req.query["api-version"] = *api_version;
    req.headers["host"] = "127.0.0.1:7443";
    if (!token.empty()) req.headers["authorization"] = "Bearer " + token;
    if (!body.is_null()) req.body = body.dump();
    std::promise<HttpResponse> answer;
    router_.Handle(req, [&](HttpResponse r) { answer.set_value(std::move(r)); });
    return answer.get_future().get();
  }

  static json Json(const HttpResponse& r) { return json::parse(r.body); }

  // The job of group `name` (as the fake keeps it).
  JobRecord JobOf(const std::string& name) {
    auto job = jobs_.FindByIdempotencyKey(AciGroupRef{"sub1", "rg1", name}.Key());
    EXPECT_TRUE(job.ok()) << name;
    return job.ok() ? *job : JobRecord{};
  }

  void SetState(const std::string& name, JobState state, std::optional<int> exit_code = {},
                std::string log = "") {
    JobRecord job = JobOf(name);
    job.state = state;
    job.exit_code = exit_code;
    if (state != JobState::kQueued && state != JobState::kPending) {
      job.started_at = FromUnixMillis(1'700'000'001'000);
    }
    if (IsTerminal(state)) job.finished_at = FromUnixMillis(1'700'000'002'000);
    jobs_.Put(job, std::move(log));
  }

  FakeJobService jobs_;
  Router router_;
  std::unique_ptr<AciApi> api_;
};

TEST_F(AciApiTest, EveryRouteNeedsAHostOrMasterKeyAsBearerToken) {
  for (const std::string token : {"", "wrong-key-0123456789", kFunctionKey}) {
    HttpResponse r = Call("GET", std::string(kGroup) + "g1", nullptr, token);
    EXPECT_EQ(r.status, 401) << token;
    EXPECT_EQ(Json(r)["error"]["code"], "AuthenticationFailed");
    EXPECT_EQ(Header(r, "WWW-Authenticate"), "Bearer");
  }
  EXPECT_EQ(Call("GET", std::string(kGroup) + "g1", nullptr, kMasterKey).status, 404);
  EXPECT_EQ(Call("GET", std::string(kGroup) + "g1", nullptr, kHostKey).status, 404);
}

TEST_F(AciApiTest, AMissingApiVersionIs400AsInArm) {
  HttpResponse r = Call("GET", std::string(kGroup) + "g1", nullptr, kHostKey, std::nullopt);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Json(r)["error"]["code"], "MissingApiVersionParameter");
  EXPECT_EQ(Call("GET", std::string(kGroup) + "g1", nullptr, kHostKey, "1999-01-01").status, 404);
}

TEST_F(AciApiTest, PutCreatesAJobAsALongRunningOperation) {
  HttpResponse r = Call("PUT", std::string(kGroup) + "g1", Body());
  ASSERT_EQ(r.status, 201) << r.body;
  json g = Json(r);
  EXPECT_EQ(g["name"], "g1");
  EXPECT_EQ(g["properties"]["provisioningState"], "Pending");
  JobRecord job = JobOf("g1");
  EXPECT_EQ(job.spec.image, "busybox");
  std::string op = Header(r, "Azure-AsyncOperation");
  EXPECT_EQ(op, "https://127.0.0.1:7443/subscriptions/sub1/providers/"
                "Microsoft.ContainerInstance/operations/" +
                    job.id + "?api-version=2023-05-01");
  EXPECT_EQ(Header(r, "Retry-After"), "1");

  std::string op_path = op.substr(std::string("https://127.0.0.1:7443").size());
  EXPECT_EQ(Json(Call("GET", op_path))["status"], "InProgress");
  SetState("g1", JobState::kRunning);
  EXPECT_EQ(Json(Call("GET", op_path))["status"], "Succeeded");
  EXPECT_EQ(Call("GET", "/subscriptions/other/providers/Microsoft.ContainerInstance/operations/" +
                            job.id)
                .status,
            404);

  HttpResponse got = Call("GET", std::string(kGroup) + "g1");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(Json(got)["properties"]["instanceView"]["state"], "Running");
}

TEST_F(AciApiTest, FixedSegmentsAreCaseInsensitiveAndNamesUniquePerGroup) {
  ASSERT_EQ(Call("PUT", std::string(kGroup) + "g1", Body()).status, 201);
  HttpResponse r = Call("GET",
                        "/SUBSCRIPTIONS/sub1/resourcegroups/RG1/providers/"
                        "microsoft.containerinstance/CONTAINERGROUPS/g1");
  EXPECT_EQ(r.status, 200);
  // The same name in another resource group is another group.
  EXPECT_EQ(Call("PUT",
                 "/subscriptions/sub1/resourceGroups/rg2/providers/"
                 "Microsoft.ContainerInstance/containerGroups/g1",
                 Body("alpine"))
                .status,
            201);
  EXPECT_EQ(jobs_.jobs().size(), 2u);
}

TEST_F(AciApiTest, PutOfTheSameSpecAnswersTheGroupAndAnotherSpecConflictsWhileItRuns) {
  ASSERT_EQ(Call("PUT", std::string(kGroup) + "g1", Body()).status, 201);
  std::string id = JobOf("g1").id;
  HttpResponse same = Call("PUT", std::string(kGroup) + "g1", Body());
  EXPECT_EQ(same.status, 200);
  EXPECT_EQ(JobOf("g1").id, id);
  HttpResponse other = Call("PUT", std::string(kGroup) + "g1", Body("alpine"));
  EXPECT_EQ(other.status, 409);
  EXPECT_EQ(Json(other)["error"]["code"], "ContainerGroupUpdateConflict");
  EXPECT_EQ(jobs_.jobs().size(), 1u);
  // Once it ended, a new spec replaces it under the same name.
  SetState("g1", JobState::kSucceeded, 0);
  HttpResponse replaced = Call("PUT", std::string(kGroup) + "g1", Body("alpine"));
  EXPECT_EQ(replaced.status, 200);
  EXPECT_NE(JobOf("g1").id, id);
  EXPECT_EQ(JobOf("g1").spec.image, "alpine");
  EXPECT_EQ(jobs_.jobs().size(), 1u);
}

TEST_F(AciApiTest, UnsupportedSpecsAndBadNamesAreArmErrors) {
  json body = Body();
  body["properties"]["restartPolicy"] = "Always";
  HttpResponse r = Call("PUT", std::string(kGroup) + "g1", body);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Json(r)["error"]["code"], "UnsupportedFeature");
  EXPECT_THAT(Json(r)["error"]["message"].get<std::string>(), HasSubstr("restartPolicy"));
  r = Call("PUT", std::string(kGroup) + "Bad_Name", Body());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Json(r)["error"]["code"], "InvalidContainerGroupName");
  EXPECT_TRUE(jobs_.jobs().empty());
}

TEST_F(AciApiTest, ListsByResourceGroupAndBySubscription) {
  ASSERT_EQ(Call("PUT", std::string(kGroup) + "g1", Body()).status, 201);
  ASSERT_EQ(Call("PUT", std::string(kGroup) + "g2", Body()).status, 201);
  ASSERT_EQ(Call("PUT",
                 "/subscriptions/sub1/resourceGroups/rg2/providers/"
                 "Microsoft.ContainerInstance/containerGroups/g3",
                 Body())
                .status,
            201);
  JobRecord plain;  // a job from /api/jobs is no container group
  plain.id = NewUuidV4();
  plain.spec.image = "busybox";
  jobs_.Put(plain);
  json rg = Json(Call("GET", std::string(kGroup).substr(0, std::string(kGroup).size() - 1)));
  EXPECT_EQ(rg["value"].size(), 2u);
  EXPECT_FALSE(rg.contains("nextLink"));
  json sub = Json(
      Call("GET", "/subscriptions/sub1/providers/Microsoft.ContainerInstance/containerGroups"));
  EXPECT_EQ(sub["value"].size(), 3u);
  json none = Json(
      Call("GET", "/subscriptions/sub2/providers/Microsoft.ContainerInstance/containerGroups"));
  EXPECT_TRUE(none["value"].empty());
}

TEST_F(AciApiTest, LogsOfTheGroupsContainerWithTail) {
  ASSERT_EQ(Call("PUT", std::string(kGroup) + "g1", Body()).status, 201);
  SetState("g1", JobState::kSucceeded, 0, "one\ntwo\nthree\n");
  HttpResponse r = Call("GET", std::string(kGroup) + "g1/containers/main/logs?tail=2");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r)["content"], "two\nthree\n");
  EXPECT_EQ(Json(Call("GET", std::string(kGroup) + "g1/containers/main/logs"))["content"],
            "one\ntwo\nthree\n");
  r = Call("GET", std::string(kGroup) + "g1/containers/other/logs");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Json(r)["error"]["code"], "ContainerNotFound");
  EXPECT_EQ(Call("GET", std::string(kGroup) + "g1/containers/main/logs?tail=x").status, 400);
}

TEST_F(AciApiTest, StopEndsTheGroupStoppedAndDeleteFreesTheName) {
  ASSERT_EQ(Call("PUT", std::string(kGroup) + "g1", Body()).status, 201);
  EXPECT_EQ(Call("POST", std::string(kGroup) + "g1/stop").status, 204);
  json g = Json(Call("GET", std::string(kGroup) + "g1"));
  EXPECT_EQ(g["properties"]["instanceView"]["state"], "Stopped");

  HttpResponse deleted = Call("DELETE", std::string(kGroup) + "g1");
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(Call("GET", std::string(kGroup) + "g1").status, 404);
  EXPECT_EQ(Json(Call("GET", std::string(kGroup) + "g1"))["error"]["code"], "ResourceNotFound");
  EXPECT_EQ(Call("DELETE", std::string(kGroup) + "g1").status, 204);
  EXPECT_TRUE(jobs_.jobs().empty());
  EXPECT_EQ(Call("PUT", std::string(kGroup) + "g1", Body()).status, 201);
}

TEST_F(AciApiTest, StartRunsAnEndedGroupAgainUnderItsName) {
  ASSERT_EQ(Call("PUT", std::string(kGroup) + "g1", Body()).status, 201);
  std::string first = JobOf("g1").id;
  SetState("g1", JobState::kFailed, 2);
  HttpResponse r = Call("POST", std::string(kGroup) + "g1/start");
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_THAT(Header(r, "Azure-AsyncOperation"), HasSubstr(JobOf("g1").id));
  EXPECT_NE(JobOf("g1").id, first);
  EXPECT_EQ(JobOf("g1").state, JobState::kQueued);
  EXPECT_EQ(jobs_.jobs().size(), 1u);
}

}  // namespace
}  // namespace berth
