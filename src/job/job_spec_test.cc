#include "job/job_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace berth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Parses `json`, expecting an InvalidArgument whose message names `field`.
void ExpectRejected(const std::string& json, const std::string& field) {
  Result<JobSpec> spec = ParseJobSpec(json);
  ASSERT_FALSE(spec.ok()) << "accepted: " << json;
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument) << json;
  EXPECT_THAT(spec.status().message(), HasSubstr(field)) << json;
}

TEST(ParseJobSpecTest, FullValidSpec) {
  Result<JobSpec> spec = ParseJobSpec(R"({
    "image": "ghcr.io/org/app:1.2",
    "command": ["/app", "--flag", "x y"],
    "environmentVariables": {"MODE": "batch", "_UNDER": "", "lower9": "v"},
    "secureEnvironmentVariables": {"TOKEN": "s3cret"},
    "cpu": 1.5,
    "memoryInGB": 2.25,
    "restartPolicy": "OnFailure",
    "timeoutSeconds": 600
  })");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->image, "ghcr.io/org/app:1.2");
  EXPECT_THAT(spec->command, ElementsAre("/app", "--flag", "x y"));
  EXPECT_EQ(spec->env, (std::map<std::string, std::string>{
                           {"MODE", "batch"}, {"_UNDER", ""}, {"lower9", "v"}}));
  EXPECT_EQ(spec->secure_env, (std::map<std::string, std::string>{{"TOKEN", "s3cret"}}));
  EXPECT_DOUBLE_EQ(spec->cpu, 1.5);
  EXPECT_DOUBLE_EQ(spec->memory_gb, 2.25);
  EXPECT_EQ(spec->restart_policy, RestartPolicy::kOnFailure);
  EXPECT_EQ(spec->timeout_seconds, 600);
}

TEST(ParseJobSpecTest, MinimalSpecHasDefaults) {
  Result<JobSpec> spec = ParseJobSpec(R"({"image": "busybox"})");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->image, "busybox");
  EXPECT_TRUE(spec->command.empty());
  EXPECT_TRUE(spec->env.empty());
  EXPECT_TRUE(spec->secure_env.empty());
  EXPECT_EQ(spec->cpu, 0);
  EXPECT_EQ(spec->memory_gb, 0);
  EXPECT_EQ(spec->restart_policy, RestartPolicy::kNever);
  EXPECT_EQ(spec->timeout_seconds, 0);
}

TEST(ParseJobSpecTest, StringCommandRunsThroughShell) {
  Result<JobSpec> spec = ParseJobSpec(R"({"image": "busybox", "command": "echo hi && exit 3"})");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_THAT(spec->command, ElementsAre("/bin/sh", "-c", "echo hi && exit 3"));
}

TEST(ParseJobSpecTest, ArrayCommandIsKeptAsIs) {
  Result<JobSpec> spec = ParseJobSpec(R"({"image": "busybox", "command": ["echo", "a", "b"]})");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_THAT(spec->command, ElementsAre("echo", "a", "b"));
}

TEST(ParseJobSpecTest, MissingImageIsRejected) {
  ExpectRejected(R"({"command": "true"})", "image");
  ExpectRejected(R"({})", "image");
}

TEST(ParseJobSpecTest, EmptyImageIsRejected) { ExpectRejected(R"({"image": ""})", "image"); }

TEST(ParseJobSpecTest, UnknownFieldIsNamed) {
  ExpectRejected(R"({"image": "busybox", "gpuCount": 1})", "gpuCount");
  Result<JobSpec> spec = ParseJobSpec(R"({"image": "busybox", "gpuCount": 1})");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(spec.status().message(), HasSubstr("unknown"));
}

struct WrongType {
  std::string field;
  std::string value;  // JSON text of a value of the wrong type
};

class WrongTypeTest : public ::testing::TestWithParam<WrongType> {};

TEST_P(WrongTypeTest, IsRejectedNamingTheField) {
  const WrongType& c = GetParam();
  std::string json = c.field == "image"
                         ? R"({"image": )" + c.value + "}"
                         : R"({"image": "busybox", ")" + c.field + R"(": )" + c.value + "}";
  ExpectRejected(json, c.field);
}

