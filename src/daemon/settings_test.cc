#include "daemon/settings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <initializer_list>
#include <map>
#include <string>

namespace berth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// A settings file in /tmp, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/berth_settings_test_XXXXXX";
    int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    path_ = name;
    size_t off = 0;
    while (fd >= 0 && off < content.size()) {
      ssize_t n = write(fd, content.data() + off, content.size() - off);
      EXPECT_GT(n, 0);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    if (fd >= 0) close(fd);
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A getenv backed by a map.
class FakeEnv {
 public:
  FakeEnv() = default;
  FakeEnv(std::initializer_list<std::pair<const std::string, std::string>> vars) : vars_(vars) {}
  std::function<const char*(const char*)> Getenv() const {
    return [this](const char* name) -> const char* {
      auto it = vars_.find(name);
      return it == vars_.end() ? nullptr : it->second.c_str();
    };
  }

 private:
  std::map<std::string, std::string> vars_;
};

Result<Settings> LoadFromText(const std::string& text, const FakeEnv& env = FakeEnv()) {
  TempFile file(text);
  return LoadSettings(file.path(), env.Getenv());
}

// A settings file whose Values holds `values` (JSON object members, without braces).
std::string WithValues(const std::string& values) {
  return R"({"IsEncrypted": false, "Values": {)" + values + "}}";
}

void ExpectErrorNaming(const Result<Settings>& s, const std::string& name) {
  ASSERT_FALSE(s.ok()) << "expected an error naming " << name;
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr(name));
}

TEST(LoadSettingsTest, DefaultsWithoutFile) {
  FakeEnv env;
  Result<Settings> s = LoadSettings(std::nullopt, env.Getenv());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->job_queue_name, "jobs");
  EXPECT_EQ(s->resource_group_name, "default");
  EXPECT_EQ(s->azure_web_jobs_storage, "");
  EXPECT_EQ(s->function_key, "");
  EXPECT_EQ(s->max_concurrent_jobs, 16);
  EXPECT_EQ(s->max_dequeue_count, 5);
  EXPECT_EQ(s->queue_lease_seconds, 60);
  EXPECT_EQ(s->queue_retry_delay_ms, 0);
  EXPECT_EQ(s->runtime, "crun");
  EXPECT_FALSE(s->status_requires_key);
  EXPECT_EQ(s->job_pids_limit, 1024);
  EXPECT_EQ(s->default_job_image, "busybox");
  EXPECT_TRUE(s->bundled_images_dir.empty());
}

TEST(LoadSettingsTest, DefaultJobIsTheBusyboxLoop) {
  FakeEnv env;
  Result<Settings> s = LoadSettings(std::nullopt, env.Getenv());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  JobSpec job = s->DefaultJob();
  EXPECT_EQ(job.image, "busybox");
  EXPECT_THAT(job.command,
              ElementsAre("/bin/sh", "-c", "for i in $(seq 1 30); do sleep 1; echo $i; done"));
  EXPECT_EQ(job.restart_policy, RestartPolicy::kNever);
  EXPECT_TRUE(job.env.empty());
  EXPECT_TRUE(job.secure_env.empty());
}

