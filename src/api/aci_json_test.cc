#include "api/aci_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace berth {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

const AciGroupRef kRef{"sub-1", "My-RG", "job-1"};

// A container group as the SDK sends it (the pattern's own shape).
json Group() {
  return json::parse(R"({
    "location": "westeurope",
    "tags": {"team": "data"},
    "properties": {
      "osType": "Linux",
      "restartPolicy": "Never",
      "sku": "Standard",
      "containers": [{
        "name": "main",
        "properties": {
          "image": "busybox",
          "command": ["/bin/sh", "-c", "echo hi"],
          "environmentVariables": [
            {"name": "PLAIN", "value": "v"},
            {"name": "SECRET", "secureValue": "s3cret"}
          ],
          "resources": {"requests": {"cpu": 0.5, "memoryInGB": 1.5},
                        "limits": {"cpu": 1, "memoryInGB": 2}}
        }
      }]
    }
  })");
}

JobSpec Parse(const json& body) {
  auto parsed = ParseContainerGroup(body.dump(), kRef, "local");
  if (auto* err = std::get_if<ArmError>(&parsed)) {
    ADD_FAILURE() << err->code << ": " << err->message;
    return {};
  }
  return std::get<JobSpec>(parsed);
}

// Expects the body refused with a 400 whose code is `code` and whose message names `field`.
void ExpectRefused(const json& body, const std::string& code, const std::string& field) {
  auto parsed = ParseContainerGroup(body.dump(), kRef, "local");
  auto* err = std::get_if<ArmError>(&parsed);
  ASSERT_NE(err, nullptr) << "accepted: " << body.dump();
  EXPECT_EQ(err->status, 400);
  EXPECT_EQ(err->code, code) << err->message;
  EXPECT_THAT(err->message, HasSubstr(field));
}

JobRecord Job(JobState state) {
  JobRecord job;
  job.id = "6d07bd04-5382-4654-a376-c8a8446cdac4";
  job.spec = Parse(Group());
  job.state = state;
  job.idempotency_key = kRef.Key();
  job.created_at = FromUnixMillis(1'700'000'000'000);
  return job;
}

TEST(AciGroupRefTest, ResourceIdAndLowerCasedKey) {
  EXPECT_EQ(kRef.ResourceId(),
            "/subscriptions/sub-1/resourceGroups/My-RG/providers/"
            "Microsoft.ContainerInstance/containerGroups/job-1");
  EXPECT_EQ(kRef.Key(),
            "/subscriptions/sub-1/resourcegroups/my-rg/providers/"
            "microsoft.containerinstance/containergroups/job-1");
  EXPECT_TRUE(kRef.Key().starts_with(AciKeyPrefix("SUB-1", "my-rg")));
  EXPECT_TRUE(kRef.Key().starts_with(AciKeyPrefix("sub-1", "")));
  EXPECT_FALSE(kRef.Key().starts_with(AciKeyPrefix("sub-1", "my-rg2")));
}

TEST(AciNamesTest, ChecksEachPartOfThePath) {
  EXPECT_FALSE(CheckSubscription("00000000-0000-0000-0000-000000000000"));
  EXPECT_TRUE(CheckSubscription(""));
  EXPECT_TRUE(CheckSubscription("a b"));
  EXPECT_FALSE(CheckResourceGroup("My_RG.(1)-x"));
  EXPECT_TRUE(CheckResourceGroup("rg."));
  EXPECT_TRUE(CheckResourceGroup(std::string(91, 'a')));
  EXPECT_FALSE(CheckGroupName("job-1", "name"));
  EXPECT_TRUE(CheckGroupName("Job-1", "name"));
  EXPECT_TRUE(CheckGroupName("-job", "name"));
  EXPECT_TRUE(CheckGroupName("job-", "name"));
  EXPECT_TRUE(CheckGroupName(std::string(64, 'a'), "name"));
  EXPECT_EQ(CheckGroupName("a_b", "name")->code, "InvalidContainerGroupName");
}

TEST(ParseContainerGroupTest, MapsTheContainerToAJobSpec) {
  JobSpec spec = Parse(Group());
  EXPECT_EQ(spec.image, "busybox");
  EXPECT_THAT(spec.command, ::testing::ElementsAre("/bin/sh", "-c", "echo hi"));
  EXPECT_EQ(spec.env.at("PLAIN"), "v");
  EXPECT_FALSE(spec.env.contains("SECRET"));
  EXPECT_EQ(spec.secure_env.at("SECRET"), "s3cret");
  EXPECT_DOUBLE_EQ(spec.cpu, 1);  // the limits when given
  EXPECT_DOUBLE_EQ(spec.memory_gb, 2);
  EXPECT_EQ(spec.restart_policy, RestartPolicy::kNever);
  EXPECT_EQ(spec.annotations.at("aci.id"), kRef.ResourceId());
  EXPECT_EQ(spec.annotations.at("aci.location"), "westeurope");
  // What the store keeps reads back the same.
  auto back = ParseJobSpec(JobSpecToJson(spec, true));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(SameGroupSpec(*back, spec));
}