INSTANTIATE_TEST_SUITE_P(
    Fields, WrongTypeTest,
    ::testing::Values(WrongType{"image", "42"}, WrongType{"image", "[\"busybox\"]"},
                      WrongType{"image", "null"}, WrongType{"command", "42"},
                      WrongType{"command", "{\"a\": \"b\"}"}, WrongType{"command", "[\"ok\", 1]"},
                      WrongType{"command", "true"}, WrongType{"environmentVariables", "[]"},
                      WrongType{"environmentVariables", "\"A=1\""},
                      WrongType{"environmentVariables", "{\"A\": 1}"},
                      WrongType{"secureEnvironmentVariables", "[\"A\"]"},
                      WrongType{"secureEnvironmentVariables", "{\"A\": null}"},
                      WrongType{"cpu", "\"1\""}, WrongType{"cpu", "true"},
                      WrongType{"memoryInGB", "\"2\""}, WrongType{"memoryInGB", "null"},
                      WrongType{"restartPolicy", "1"}, WrongType{"restartPolicy", "true"},
                      WrongType{"timeoutSeconds", "\"60\""}, WrongType{"timeoutSeconds", "1.5"},
                      WrongType{"timeoutSeconds", "false"}),
    [](const ::testing::TestParamInfo<WrongType>& info) {
      return info.param.field + "_" + std::to_string(info.index);
    });

struct OutOfRange {
  std::string field;
  std::string value;
};

class OutOfRangeTest : public ::testing::TestWithParam<OutOfRange> {};

TEST_P(OutOfRangeTest, IsRejectedNamingTheField) {
  ExpectRejected(R"({"image": "busybox", ")" + GetParam().field + R"(": )" + GetParam().value + "}",
                 GetParam().field);
}

INSTANTIATE_TEST_SUITE_P(Limits, OutOfRangeTest,
                         ::testing::Values(OutOfRange{"cpu", "-1"}, OutOfRange{"cpu", "-0.001"},
                                           OutOfRange{"cpu", "1025"}, OutOfRange{"cpu", "1e308"},
                                           OutOfRange{"memoryInGB", "-2"},
                                           OutOfRange{"memoryInGB", "16385"},
                                           OutOfRange{"memoryInGB", "1e308"},
                                           OutOfRange{"timeoutSeconds", "-1"},
                                           OutOfRange{"timeoutSeconds", "31536001"},
                                           OutOfRange{"timeoutSeconds", "18446744073709551615"},
                                           OutOfRange{"timeoutSeconds", "-9223372036854775808"}),
                         [](const ::testing::TestParamInfo<OutOfRange>& info) {
                           return info.param.field + "_" + std::to_string(info.index);
                         });

TEST(ParseJobSpecTest, LimitsAtTheBoundaryAreAccepted) {
  Result<JobSpec> spec = ParseJobSpec(
      R"({"image": "busybox", "cpu": 1024, "memoryInGB": 16384, "timeoutSeconds": 31536000})");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->cpu, 1024);
  EXPECT_EQ(spec->memory_gb, 16384);
  EXPECT_EQ(spec->timeout_seconds, 31536000);
}

TEST(ParseJobSpecTest, NonFiniteNumbersAreRejected) {
  // JSON has no NaN or Infinity; such text, or a number that overflows a double, must not
  // become a limit.
  for (const char* value : {"NaN", "Infinity", "-Infinity", "1e400", "-1e400"}) {
    for (const char* field : {"cpu", "memoryInGB", "timeoutSeconds"}) {
      std::string json = std::string(R"({"image": "busybox", ")") + field + R"(": )" + value + "}";
      Result<JobSpec> spec = ParseJobSpec(json);
      EXPECT_FALSE(spec.ok()) << json;
      if (!spec.ok()) {
        EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument) << json;
      }
    }
  }
}

class BadEnvNameTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BadEnvNameTest, IsRejectedInBothEnvFields) {
  for (const char* field : {"environmentVariables", "secureEnvironmentVariables"}) {
    nlohmann::json j = {{"image", "busybox"}, {field, {{GetParam(), "v"}}}};
    ExpectRejected(j.dump(), field);
  }
}