TEST(LoadSettingsTest, FileValuesOverrideDefaults) {
  Result<Settings> s = LoadFromText(WithValues(R"(
    "JobQueueName": "work",
    "ResourceGroupName": "batch-rg",
    "FunctionKey": "pinned-key-0123456789",
    "MaxConcurrentJobs": "8",
    "MaxDequeueCount": 7,
    "QueueLeaseSeconds": "120",
    "QueueRetryDelayMs": 250,
    "Runtime": "runc",
    "JobPidsLimit": 0,
    "DefaultJobImage": "alpine:3",
    "BundledImagesDir": "/opt/berth/images",
    "FUNCTIONS_WORKER_RUNTIME": "custom"
  )"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->job_queue_name, "work");
  EXPECT_EQ(s->resource_group_name, "batch-rg");
  EXPECT_EQ(s->function_key, "pinned-key-0123456789");
  EXPECT_EQ(s->max_concurrent_jobs, 8);
  EXPECT_EQ(s->max_dequeue_count, 7);
  EXPECT_EQ(s->queue_lease_seconds, 120);
  EXPECT_EQ(s->queue_retry_delay_ms, 250);
  EXPECT_EQ(s->runtime, "runc");
  EXPECT_EQ(s->job_pids_limit, 0);
  EXPECT_EQ(s->default_job_image, "alpine:3");
  EXPECT_EQ(s->bundled_images_dir, std::filesystem::path("/opt/berth/images"));
  EXPECT_EQ(s->DefaultJob().image, "alpine:3");
}

TEST(LoadSettingsTest, KnownTopLevelKeysAreAccepted) {
  Result<Settings> s = LoadFromText(
      R"({"IsEncrypted": false, "Host": {"LocalHttpPort": 7071}, "ConnectionStrings": {}})");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->max_concurrent_jobs, 16);
}

TEST(LoadSettingsTest, EnvironmentWinsOverFile) {
  FakeEnv env{{"MaxConcurrentJobs", "32"}, {"JobQueueName", "from-env"}};
  Result<Settings> s = LoadFromText(
      WithValues(R"("MaxConcurrentJobs": 8, "JobQueueName": "from-file", "MaxDequeueCount": 9)"),
      env);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->max_concurrent_jobs, 32);
  EXPECT_EQ(s->job_queue_name, "from-env");
  EXPECT_EQ(s->max_dequeue_count, 9);  // not in the environment: the file's value stays
}

TEST(LoadSettingsTest, EnvironmentWithoutFile) {
  FakeEnv env{{"QueueLeaseSeconds", "30"},
              {"StatusRequiresKey", "1"},
              {"DefaultJobCommand", "echo from env"},
              {"UNRELATED", "ignored"}};
  Result<Settings> s = LoadSettings(std::nullopt, env.Getenv());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->queue_lease_seconds, 30);
  EXPECT_TRUE(s->status_requires_key);
  EXPECT_THAT(s->default_job_command, ElementsAre("/bin/sh", "-c", "echo from env"));
}

TEST(LoadSettingsTest, BadEnvironmentValueIsAnErrorNamingIt) {
  FakeEnv env{{"MaxConcurrentJobs", "lots"}};
  ExpectErrorNaming(LoadSettings(std::nullopt, env.Getenv()), "MaxConcurrentJobs");
}

TEST(LoadSettingsTest, UnknownSettingNameIsAnErrorNamingIt) {
  ExpectErrorNaming(LoadFromText(WithValues(R"("MaxConcurentJobs": 4)")), "MaxConcurentJobs");
}

TEST(LoadSettingsTest, UnknownTopLevelKeyIsAnError) {
  ExpectErrorNaming(LoadFromText(R"({"Values": {}, "MaxConcurrentJobs": 4})"), "MaxConcurrentJobs");
}

TEST(LoadSettingsTest, MalformedJsonIsAnError) {
  for (const char* text : {"", "{", R"({"Values": {"JobQueueName": "x",}})", "not json"}) {
    Result<Settings> s = LoadFromText(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(s.status().message(), HasSubstr("malformed JSON")) << text;
  }
}

// The daily experience (issue 13): "malformed JSON" alone left the user searching the file.
TEST(LoadSettingsTest, MalformedJsonNamesLineAndColumn) {
  Result<Settings> s = LoadFromText("{\n  \"Values\": {\n    \"JobQueueName\": \"x\",\n  }\n}\n");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("malformed JSON at line 4, column 3"));
  Result<Settings> t = LoadFromText(R"({"Values": {"MaxRetries": 3 "X": 1}})");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("line 1, column 29"));
  EXPECT_THAT(t.status().message(), Not(HasSubstr("json.exception")));
  Result<Settings> u = LoadFromText("{\"Values\": {\"MaxRetries\": tru}}");
  ASSERT_FALSE(u.ok());
  EXPECT_THAT(u.status().message(), HasSubstr("line 1, column 27"));
}