TEST(ParseContainerGroupTest, RequestsAreTheLimitsWithoutLimitsAndOnFailureMaps) {
  json g = Group();
  g["properties"]["containers"][0]["properties"]["resources"].erase("limits");
  g["properties"]["restartPolicy"] = "OnFailure";
  g.erase("location");
  JobSpec spec = Parse(g);
  EXPECT_DOUBLE_EQ(spec.cpu, 0.5);
  EXPECT_DOUBLE_EQ(spec.memory_gb, 1.5);
  EXPECT_EQ(spec.restart_policy, RestartPolicy::kOnFailure);
  EXPECT_EQ(spec.annotations.at("aci.location"), "local");
}

TEST(ParseContainerGroupTest, WhatBerthCannotDoIsRefusedByName) {
  json g = Group();
  g["properties"]["restartPolicy"] = "Always";
  ExpectRefused(g, "UnsupportedFeature", "properties.restartPolicy");
  g = Group();
  g["properties"].erase("restartPolicy");
  ExpectRefused(g, "InvalidRequestContent", "properties.restartPolicy");
  g = Group();
  g["properties"]["osType"] = "Windows";
  ExpectRefused(g, "UnsupportedFeature", "properties.osType");
  g = Group();
  g["properties"]["containers"].push_back(g["properties"]["containers"][0]);
  ExpectRefused(g, "UnsupportedFeature", "properties.containers");
  g = Group();
  g["properties"]["volumes"] = json::array({{{"name", "v"}, {"emptyDir", json::object()}}});
  ExpectRefused(g, "UnsupportedFeature", "properties.volumes");
  g = Group();
  g["properties"]["ipAddress"] = {{"type", "Public"}, {"ports", {{{"port", 80}}}}};
  ExpectRefused(g, "UnsupportedFeature", "properties.ipAddress");
  g = Group();
  g["properties"]["containers"][0]["properties"]["ports"] = {{{"port", 80}}};
  ExpectRefused(g, "UnsupportedFeature", "properties.containers[0].properties.ports");
  g = Group();
  g["properties"]["containers"][0]["properties"]["resources"]["requests"]["gpu"] = {{"count", 1},
                                                                                    {"sku", "K80"}};
  ExpectRefused(g, "UnsupportedFeature", "gpu");
  g = Group();
  g["properties"]["imageRegistryCredentials"] = {{{"server", "r"}, {"username", "u"}}};
  ExpectRefused(g, "UnsupportedFeature", "imageRegistryCredentials");
  g = Group();
  g["properties"]["somethingNew"] = 1;
  ExpectRefused(g, "UnsupportedFeature", "properties.somethingNew");
  g = Group();
  g["identity"] = {{"type", "SystemAssigned"}};
  ExpectRefused(g, "UnsupportedFeature", "identity");
}

TEST(ParseContainerGroupTest, MalformedContentIsRefusedByName) {
  auto parsed = ParseContainerGroup("{not json", kRef, "local");
  ASSERT_TRUE(std::holds_alternative<ArmError>(parsed));
  EXPECT_EQ(std::get<ArmError>(parsed).code, "InvalidRequestContent");
  json g = Group();
  g["properties"]["containers"][0]["properties"].erase("image");
  ExpectRefused(g, "InvalidRequestContent", "image");
  g = Group();
  g["properties"]["containers"][0]["properties"]["image"] = "UPPER/Case";
  ExpectRefused(g, "InvalidRequestContent", "image");
  g = Group();
  g["properties"]["containers"][0]["properties"]["resources"]["requests"].erase("cpu");
  ExpectRefused(g, "InvalidRequestContent", "requests");
  g = Group();
  g["properties"]["containers"][0]["properties"]["resources"]["limits"]["cpu"] = 0.25;
  ExpectRefused(g, "InvalidRequestContent", "limits");
  g = Group();
  g["properties"]["containers"][0]["properties"]["environmentVariables"][1]["value"] = "x";
  ExpectRefused(g, "InvalidRequestContent", "environmentVariables[1]");
  g = Group();
  g["properties"]["containers"][0]["properties"]["environmentVariables"][1]["name"] = "PLAIN";
  ExpectRefused(g, "InvalidRequestContent", "environmentVariables[1].name");
  g = Group();
  g["properties"]["containers"][0]["properties"]["environmentVariables"][0]["name"] = "1X";
  ExpectRefused(g, "InvalidRequestContent", "environmentVariables[0].name");
  g = Group();
  g["properties"]["containers"][0]["name"] = "Main";
  ExpectRefused(g, "InvalidContainerGroupName", "containers[0].name");
  g = Group();
  g["properties"]["containers"][0]["properties"]["command"] = "echo hi";
  ExpectRefused(g, "InvalidRequestContent", "command");
}