INSTANTIATE_TEST_SUITE_P(Names, BadEnvNameTest,
                         ::testing::Values("1A", "A-B", "", "A=B", "A B", "9", "É"));

TEST(ParseJobSpecTest, RestartPolicyValues) {
  Result<JobSpec> never = ParseJobSpec(R"({"image": "busybox", "restartPolicy": "Never"})");
  ASSERT_TRUE(never.ok()) << never.status().ToString();
  EXPECT_EQ(never->restart_policy, RestartPolicy::kNever);

  Result<JobSpec> on_failure =
      ParseJobSpec(R"({"image": "busybox", "restartPolicy": "OnFailure"})");
  ASSERT_TRUE(on_failure.ok()) << on_failure.status().ToString();
  EXPECT_EQ(on_failure->restart_policy, RestartPolicy::kOnFailure);

  ExpectRejected(R"({"image": "busybox", "restartPolicy": "Always"})", "restartPolicy");
  ExpectRejected(R"({"image": "busybox", "restartPolicy": "never"})", "restartPolicy");
  ExpectRejected(R"({"image": "busybox", "restartPolicy": ""})", "restartPolicy");
}

TEST(ParseJobSpecTest, RestartPolicyToString) {
  EXPECT_EQ(ToString(RestartPolicy::kNever), "Never");
  EXPECT_EQ(ToString(RestartPolicy::kOnFailure), "OnFailure");
}

TEST(ParseJobSpecTest, NonObjectJsonIsRejected) {
  for (const char* json : {"[]", R"(["busybox"])", R"("busybox")", "42", "null", "true"}) {
    Result<JobSpec> spec = ParseJobSpec(json);
    ASSERT_FALSE(spec.ok()) << json;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(spec.status().message(), HasSubstr("object")) << json;
  }
}

TEST(ParseJobSpecTest, MalformedJsonIsRejected) {
  for (const char* json : {"", "{", R"({"image": "busybox",})", "{image: busybox}",
                           R"({"image": "busybox"} trailing)"}) {
    Result<JobSpec> spec = ParseJobSpec(json);
    ASSERT_FALSE(spec.ok()) << json;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(spec.status().message(), StartsWith("malformed JSON")) << json;
  }
}

JobSpec FullSpec() {
  JobSpec spec;
  spec.image = "registry.example.com/team/tool:2";
  spec.command = {"/bin/tool", "run", "--x=1"};
  spec.env = {{"MODE", "batch"}, {"EMPTY", ""}};
  spec.secure_env = {{"API_TOKEN", "tok-4f9a1c"}, {"DB_PASSWORD", "pw-77e2b0"}};
  spec.cpu = 0.5;
  spec.memory_gb = 1.5;
  spec.restart_policy = RestartPolicy::kOnFailure;
  spec.timeout_seconds = 3600;
  return spec;
}

TEST(JobSpecToJsonTest, RoundTripsWithSecrets) {
  JobSpec spec = FullSpec();
  Result<JobSpec> back = ParseJobSpec(JobSpecToJson(spec, /*include_secrets=*/true));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->image, spec.image);
  EXPECT_EQ(back->command, spec.command);
  EXPECT_EQ(back->env, spec.env);
  EXPECT_EQ(back->secure_env, spec.secure_env);
  EXPECT_DOUBLE_EQ(back->cpu, spec.cpu);
  EXPECT_DOUBLE_EQ(back->memory_gb, spec.memory_gb);
  EXPECT_EQ(back->restart_policy, spec.restart_policy);
  EXPECT_EQ(back->timeout_seconds, spec.timeout_seconds);
}

TEST(JobSpecToJsonTest, MinimalSpecRoundTrips) {
  JobSpec spec;
  spec.image = "busybox";
  Result<JobSpec> back = ParseJobSpec(JobSpecToJson(spec, true));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->image, "busybox");
  EXPECT_TRUE(back->command.empty());
  EXPECT_TRUE(back->env.empty());
  EXPECT_TRUE(back->secure_env.empty());
  EXPECT_EQ(back->cpu, 0);
  EXPECT_EQ(back->memory_gb, 0);
  EXPECT_EQ(back->restart_policy, RestartPolicy::kNever);
  EXPECT_EQ(back->timeout_seconds, 0);
}