TEST(LoadSettingsTest, LogFormatIsTextOrJson) {
  EXPECT_EQ(LoadFromText(WithValues("")).value().log_format, "text");
  EXPECT_EQ(LoadFromText(WithValues(R"("LogFormat": "json")")).value().log_format, "json");
  ExpectErrorNaming(LoadFromText(WithValues(R"("LogFormat": "xml")")), "LogFormat");
}

TEST(LoadSettingsTest, TlsNeedsBothCertificateAndKey) {
  Result<Settings> s =
      LoadFromText(WithValues(R"("TlsCertFile": "/etc/c.pem", "TlsKeyFile": "/etc/k.pem")"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->tls_cert_file, "/etc/c.pem");
  EXPECT_EQ(s->tls_key_file, "/etc/k.pem");
  ExpectErrorNaming(LoadFromText(WithValues(R"("TlsCertFile": "/etc/c.pem")")), "TlsKeyFile");
  ExpectErrorNaming(LoadFromText(WithValues(R"("TlsKeyFile": "/etc/k.pem")")), "TlsCertFile");
}

TEST(LoadSettingsTest, ArmListenIsOffByDefaultAndItsTlsNeedsBothFilesOrNeither) {
  Result<Settings> d = LoadFromText(WithValues(""));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->arm_listen, "");
  Result<Settings> s = LoadFromText(WithValues(
      R"("ArmListen": "127.0.0.1:7443", "ArmTlsCertFile": "/c.pem", "ArmTlsKeyFile": "/k.pem")"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->arm_listen, "127.0.0.1:7443");
  EXPECT_EQ(s->arm_tls_cert_file, "/c.pem");
  EXPECT_EQ(s->arm_tls_key_file, "/k.pem");
  ExpectErrorNaming(LoadFromText(WithValues(R"("ArmTlsCertFile": "/c.pem")")), "ArmTlsKeyFile");
  ExpectErrorNaming(LoadFromText(WithValues(R"("ArmTlsKeyFile": "/k.pem")")), "ArmTlsCertFile");
}

// `berth help settings` prints this: generated from the table, so no setting can be missing.
TEST(SettingDefaultsTest, EverySettingBerthUsesIsListedWithItsDefault) {
  auto defaults = SettingDefaults();
  std::map<std::string, std::string> by_name(defaults.begin(), defaults.end());
  for (const std::string& name : SettingNames()) {
    if (name == "FUNCTIONS_WORKER_RUNTIME") continue;  // accepted, not used
    EXPECT_TRUE(by_name.count(name)) << name;
  }
  EXPECT_EQ(by_name["MaxConcurrentJobs"], "16");
  EXPECT_EQ(by_name["JobQueueName"], "\"jobs\"");
  EXPECT_EQ(by_name["StatusRequiresKey"], "false");
  EXPECT_EQ(by_name["JobRetentionHours"], "72.0");
  EXPECT_EQ(by_name["LogFormat"], "\"text\"");
  EXPECT_EQ(by_name["DefaultJobCommand"],
            R"(["/bin/sh","-c","for i in $(seq 1 30); do sleep 1; echo $i; done"])");
  // Each default is what an empty settings file gives: set it back and nothing changes.
  for (const auto& [name, text] : defaults) {
    Result<Settings> s = LoadFromText(WithValues("\"" + name + "\": " + text));
    EXPECT_TRUE(s.ok()) << name << " = " << text << ": " << s.status().ToString();
  }
}

TEST(LoadSettingsTest, NonObjectJsonIsAnError) {
  for (const char* text : {"[]", "42", R"("Values")"}) {
    EXPECT_FALSE(LoadFromText(text).ok()) << text;
  }
  EXPECT_FALSE(LoadFromText(R"({"Values": ["JobQueueName"]})").ok());
}

TEST(LoadSettingsTest, MissingFileIsAnError) {
  FakeEnv env;
  Result<Settings> s =
      LoadSettings(std::filesystem::path("/nonexistent/berth/local.settings.json"), env.Getenv());
  EXPECT_FALSE(s.ok());
}

TEST(LoadSettingsTest, OutOfRangeOrNonNumericMaxConcurrentJobsIsAnError) {
  for (const char* value : {"0", "-1", "100001", R"("0")", R"("100001")", R"("abc")", R"("12abc")",
                            R"("")", "1.5", "true", "null", "[4]"}) {
    SCOPED_TRACE(value);
    ExpectErrorNaming(LoadFromText(WithValues(std::string(R"("MaxConcurrentJobs": )") + value)),
                      "MaxConcurrentJobs");
  }
}

TEST(LoadSettingsTest, MaxConcurrentJobsBoundsAreAccepted) {
  Result<Settings> low = LoadFromText(WithValues(R"("MaxConcurrentJobs": 1)"));
  ASSERT_TRUE(low.ok()) << low.status().ToString();
  EXPECT_EQ(low->max_concurrent_jobs, 1);
  Result<Settings> high = LoadFromText(WithValues(R"("MaxConcurrentJobs": "100000")"));
  ASSERT_TRUE(high.ok()) << high.status().ToString();
  EXPECT_EQ(high->max_concurrent_jobs, 100000);
}

TEST(LoadSettingsTest, RuntimeIsANameOrAnAbsolutePath) {
  for (const char* ok : {"crun", "runc", "youki", "runsc", "/opt/kata/bin/kata-runtime"}) {
    auto s = LoadFromText(WithValues(std::string(R"("Runtime": ")") + ok + "\""));
    ASSERT_TRUE(s.ok()) << ok << ": " << s.status().ToString();
    EXPECT_EQ(s->runtime, ok);
  }
  ExpectErrorNaming(LoadFromText(WithValues(R"("Runtime": "bin/crun")")), "Runtime");
  ExpectErrorNaming(LoadFromText(WithValues(R"("Runtime": "")")), "Runtime");
  FakeEnv env{{"Runtime", "./crun"}};
  ExpectErrorNaming(LoadSettings(std::nullopt, env.Getenv()), "Runtime");
}

// The fault point that killed the daemon for tests was an ordinary production setting; crash
// points now exist only in the test binary (berth-faulty).
TEST(LoadSettingsTest, NoSettingCanCrashTheDaemon) {
  ExpectErrorNaming(LoadFromText(WithValues(R"("TestFaultPoint": "after-start-before-delete")")),
                    "TestFaultPoint");
}

TEST(LoadSettingsTest, WrongTypeForStringSettingIsAnError) {
  ExpectErrorNaming(LoadFromText(WithValues(R"("JobQueueName": 5)")), "JobQueueName");
}

// Issue 12: AzureWebJobsStorage was refused whatever it held; a connection string is now taken,
// and a malformed one is refused with what is wrong (never echoing a key).
TEST(LoadSettingsTest, AzureWebJobsStorageTakesAConnectionString) {
  Result<Settings> dev =
      LoadFromText(WithValues(R"("AzureWebJobsStorage": "UseDevelopmentStorage=true")"));
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ(dev->azure_web_jobs_storage, "UseDevelopmentStorage=true");
  EXPECT_EQ(dev->queue_message_encoding, "base64");
  Result<Settings> bad =
      LoadFromText(WithValues(R"("AzureWebJobsStorage": "DefaultEndpointsProtocol=https")"));
  ExpectErrorNaming(bad, "AzureWebJobsStorage");
  EXPECT_THAT(bad.status().message(), HasSubstr("AccountKey"));
  Result<Settings> key = LoadFromText(
      WithValues(R"("AzureWebJobsStorage": "AccountName=acct1;AccountKey=s3cr3t*notbase64")"));
  ExpectErrorNaming(key, "AzureWebJobsStorage");
  EXPECT_THAT(key.status().message(), ::testing::Not(HasSubstr("s3cr3t")));
}

TEST(LoadSettingsTest, AzureQueueNamesFollowAzuresRules) {
  auto with = [](const std::string& queue) {
    return LoadFromText(WithValues(R"("AzureWebJobsStorage": "UseDevelopmentStorage=true", )"
                                   R"("JobQueueName": ")" +
                                   queue + "\""));
  };
  EXPECT_TRUE(with("jobs").ok());
  EXPECT_TRUE(with("job-queue-2").ok());
  for (const char* bad : {"Jobs", "jo", "-jobs", "jobs-", "job--s", "job_s",
                          "a23456789012345678901234567890123456789012345678901234567"}) {
    ExpectErrorNaming(with(bad), "JobQueueName");
  }
  // Without Azure the embedded queue takes any name, as before.
  EXPECT_TRUE(LoadFromText(WithValues(R"("JobQueueName": "Jobs_Local")")).ok());
}