TEST(ContainerGroupToJsonTest, AQueuedGroupIsPendingAndHidesSecrets) {
  json g = ContainerGroupToJson(Job(JobState::kQueued));
  EXPECT_EQ(g["id"], kRef.ResourceId());
  EXPECT_EQ(g["name"], "job-1");
  EXPECT_EQ(g["type"], "Microsoft.ContainerInstance/containerGroups");
  EXPECT_EQ(g["location"], "westeurope");
  EXPECT_EQ(g["tags"]["team"], "data");
  EXPECT_EQ(g["properties"]["provisioningState"], "Pending");
  EXPECT_EQ(g["properties"]["instanceView"]["state"], "Pending");
  const json& c = g["properties"]["containers"][0];
  EXPECT_EQ(c["name"], "main");
  EXPECT_EQ(c["properties"]["resources"]["requests"]["cpu"], 0.5);
  EXPECT_EQ(c["properties"]["instanceView"]["currentState"]["state"], "Waiting");
  EXPECT_EQ(c["properties"]["instanceView"]["restartCount"], 0);
  EXPECT_THAT(g.dump(), ::testing::Not(HasSubstr("s3cret")));
  EXPECT_THAT(c["properties"]["environmentVariables"].dump(), HasSubstr("SECRET"));
}

TEST(ContainerGroupToJsonTest, AFailedRunShowsItsExitCodeAndTimes) {
  JobRecord job = Job(JobState::kFailed);
  job.exit_code = 3;
  job.reason = "Error in /data/dir/x";
  job.started_at = FromUnixMillis(1'700'000'001'000);
  job.finished_at = FromUnixMillis(1'700'000'002'000);
  job.history = {{1, 3, "Error", job.started_at, job.finished_at}};
  json g = ContainerGroupToJson(job, {"/data/dir"});
  EXPECT_EQ(g["properties"]["provisioningState"], "Succeeded");
  EXPECT_EQ(g["properties"]["instanceView"]["state"], "Failed");
  const json& view = g["properties"]["containers"][0]["properties"]["instanceView"];
  EXPECT_EQ(view["currentState"]["state"], "Terminated");
  EXPECT_EQ(view["currentState"]["exitCode"], 3);
  EXPECT_EQ(view["currentState"]["startTime"], "2023-11-14T22:13:21.000Z");
  EXPECT_EQ(view["currentState"]["finishTime"], "2023-11-14T22:13:22.000Z");
  EXPECT_EQ(view["currentState"]["detailStatus"], "Error in <data>/x");
  EXPECT_EQ(view["restartCount"], 0);
  EXPECT_FALSE(view.contains("previousState"));
  EXPECT_EQ(view["events"].size(), 1u);
  EXPECT_EQ(OperationStatusJson(job)["status"], "Succeeded");
}

TEST(ContainerGroupToJsonTest, ARetriedRunShowsRestartCountAndPreviousState) {
  JobRecord job = Job(JobState::kRunning);
  job.spec.restart_policy = RestartPolicy::kOnFailure;
  job.started_at = FromUnixMillis(1'700'000'005'000);
  job.history = {
      {1, 1, "Error", FromUnixMillis(1'700'000'001'000), FromUnixMillis(1'700'000'002'000)}};
  json view =
      ContainerGroupToJson(job)["properties"]["containers"][0]["properties"]["instanceView"];
  EXPECT_EQ(view["restartCount"], 1);
  EXPECT_EQ(view["currentState"]["state"], "Running");
  EXPECT_EQ(view["previousState"]["exitCode"], 1);
  EXPECT_EQ(view["events"].size(), 2u);
}

TEST(ContainerGroupToJsonTest, StatesMapToInstanceViewAndOperationStatus) {
  EXPECT_EQ(GroupState(Job(JobState::kPending)), "Pending");
  EXPECT_EQ(ProvisioningState(Job(JobState::kPending)), "Creating");
  EXPECT_EQ(GroupState(Job(JobState::kRunning)), "Running");
  EXPECT_EQ(GroupState(Job(JobState::kSucceeded)), "Succeeded");
  EXPECT_EQ(GroupState(Job(JobState::kCanceled)), "Stopped");
  EXPECT_EQ(OperationStatusJson(Job(JobState::kQueued))["status"], "InProgress");
  EXPECT_EQ(OperationStatusJson(Job(JobState::kRunning))["status"], "Succeeded");
  JobRecord never_ran = Job(JobState::kFailed);
  never_ran.reason = "image not found: nosuch";
  EXPECT_EQ(ProvisioningState(never_ran), "Failed");
  json op = OperationStatusJson(never_ran);
  EXPECT_EQ(op["status"], "Failed");
  EXPECT_THAT(op["error"]["message"].get<std::string>(), HasSubstr("image not found"));
}

TEST(SameGroupSpecTest, IgnoresTheIdsCaseButNotTheSpec) {
  JobSpec a = Parse(Group());
  auto other_case = ParseContainerGroup(Group().dump(), {"SUB-1", "my-rg", "job-1"}, "local");
  ASSERT_TRUE(std::holds_alternative<JobSpec>(other_case));
  EXPECT_TRUE(SameGroupSpec(a, std::get<JobSpec>(other_case)));
  json g = Group();
  g["properties"]["containers"][0]["properties"]["image"] = "alpine";
  EXPECT_FALSE(SameGroupSpec(a, Parse(g)));
}

}  // namespace
}  // namespace berth