TEST(JobSpecToJsonTest, WithoutSecretsOmitsSecureVariables) {
  JobSpec spec = FullSpec();
  std::string text = JobSpecToJson(spec, /*include_secrets=*/false);
  for (const auto& [name, value] : spec.secure_env) {
    EXPECT_THAT(text, ::testing::Not(HasSubstr(value))) << text;
  }
  nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_FALSE(j.contains("secureEnvironmentVariables")) << text;

  // Everything else survives, and the output is still a valid spec.
  Result<JobSpec> back = ParseJobSpec(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->secure_env.empty());
  EXPECT_EQ(back->image, spec.image);
  EXPECT_EQ(back->command, spec.command);
  EXPECT_EQ(back->env, spec.env);
  EXPECT_EQ(back->restart_policy, spec.restart_policy);
  EXPECT_EQ(back->timeout_seconds, spec.timeout_seconds);
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

TEST(ParseJobSpecTest, IsolationFieldsDefaultAndParse) {
  Result<JobSpec> plain = ParseJobSpec(R"({"image": "busybox"})");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->read_only_root_filesystem);
  EXPECT_EQ(plain->network, NetworkMode::kNone);
  Result<JobSpec> spec =
      ParseJobSpec(R"({"image": "busybox", "readOnlyRootFilesystem": true, "network": "host"})");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_TRUE(spec->read_only_root_filesystem);
  EXPECT_EQ(spec->network, NetworkMode::kHost);
  Result<JobSpec> again = ParseJobSpec(JobSpecToJson(*spec, false));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->read_only_root_filesystem);
  EXPECT_EQ(again->network, NetworkMode::kHost);
}

TEST(ParseJobSpecTest, IsolationFieldsRejectBadValues) {
  ExpectRejected(R"({"image": "busybox", "readOnlyRootFilesystem": "yes"})",
                 "readOnlyRootFilesystem");
  ExpectRejected(R"({"image": "busybox", "readOnlyRootFilesystem": 1})", "readOnlyRootFilesystem");
  ExpectRejected(R"({"image": "busybox", "network": "bridge"})", "network");
  ExpectRejected(R"({"image": "busybox", "network": true})", "network");
}

TEST(ValidateImageReferenceTest, AcceptsTheGrammar) {
  for (const char* ok :
       {"busybox", "busybox:latest", "library/busybox:1.36", "docker.io/library/busybox",
        "ghcr.io/org/app:1.2", "localhost/app", "localhost:5000/a/b-c__d.e:v1_2.3-rc",
        "127.0.0.1:5000/x", "Registry.Example.com/app", "a/b/c/d:tag",
        "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "busybox:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}) {
    EXPECT_TRUE(ValidateImageReference(ok).ok()) << ok;
  }
}