TEST(LoadSettingsTest, QueueMessageEncoding) {
  Result<Settings> none = LoadFromText(WithValues(R"("QueueMessageEncoding": "none")"));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->queue_message_encoding, "none");
  ExpectErrorNaming(LoadFromText(WithValues(R"("QueueMessageEncoding": "utf8")")),
                    "QueueMessageEncoding");
}

TEST(LoadSettingsTest, DefaultJobCommandAsString) {
  Result<Settings> s = LoadFromText(WithValues(R"("DefaultJobCommand": "echo hi; exit 0")"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_THAT(s->default_job_command, ElementsAre("/bin/sh", "-c", "echo hi; exit 0"));
  EXPECT_THAT(s->DefaultJob().command, ElementsAre("/bin/sh", "-c", "echo hi; exit 0"));
}

TEST(LoadSettingsTest, DefaultJobCommandAsArray) {
  Result<Settings> s = LoadFromText(WithValues(R"("DefaultJobCommand": ["/bin/echo", "a b"])"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_THAT(s->default_job_command, ElementsAre("/bin/echo", "a b"));
  EXPECT_THAT(s->DefaultJob().command, ElementsAre("/bin/echo", "a b"));
}

TEST(LoadSettingsTest, DefaultJobCommandArrayFromEnvironment) {
  FakeEnv env{{"DefaultJobCommand", R"(["/bin/echo", "x"])"}};
  Result<Settings> s = LoadSettings(std::nullopt, env.Getenv());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_THAT(s->default_job_command, ElementsAre("/bin/echo", "x"));
}

TEST(LoadSettingsTest, BadDefaultJobCommandIsAnError) {
  for (const char* value : {R"("")", "[]", "[1]", "42", R"("[not json")"}) {
    SCOPED_TRACE(value);
    ExpectErrorNaming(LoadFromText(WithValues(std::string(R"("DefaultJobCommand": )") + value)),
                      "DefaultJobCommand");
  }
}

TEST(LoadSettingsTest, StatusRequiresKeyValues) {
  Result<Settings> s = LoadFromText(WithValues(R"("StatusRequiresKey": "true")"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->status_requires_key);

  s = LoadFromText(WithValues(R"("StatusRequiresKey": true)"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->status_requires_key);

  s = LoadFromText(WithValues(R"("StatusRequiresKey": "false")"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->status_requires_key);

  ExpectErrorNaming(LoadFromText(WithValues(R"("StatusRequiresKey": "yes")")), "StatusRequiresKey");
}

TEST(LoadSettingsTest, RegistryPolicySettings) {
  Result<Settings> defaults = LoadFromText(WithValues(""));
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  RegistryOptions d = defaults->Registries();
  EXPECT_TRUE(d.allowed.empty());
  EXPECT_EQ(d.max_image_bytes, int64_t{16} << 30);
  EXPECT_EQ(d.pull_timeout, std::chrono::seconds(1800));
  Result<Settings> s = LoadFromText(WithValues(R"(
    "AllowedRegistries": "ghcr.io, 127.0.0.1:5000",
    "ImagePullMaxBytes": "1048576",
    "ImagePullTimeoutSeconds": 60
  )"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  RegistryOptions r = s->Registries();
  EXPECT_EQ(r.allowed, (std::vector<std::string>{"ghcr.io", "127.0.0.1:5000"}));
  EXPECT_EQ(r.max_image_bytes, 1048576);
  EXPECT_EQ(r.pull_timeout, std::chrono::seconds(60));
  EXPECT_FALSE(LoadFromText(WithValues(R"("ImagePullTimeoutSeconds": 0)")).ok());
  EXPECT_FALSE(LoadFromText(WithValues(R"("ImagePullMaxBytes": 1000)")).ok());
}

TEST(SettingNamesTest, ListsEverySetting) {
  const std::vector<std::string>& names = SettingNames();
  for (const char* name :
       {"JobQueueName", "ResourceGroupName", "AzureWebJobsStorage", "StoreConnection",
        "FunctionKey", "MaxConcurrentJobs", "MaxDequeueCount", "QueueLeaseSeconds",
        "QueueRetryDelayMs", "Runtime", "StatusRequiresKey", "JobPidsLimit", "DefaultJobImage",
        "DefaultJobCommand", "BundledImagesDir"}) {
    EXPECT_THAT(names, ::testing::Contains(name));
  }
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

// Issue 10: a pinned key of one character was accepted.
TEST(LoadSettingsTest, ShortPinnedFunctionKeyIsRefused) {
  Result<Settings> s = LoadFromText(WithValues(R"("FunctionKey": "k")"));
  ExpectErrorNaming(s, "FunctionKey");
  EXPECT_THAT(s.status().message(), HasSubstr("at least 16"));
  ExpectErrorNaming(LoadFromText(WithValues(R"("FunctionKey": "fifteen-chars-x")")), "FunctionKey");
  FakeEnv env{{"FunctionKey", "short"}};
  ExpectErrorNaming(LoadSettings(std::nullopt, env.Getenv()), "FunctionKey");
  Result<Settings> ok = LoadFromText(WithValues(R"("FunctionKey": "sixteen-chars-xy")"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->function_key, "sixteen-chars-xy");
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

// Issue 10: default caps and the seccomp switch are settings with documented defaults.
TEST(LoadSettingsTest, HardeningDefaultsAndOverrides) {
  Result<Settings> s = LoadSettings(std::nullopt, FakeEnv().Getenv());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_DOUBLE_EQ(s->default_job_memory_gb, 2);
  EXPECT_EQ(s->job_tmp_size_bytes, int64_t{256} << 20);
  EXPECT_FALSE(s->allow_no_seccomp);
  EXPECT_EQ(s->job_pids_limit, 1024);
  FakeEnv env{{"AllowNoSeccomp", "true"}, {"JobTmpSizeBytes", "1048576"}};
  Result<Settings> o = LoadSettings(std::nullopt, env.Getenv());
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_TRUE(o->allow_no_seccomp);
  EXPECT_EQ(o->job_tmp_size_bytes, 1 << 20);
  ExpectErrorNaming(LoadFromText(WithValues(R"("JobTmpSizeBytes": -1)")), "JobTmpSizeBytes");
  EXPECT_THAT(SettingNames(), ::testing::Contains("AllowNoSeccomp"));
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

TEST(LoadSettingsTest, StoreConnectionIsEmptyAPostgresUriOrAConninfoString) {
  Result<Settings> def = LoadFromText(WithValues(""));
  ASSERT_TRUE(def.ok()) << def.status().ToString();
  EXPECT_EQ(def->store_connection, "") << "SQLite in the data dir by default";
  for (const char* ok : {"postgresql://berth@db:5432/berth", "postgres://db/berth",
                         "host=/run/postgresql dbname=berth"}) {
    Result<Settings> s =
        LoadFromText(WithValues(std::string(R"("StoreConnection": ")") + ok + "\""));
    ASSERT_TRUE(s.ok()) << ok << ": " << s.status().ToString();
    EXPECT_EQ(s->store_connection, ok);
  }
  ExpectErrorNaming(LoadFromText(WithValues(R"("StoreConnection": "mysql://db")")),
                    "StoreConnection");
  FakeEnv env{{"StoreConnection", "postgresql://env@db/berth"}};
  Result<Settings> from_env = LoadSettings(std::nullopt, env.Getenv());
  ASSERT_TRUE(from_env.ok()) << from_env.status().ToString();
  EXPECT_EQ(from_env->store_connection, "postgresql://env@db/berth");
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

// Issue 11: roles, node ids and the node lease.
TEST(LoadSettingsTest, RoleNodeIdAndNodeLeaseDefaults) {
  Result<Settings> s = LoadSettings(std::nullopt, FakeEnv().Getenv());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->role, "all");
  EXPECT_EQ(s->node_id, "");
  EXPECT_EQ(s->node_lease_seconds, 30);
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  EXPECT_EQ(EffectiveNodeId(*s), std::string(host)) << "the host name by default";
  Settings pinned;
  pinned.node_id = "worker-3";
  EXPECT_EQ(EffectiveNodeId(pinned), "worker-3");
  EXPECT_THAT(SettingNames(), ::testing::IsSupersetOf({"Role", "NodeId", "NodeLeaseSeconds"}));
}

TEST(LoadSettingsTest, ApiAndWorkerRolesNeedAPostgresStore) {
  for (const char* role : {"api", "worker"}) {
    Result<Settings> sqlite = LoadFromText(WithValues(std::string(R"("Role": ")") + role + "\""));
    ExpectErrorNaming(sqlite, "Role");
    EXPECT_THAT(sqlite.status().message(), HasSubstr("StoreConnection"));
    Result<Settings> pg = LoadFromText(WithValues(std::string(R"("Role": ")") + role +
                                                  R"(", "StoreConnection": "postgresql://db/b")"));
    ASSERT_TRUE(pg.ok()) << pg.status().ToString();
    EXPECT_EQ(pg->role, role);
  }
  ExpectErrorNaming(LoadFromText(WithValues(R"("Role": "both")")), "Role");
  // `berth serve --role` overrides the setting and is checked the same way.
  Settings s;
  s.role = "worker";
  EXPECT_EQ(ValidateRole(s).code(), StatusCode::kInvalidArgument);
  s.store_connection = "postgresql://db/berth";
  EXPECT_TRUE(ValidateRole(s).ok());
  s.role = "all";
  s.store_connection.clear();
  EXPECT_TRUE(ValidateRole(s).ok());
}

TEST(LoadSettingsTest, NodeIdAndNodeLeaseAreChecked) {
  FakeEnv env{{"NodeId", "w-1.rack_2"}, {"NodeLeaseSeconds", "5"}};
  Result<Settings> s = LoadSettings(std::nullopt, env.Getenv());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->node_id, "w-1.rack_2");
  EXPECT_EQ(s->node_lease_seconds, 5);
  for (const char* bad : {"has space", "slash/no", "x\\u00e9", "'quote'"}) {
    ExpectErrorNaming(LoadFromText(WithValues(std::string(R"("NodeId": ")") + bad + "\"")),
                      "NodeId");
  }
  ExpectErrorNaming(LoadFromText(WithValues(R"("NodeId": ")" + std::string(65, 'a') + "\"")),
                    "NodeId");
  ASSERT_TRUE(LoadFromText(WithValues(R"("NodeId": ")" + std::string(64, 'a') + "\"")).ok());
  ExpectErrorNaming(LoadFromText(WithValues(R"("NodeLeaseSeconds": 1)")), "NodeLeaseSeconds");
}

TEST(LoadSettingsTest, StorePoolSizeDefaultsToEightAndIsBounded) {
  Result<Settings> plain = LoadSettings(std::nullopt, FakeEnv{}.Getenv());
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->store_pool_size, 8);
  FakeEnv env{{"StorePoolSize", "3"}};
  Result<Settings> s = LoadSettings(std::nullopt, env.Getenv());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->store_pool_size, 3);
  ExpectErrorNaming(LoadFromText(WithValues(R"("StorePoolSize": 0)")), "StorePoolSize");
  ExpectErrorNaming(LoadFromText(WithValues(R"("StorePoolSize": 65)")), "StorePoolSize");
}

}  // namespace
}  // namespace berth