TEST(ValidateImageReferenceTest, RejectsHostileReferences) {
  std::string long_name(256, 'a');
  for (std::string bad : {std::string("../etc/passwd"),
                          std::string("a/../b"),
                          std::string("a//b"),
                          std::string("/busybox"),
                          std::string("busybox/"),
                          std::string("BusyBox"),
                          std::string("org/App"),
                          std::string("busy box"),
                          std::string("busybox\n"),
                          std::string("busy\tbox"),
                          std::string("busybox:"),
                          std::string("busybox:-x"),
                          std::string("busybox:a/b"),
                          std::string("busybox@sha256:abc"),
                          std::string("busybox@"),
                          std::string("busybox@sha256:" + std::string(64, 'G')),
                          std::string(":tag"),
                          std::string("a..b"),
                          std::string("a-"),
                          std::string("_a"),
                          std::string("x:" + long_name),
                          long_name,
                          std::string("host:99999999/app"),
                          std::string("b\xc3\xa9")}) {
    EXPECT_FALSE(ValidateImageReference(bad).ok()) << bad;
    ExpectRejected(nlohmann::json{{"image", bad}}.dump(), "image");
  }
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

// Issue 10: a NUL inside a string would be cut where the runtime turns it into a C string.
TEST(ParseJobSpecTest, NulBytesInArgumentsAndValuesAreRejected) {
  ExpectRejected(R"({"image": "busybox", "command": ["echo", "a\u0000b"]})", "command");
  ExpectRejected(R"({"image": "busybox", "command": "echo a\u0000b"})", "command");
  ExpectRejected(R"({"image": "busybox", "environmentVariables": {"A": "x\u0000y"}})",
                 "environmentVariables.A");
  ExpectRejected(R"({"image": "busybox", "secureEnvironmentVariables": {"S": "\u0000"}})",
                 "secureEnvironmentVariables.S");
  ExpectRejected(R"({"image": "busybox", "environmentVariables": {"A\u0000B": "v"}})",
                 "environmentVariables");
}

TEST(ParseJobSpecTest, DuplicatedKeysAreRejected) {
  ExpectRejected(R"({"image": "busybox", "image": "alpine"})", "image");
  ExpectRejected(R"({"image": "busybox", "command": ["a"], "command": ["b"]})", "command");
  ExpectRejected(R"({"image": "busybox", "environmentVariables": {"A": "1", "A": "2"}})", "A");
  Result<JobSpec> spec = ParseJobSpec(R"({"image": "busybox", "command": ["x"]})");
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  // The same key in two different objects is not a duplicate.
  spec = ParseJobSpec(
      R"({"image": "busybox", "environmentVariables": {"A": "1"},
          "secureEnvironmentVariables": {"A": "2"}})");
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
}

TEST(ParseJobSpecTest, MaxRetriesParsesValidatesAndRoundTrips) {
  Result<JobSpec> plain = ParseJobSpec(R"({"image": "busybox"})");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->max_retries.has_value());
  EXPECT_THAT(JobSpecToJson(*plain, false), ::testing::Not(HasSubstr("maxRetries")));
  for (int n : {0, 2, 10}) {
    Result<JobSpec> spec =
        ParseJobSpec(R"({"image": "busybox", "maxRetries": )" + std::to_string(n) + "}");
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    ASSERT_TRUE(spec->max_retries.has_value());
    EXPECT_EQ(*spec->max_retries, n);
    Result<JobSpec> back = ParseJobSpec(JobSpecToJson(*spec, false));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->max_retries, spec->max_retries);
  }
  ExpectRejected(R"({"image": "busybox", "maxRetries": 11})", "maxRetries");
  ExpectRejected(R"({"image": "busybox", "maxRetries": -1})", "maxRetries");
  ExpectRejected(R"({"image": "busybox", "maxRetries": 1.5})", "maxRetries");
  ExpectRejected(R"({"image": "busybox", "maxRetries": "2"})", "maxRetries");
}

TEST(ParseJobSpecTest, AnnotationsParseValidateAndRoundTrip) {
  Result<JobSpec> spec =
      ParseJobSpec(R"({"image": "busybox", "annotations": {"aci.name": "g1", "aci.tags": "{}"}})");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->annotations.at("aci.name"), "g1");
  Result<JobSpec> back = ParseJobSpec(JobSpecToJson(*spec, false));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->annotations, spec->annotations);
  EXPECT_THAT(JobSpecToJson(*ParseJobSpec(R"({"image": "busybox"})"), true),
              ::testing::Not(HasSubstr("annotations")));
  ExpectRejected(R"({"image": "busybox", "annotations": {"a": 1}})", "annotations.a");
  ExpectRejected(R"({"image": "busybox", "annotations": ["a"]})", "annotations");
  ExpectRejected(R"({"image": "busybox", "annotations": {"": "x"}})", "annotations");
  nlohmann::json many = {{"image", "busybox"}, {"annotations", nlohmann::json::object()}};
  for (int i = 0; i < 33; ++i) many["annotations"]["k" + std::to_string(i)] = "v";
  ExpectRejected(many.dump(), "annotations");
  nlohmann::json big = {{"image", "busybox"}, {"annotations", {{"k", std::string(8193, 'x')}}}};
  ExpectRejected(big.dump(), "annotations.k");
}

}  // namespace
}  // namespace berth
