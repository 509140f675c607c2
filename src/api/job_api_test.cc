#include "api/job_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/fake_job_service.h"
#include "api/http_types.h"
#include "api/keys.h"
#include "api/router.h"
#include "common/random.h"
#include "job/job_service.h"

namespace berth {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kKey[] = "key-0123456789";
constexpr char kOtherKey[] = "second-key";
constexpr int64_t kCreatedMs = 1'700'000'000'000;  // 2023-11-14T22:13:20Z
constexpr char kCreatedText[] = "2023-11-14T22:13:20.000Z";
constexpr char kFinishedText[] = "2023-11-14T22:13:25.250Z";

// The whole body of `r`: its `body`, or every chunk of its stream (the fake answers at once).
std::string Drain(const HttpResponse& r, size_t* largest_chunk = nullptr) {
  if (!r.stream) return r.body;
  std::string out;
  bool done = false;
  for (int calls = 0; !done && calls < 100000; ++calls) {
    bool answered = false;
    r.stream([&](std::string chunk, bool last) {
      answered = true;
      if (largest_chunk != nullptr) *largest_chunk = std::max(*largest_chunk, chunk.size());
      out += chunk;
      done = last;
    });
    if (!answered) break;
  }
  EXPECT_TRUE(done) << "the stream did not end";
  return out;
}

std::optional<std::string> FindHeader(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

class JobApiTest : public ::testing::Test {
 protected:
  JobApiTest() { Build(false); }

  void Build(bool status_requires_key) {
    JobApiOptions opts;
    opts.keys = MemoryKeyStore::WithHostKeys({kKey, kOtherKey});
    opts.status_requires_key = status_requires_key;
    opts.default_job.image = "busybox";
    opts.default_job.command = {"/bin/sh", "-c", "echo default"};
    api_.emplace(jobs_, std::move(opts));
    router_ = Router();
    api_->Register(router_);
  }

  // A request for `target` (path and query, as on the request line), parsed like the server.
  static HttpRequest Request(const std::string& method, const std::string& target,
                             std::string body = "") {
    HttpRequest req;
    req.method = method;
    EXPECT_TRUE(ParseTarget(target, req.path, req.query)) << target;
    req.body = std::move(body);
    return req;
  }

  // Routes `req` and returns the one response it got.
  HttpResponse Call(const HttpRequest& req) {
    int calls = 0;
    HttpResponse got;
    router_.Handle(req, [&](HttpResponse r) {
      ++calls;
      got = std::move(r);
    });
    EXPECT_EQ(calls, 1) << req.method << " " << req.path;
    return got;
  }

  HttpResponse Call(const std::string& method, const std::string& target, std::string body = "") {
    return Call(Request(method, target, std::move(body)));
  }

  // Submits through the API with a valid key and returns the new id.
  std::string SubmitOk(const std::string& body = "") {
    HttpRequest req = Request("POST", "/api/jobs", body);
    req.headers["x-functions-key"] = kKey;
    HttpResponse r = Call(req);
    EXPECT_EQ(r.status, 202) << r.body;
    return json::parse(r.body).value("id", "");
  }

  JobRecord Job(JobState state) {
    JobRecord rec;
    rec.id = NewUuidV4();
    rec.spec.image = "ghcr.io/org/app:1";
    rec.state = state;
    rec.created_at = FromUnixMillis(kCreatedMs);
    rec.attempts = 1;
    return rec;
  }

  FakeJobService jobs_;
  std::optional<JobApi> api_;
  Router router_;
};

void ExpectJsonError(const HttpResponse& r, int status) {
  EXPECT_EQ(r.status, status);
  EXPECT_EQ(r.content_type, "application/json");
  json body = json::parse(r.body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << r.body;
  ASSERT_TRUE(body.contains("error")) << r.body;
  EXPECT_EQ(body["error"].value("code", 0), status) << r.body;
  EXPECT_TRUE(body["error"]["message"].is_string()) << r.body;
  EXPECT_FALSE(body["error"]["message"].get<std::string>().empty()) << r.body;
}

// ---- POST /api/jobs ----

TEST_F(JobApiTest, PostWithoutKeyIs401) {
  HttpResponse r = Call("POST", "/api/jobs", R"({"image": "busybox"})");
  ExpectJsonError(r, 401);
  EXPECT_TRUE(jobs_.submitted().empty());
}

TEST_F(JobApiTest, PostWithWrongKeyIs401) {
  HttpRequest req = Request("POST", "/api/jobs");
  req.headers["x-functions-key"] = "key-012345678";  // a prefix of the real key
  ExpectJsonError(Call(req), 401);
  ExpectJsonError(Call("POST", "/api/jobs?code=wrong"), 401);
  ExpectJsonError(Call("POST", "/api/jobs?code="), 401);
  EXPECT_TRUE(jobs_.submitted().empty());
}

TEST_F(JobApiTest, PostWithKeyHeaderIsAccepted) {
  HttpRequest req = Request("POST", "/api/jobs");
  req.headers["x-functions-key"] = kKey;
  req.headers["host"] = "jobs.example.com:7071";
  HttpResponse r = Call(req);
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.content_type, "application/json");

  json body = json::parse(r.body);
  std::string id = body.value("id", "");
  EXPECT_TRUE(IsCanonicalUuid(id)) << r.body;
  EXPECT_TRUE(jobs_.jobs().contains(id));
  EXPECT_EQ(FindHeader(r, "Location"), "/api/jobs/" + id);
  EXPECT_EQ(FindHeader(r, "Retry-After"), "1");
  EXPECT_EQ(body.value("statusUrl", ""), "http://jobs.example.com:7071/api/jobs/" + id);
}

TEST_F(JobApiTest, PostWithCodeQueryIsAccepted) {
  HttpRequest req = Request("POST", "/api/jobs?code=" + std::string(kKey));
  req.headers["host"] = "127.0.0.1:7071";
  HttpResponse r = Call(req);
  ASSERT_EQ(r.status, 202) << r.body;
  json body = json::parse(r.body);
  std::string id = body.value("id", "");
  EXPECT_TRUE(IsCanonicalUuid(id)) << r.body;
  EXPECT_EQ(FindHeader(r, "Location"), "/api/jobs/" + id);
  EXPECT_EQ(FindHeader(r, "Retry-After"), "1");
  EXPECT_EQ(body.value("statusUrl", ""), "http://127.0.0.1:7071/api/jobs/" + id);
}

TEST_F(JobApiTest, AnyConfiguredKeyIsAccepted) {
  HttpResponse r = Call("POST", "/api/jobs?code=" + std::string(kOtherKey));
  EXPECT_EQ(r.status, 202) << r.body;
}

TEST_F(JobApiTest, StatusUrlWithoutHostIsThePath) {
  HttpResponse r = Call("POST", "/api/jobs?code=" + std::string(kKey));
  ASSERT_EQ(r.status, 202) << r.body;
  json body = json::parse(r.body);
  EXPECT_EQ(body.value("statusUrl", ""), "/api/jobs/" + body.value("id", ""));
}

TEST_F(JobApiTest, EmptyBodyRunsTheDefaultJob) {
  for (const std::string body : {"", "   ", " \r\n\t\n"}) {
    SubmitOk(body);
  }
  ASSERT_EQ(jobs_.submitted().size(), 3u);
  for (const JobSpec& spec : jobs_.submitted()) {
    EXPECT_EQ(spec.image, "busybox");
    EXPECT_THAT(spec.command, ElementsAre("/bin/sh", "-c", "echo default"));
  }
}

TEST_F(JobApiTest, JsonBodyIsTheSpec) {
  std::string id = SubmitOk(R"({"image": "alpine:3", "command": ["echo", "hi"], "cpu": 0.25})");
  ASSERT_EQ(jobs_.submitted().size(), 1u);
  const JobSpec& spec = jobs_.submitted()[0];
  EXPECT_EQ(spec.image, "alpine:3");
  EXPECT_THAT(spec.command, ElementsAre("echo", "hi"));
  EXPECT_DOUBLE_EQ(spec.cpu, 0.25);
  ASSERT_TRUE(jobs_.jobs().contains(id));
  EXPECT_EQ(jobs_.jobs().at(id).spec.image, "alpine:3");
}

TEST_F(JobApiTest, BadJsonIs400WithMessage) {
  HttpResponse r = Call("POST", "/api/jobs?code=" + std::string(kKey), R"({"image": )");
  ExpectJsonError(r, 400);
  EXPECT_THAT(json::parse(r.body)["error"].value("message", ""), HasSubstr("malformed JSON"));
  EXPECT_TRUE(jobs_.submitted().empty());
}

TEST_F(JobApiTest, InvalidSpecIs400NamingTheField) {
  HttpResponse r =
      Call("POST", "/api/jobs?code=" + std::string(kKey), R"({"image": "busybox", "cpu": -1})");
  ExpectJsonError(r, 400);
  EXPECT_THAT(json::parse(r.body)["error"].value("message", ""), HasSubstr("cpu"));
  EXPECT_TRUE(jobs_.submitted().empty());
}

TEST_F(JobApiTest, SubmitFailureFromTheServiceIs503) {
  jobs_.FailSubmitWith(Status::Unavailable("store is read-only"));
  HttpResponse r = Call("POST", "/api/jobs?code=" + std::string(kKey));
  ExpectJsonError(r, 503);
  EXPECT_THAT(json::parse(r.body)["error"].value("message", ""), HasSubstr("store is read-only"));
  EXPECT_FALSE(FindHeader(r, "Location").has_value());
  EXPECT_TRUE(jobs_.jobs().empty());
}

TEST_F(JobApiTest, SubmittedJobIsVisibleThroughStatus) {
  std::string id = SubmitOk();
  HttpResponse r = Call("GET", "/api/jobs/" + id);
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(json::parse(r.body).value("state", ""), "Queued");
}

// ---- GET /api/jobs/{id} ----

struct StateCase {
  JobState state;
  int http;
  const char* name;
};

class JobStatusCodeTest : public JobApiTest, public ::testing::WithParamInterface<StateCase> {};

TEST_P(JobStatusCodeTest, MapsStateToHttpCode) {
  JobRecord rec = Job(GetParam().state);
  jobs_.Put(rec, "out\n");
  HttpResponse r = Call("GET", "/api/jobs/" + rec.id);
  EXPECT_EQ(r.status, GetParam().http) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  json body = json::parse(r.body);
  EXPECT_EQ(body.value("state", ""), GetParam().name);
  EXPECT_EQ(body.value("logs", ""), "out\n");
  if (GetParam().http == 202) {
    EXPECT_EQ(FindHeader(r, "Retry-After"), "1");
  } else {
    EXPECT_FALSE(FindHeader(r, "Retry-After").has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(States, JobStatusCodeTest,
                         ::testing::Values(StateCase{JobState::kQueued, 202, "Queued"},
                                           StateCase{JobState::kPending, 202, "Pending"},
                                           StateCase{JobState::kRunning, 202, "Running"},
                                           StateCase{JobState::kSucceeded, 200, "Succeeded"},
                                           StateCase{JobState::kFailed, 500, "Failed"},
                                           StateCase{JobState::kCanceled, 500, "Canceled"}),
                         [](const ::testing::TestParamInfo<StateCase>& info) {
                           return std::string(info.param.name);
                         });

TEST_F(JobApiTest, StatusBodyOfAFinishedJob) {
  JobRecord rec = Job(JobState::kFailed);
  rec.exit_code = 3;
  rec.reason = "Error: exited with code 3";
  rec.finished_at = FromUnixMillis(kCreatedMs + 5250);
  rec.attempts = 2;
  jobs_.Put(rec, "line 1\nline 2\n");

  HttpResponse r = Call("GET", "/api/jobs/" + rec.id);
  EXPECT_EQ(r.status, 500);
  json body = json::parse(r.body);
  EXPECT_EQ(body.value("id", ""), rec.id);
  EXPECT_EQ(body.value("state", ""), "Failed");
  EXPECT_EQ(body.value("logs", ""), "line 1\nline 2\n");
  EXPECT_EQ(body.value("exitCode", -1), 3);
  EXPECT_EQ(body.value("reason", ""), "Error: exited with code 3");
  EXPECT_EQ(body.value("createdAt", ""), kCreatedText);
  ASSERT_TRUE(body.contains("startedAt"));
  EXPECT_TRUE(body["startedAt"].is_null());
  EXPECT_EQ(body.value("finishedAt", ""), kFinishedText);
  EXPECT_EQ(body.value("attempts", -1), 2);
  EXPECT_EQ(body.value("image", ""), "ghcr.io/org/app:1");
}

TEST_F(JobApiTest, StatusBodyOfAQueuedJobHasNulls) {
  JobRecord rec = Job(JobState::kQueued);
  rec.attempts = 0;
  jobs_.Put(rec);
  json body = json::parse(Call("GET", "/api/jobs/" + rec.id).body);
  ASSERT_TRUE(body.contains("exitCode"));
  EXPECT_TRUE(body["exitCode"].is_null());
  EXPECT_TRUE(body["startedAt"].is_null());
  EXPECT_TRUE(body["finishedAt"].is_null());
  EXPECT_EQ(body.value("logs", "x"), "");
  EXPECT_EQ(body.value("attempts", -1), 0);
}

TEST_F(JobApiTest, SucceededJobHasExitCodeZero) {
  JobRecord rec = Job(JobState::kSucceeded);
  rec.exit_code = 0;
  jobs_.Put(rec);
  HttpResponse r = Call("GET", "/api/jobs/" + rec.id);
  EXPECT_EQ(r.status, 200);
  json body = json::parse(r.body);
  ASSERT_TRUE(body["exitCode"].is_number_integer()) << r.body;
  EXPECT_EQ(body["exitCode"].get<int>(), 0);
}

TEST_F(JobApiTest, TailGivesTheLastLines) {
  JobRecord rec = Job(JobState::kRunning);
  jobs_.Put(rec, "1\n2\n3\n4\n");
  HttpResponse r = Call("GET", "/api/jobs/" + rec.id + "?tail=2");
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(json::parse(r.body).value("logs", ""), "3\n4\n");

  r = Call("GET", "/api/jobs/" + rec.id + "?tail=0");
  EXPECT_EQ(json::parse(r.body).value("logs", "x"), "");

  r = Call("GET", "/api/jobs/" + rec.id + "?tail=100");
  EXPECT_EQ(json::parse(r.body).value("logs", ""), "1\n2\n3\n4\n");
}

// A followed log that the job service can watch wakes its follower when it grows: with a poll
// of 10 s, new output still reaches the follower at once (before, it waited for the poll).
TEST_F(JobApiTest, AFollowerHearsNewOutputWhenTheLogGrowsNotAtItsNextPoll) {
  jobs_.set_watch_logs(true);
  JobApiOptions opts;
  opts.keys = MemoryKeyStore::WithHostKeys({kKey});
  opts.follow_poll = std::chrono::seconds(10);
  JobRecord rec = Job(JobState::kRunning);
  jobs_.Put(rec, "first\n");
  std::mutex mu;
  std::condition_variable cv;
  std::string received;
  HttpResponse r;
  ChunkSink sink = [&](std::string chunk, bool done) {
    {
      std::lock_guard<std::mutex> lock(mu);
      received += chunk;
    }
    cv.notify_all();
    if (!done) r.stream(sink);  // as the server does once a chunk is written
  };
  auto has = [&](const std::string& text) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(3),
                       [&] { return received.find(text) != std::string::npos; });
  };
  {
    JobApi api(jobs_, std::move(opts));  // ends (with its follower's poll) before the above
    Router router;
    api.Register(router);
    router.Handle(Request("GET", "/api/jobs/" + rec.id + "/logs?follow=true"),
                  [&r](HttpResponse got) { r = std::move(got); });
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(r.stream);
    r.stream(sink);
    ASSERT_TRUE(has("first\n"));
    auto t0 = std::chrono::steady_clock::now();
    jobs_.AppendLog(rec.id, "second\n");
    EXPECT_TRUE(has("second\n")) << "not woken by the growth: " << received;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  }
}

// The watch is taken while the job is still queued (the real service watches a log not there
// yet), so its first line wakes the follower.
TEST_F(JobApiTest, AFollowerOfAQueuedJobHearsItsFirstLineWhenWrittenNotAtItsNextPoll) {
  jobs_.set_watch_logs(true);
  JobApiOptions opts;
  opts.keys = MemoryKeyStore::WithHostKeys({kKey});
  opts.follow_poll = std::chrono::seconds(10);
  JobRecord rec = Job(JobState::kQueued);
  jobs_.Put(rec);  // no output yet
  std::mutex mu;
  std::condition_variable cv;
  std::string received;
  HttpResponse r;
  ChunkSink sink = [&](std::string chunk, bool done) {
    {
      std::lock_guard<std::mutex> lock(mu);
      received += chunk;
    }
    cv.notify_all();
    if (!done) r.stream(sink);  // as the server does once a chunk is written
  };
  auto has = [&](const std::string& text) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(3),
                       [&] { return received.find(text) != std::string::npos; });
  };
  {
    JobApi api(jobs_, std::move(opts));  // ends (with its follower's poll) before the above
    Router router;
    api.Register(router);
    router.Handle(Request("GET", "/api/jobs/" + rec.id + "/logs?follow=true"),
                  [&r](HttpResponse got) { r = std::move(got); });
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(r.stream);
    r.stream(sink);  // reads nothing, takes its watch, looks once more at once, then waits
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // past that look
    auto t0 = std::chrono::steady_clock::now();
    jobs_.AppendLog(rec.id, "first\n");  // the job started and wrote
    EXPECT_TRUE(has("first\n")) << "not woken by the first line: " << received;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  }
}

TEST_F(JobApiTest, BadTailIs400) {
  JobRecord rec = Job(JobState::kRunning);
  jobs_.Put(rec, "1\n2\n");
  for (const std::string tail : {"abc", "", "-1", "2x", "1.5"}) {
    ExpectJsonError(Call("GET", "/api/jobs/" + rec.id + "?tail=" + tail), 400);
  }
}

TEST_F(JobApiTest, UnknownIdIs404) {
  HttpResponse r = Call("GET", "/api/jobs/" + NewUuidV4());
  ExpectJsonError(r, 404);
}

TEST_F(JobApiTest, MalformedIdIs400) {
  const std::vector<std::string> ids = {"123",
                                        "not-a-uuid",
                                        "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
                                        "0123456789abcdef0123456789abcdef0123",
                                        "%2e%2e",
                                        NewUuidV4() + "0"};
  for (const std::string& id : ids) {
    ExpectJsonError(Call("GET", "/api/jobs/" + id), 400);
  }
}

TEST_F(JobApiTest, EncodedSlashStaysInsideTheIdSegment) {
  // Decoding the whole path first would make this five segments (a 404); per segment it is
  // one malformed id.
  ExpectJsonError(Call("GET", "/api/jobs/..%2F..%2Fetc"), 400);
  ExpectJsonError(Call("GET", "/api/jobs/..%2F..%2Fetc/logs"), 400);
}

TEST_F(JobApiTest, PercentEncodedIdIsDecoded) {
  JobRecord rec = Job(JobState::kSucceeded);
  jobs_.Put(rec);
  // The first '-' of the id sent as %2d.
  std::string target = "/api/jobs/" + rec.id.substr(0, 8) + "%2d" + rec.id.substr(9);
  HttpResponse r = Call("GET", target);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body).value("id", ""), rec.id);
}

TEST_F(JobApiTest, StatusIsAnonymousByDefault) {
  JobRecord rec = Job(JobState::kRunning);
  jobs_.Put(rec);
  EXPECT_EQ(Call("GET", "/api/jobs/" + rec.id).status, 202);
  EXPECT_EQ(Call("GET", "/api/jobs/" + rec.id + "/logs").status, 200);
}

TEST_F(JobApiTest, StatusRequiresKeyWhenConfigured) {
  Build(/*status_requires_key=*/true);
  JobRecord rec = Job(JobState::kRunning);
  jobs_.Put(rec, "log\n");

  ExpectJsonError(Call("GET", "/api/jobs/" + rec.id), 401);
  ExpectJsonError(Call("GET", "/api/jobs/" + rec.id + "?code=wrong"), 401);
  ExpectJsonError(Call("GET", "/api/jobs/" + rec.id + "/logs"), 401);

  EXPECT_EQ(Call("GET", "/api/jobs/" + rec.id + "?code=" + kKey).status, 202);
  HttpRequest req = Request("GET", "/api/jobs/" + rec.id + "/logs");
  req.headers["x-functions-key"] = kKey;
  EXPECT_EQ(Call(req).status, 200);
}

// ---- GET /api/jobs/{id}/logs ----

TEST_F(JobApiTest, LogsArePlainText) {
  JobRecord rec = Job(JobState::kSucceeded);
  jobs_.Put(rec, "hello\nworld\n");
  HttpResponse r = Call("GET", "/api/jobs/" + rec.id + "/logs");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.content_type, ::testing::StartsWith("text/plain"));
  EXPECT_EQ(Drain(r), "hello\nworld\n");
}

TEST_F(JobApiTest, LogsOfUnknownOrMalformedId) {
  ExpectJsonError(Call("GET", "/api/jobs/" + NewUuidV4() + "/logs"), 404);
  ExpectJsonError(Call("GET", "/api/jobs/nope/logs"), 400);
}

// ---- Router ----

TEST_F(JobApiTest, HealthzIs200) {
  HttpResponse r = Call("GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).value("status", ""), "ok");
}

TEST_F(JobApiTest, UnknownRouteIs404) {
  ExpectJsonError(Call("GET", "/api/nothing"), 404);
  ExpectJsonError(Call("GET", "/"), 404);
  ExpectJsonError(Call("GET", "/api/jobs/" + NewUuidV4() + "/logs/extra"), 404);
}

TEST_F(JobApiTest, WrongMethodIs405WithAllow) {
  HttpResponse r = Call("PATCH", "/api/jobs?code=" + std::string(kKey));
  ExpectJsonError(r, 405);
  EXPECT_THAT(FindHeader(r, "Allow").value_or(""), HasSubstr("POST"));
  EXPECT_TRUE(jobs_.submitted().empty());

  r = Call("PUT", "/api/jobs/" + NewUuidV4());
  ExpectJsonError(r, 405);
  EXPECT_THAT(FindHeader(r, "Allow").value_or(""), HasSubstr("GET"));

  r = Call("POST", "/healthz");
  ExpectJsonError(r, 405);
  EXPECT_EQ(FindHeader(r, "Allow"), "GET");
}

TEST_F(JobApiTest, HeadIsRoutedLikeGet) { EXPECT_EQ(Call("HEAD", "/healthz").status, 200); }

TEST(RouterTest, AllowListsEveryMethodOfThePath) {
  Router router;
  auto ok = [](const HttpRequest&, const std::vector<std::string>&, Respond respond) {
    respond(HttpResponse{});
  };
  router.Add("GET", "/things/{id}", ok);
  router.Add("DELETE", "/things/{id}", ok);
  HttpRequest req;
  req.method = "PATCH";
  req.path = "/things/7";
  std::optional<HttpResponse> got;
  router.Handle(req, [&](HttpResponse r) { got = std::move(r); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, 405);
  EXPECT_EQ(FindHeader(*got, "Allow"), "GET, DELETE");
}

TEST(RouterTest, CapturesParamsInOrder) {
  Router router;
  std::vector<std::string> seen;
  router.Add("GET", "/a/{x}/b/{y}",
             [&](const HttpRequest&, const std::vector<std::string>& p, Respond respond) {
               seen = p;
               respond(HttpResponse{});
             });
  HttpRequest req;
  req.method = "GET";
  req.path = "/a/one/b/t%20wo";
  router.Handle(req, [](HttpResponse) {});
  EXPECT_THAT(seen, ElementsAre("one", "t wo"));
}

// ---- helpers ----

TEST(HttpCodeForTest, MapsStatusCodes) {
  EXPECT_EQ(HttpCodeFor(Status::Ok()), 200);
  EXPECT_EQ(HttpCodeFor(Status::InvalidArgument("x")), 400);
  EXPECT_EQ(HttpCodeFor(Status::Unauthenticated("x")), 401);
  EXPECT_EQ(HttpCodeFor(Status::PermissionDenied("x")), 403);
  EXPECT_EQ(HttpCodeFor(Status::NotFound("x")), 404);
  EXPECT_EQ(HttpCodeFor(Status::AlreadyExists("x")), 409);
  EXPECT_EQ(HttpCodeFor(Status::Unavailable("x")), 503);
  EXPECT_EQ(HttpCodeFor(Status::ResourceExhausted("x")), 503);
  EXPECT_EQ(HttpCodeFor(Status::DeadlineExceeded("x")), 504);
  EXPECT_EQ(HttpCodeFor(Status::Internal("x")), 500);
  EXPECT_EQ(HttpCodeFor(Status::IoError("x")), 500);
}

TEST(LastLinesTest, TrailingNewlineDoesNotStartALine) {
  EXPECT_EQ(LastLines("a\nb\nc\n", 2), "b\nc\n");
  EXPECT_EQ(LastLines("a\nb\nc\n", 1), "c\n");
}

TEST(LastLinesTest, NoTrailingNewline) {
  EXPECT_EQ(LastLines("a\nb\nc", 2), "b\nc");
  EXPECT_EQ(LastLines("a\nb\nc", 1), "c");
  EXPECT_EQ(LastLines("only", 1), "only");
}

TEST(LastLinesTest, MoreLinesThanThereAre) {
  EXPECT_EQ(LastLines("a\nb\n", 3), "a\nb\n");
  EXPECT_EQ(LastLines("a\nb", 100), "a\nb");
  EXPECT_EQ(LastLines("", 5), "");
}

TEST(LastLinesTest, ZeroLines) {
  EXPECT_EQ(LastLines("a\nb\n", 0), "");
  EXPECT_EQ(LastLines("", 0), "");
}

TEST(LastLinesTest, EmptyLinesCount) { EXPECT_EQ(LastLines("a\n\n\nb\n", 3), "\n\nb\n"); }

TEST(ParseTargetTest, SplitsPathAndDecodesQuery) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(ParseTarget("/api/jobs?code=a+b%20c&tail=5&flag", path, query));
  EXPECT_EQ(path, "/api/jobs");
  EXPECT_EQ(query,
            (std::map<std::string, std::string>{{"code", "a b c"}, {"tail", "5"}, {"flag", ""}}));
}

TEST(ParseTargetTest, DecodesQueryNames) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(ParseTarget("/x?a%2Bb=1%2B2%3D3&&", path, query));
  EXPECT_EQ(query, (std::map<std::string, std::string>{{"a+b", "1+2=3"}}));
}

TEST(ParseTargetTest, FirstOfRepeatedNamesWins) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(ParseTarget("/x?code=first&code=second", path, query));
  EXPECT_EQ(query.at("code"), "first");
}

TEST(ParseTargetTest, PathStaysEncodedAndPlusIsNotSpace) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(ParseTarget("/api/jobs/a%2Fb+c", path, query));
  EXPECT_EQ(path, "/api/jobs/a%2Fb+c");
  EXPECT_TRUE(query.empty());
}

TEST(ParseTargetTest, ClearsPreviousQuery) {
  std::string path;
  std::map<std::string, std::string> query = {{"stale", "1"}};
  ASSERT_TRUE(ParseTarget("/x", path, query));
  EXPECT_TRUE(query.empty());
}

TEST(ParseTargetTest, RejectsBadEscapes) {
  for (const char* target : {"/x?code=%zz", "/x?code=%4", "/x?code=%", "/x?%zz=1", "/x%zz", "/x%4",
                             "/api/jobs/%", "/x?a=%g1"}) {
    std::string path;
    std::map<std::string, std::string> query;
    EXPECT_FALSE(ParseTarget(target, path, query)) << target;
  }
}

TEST(ParseTargetTest, RejectsPathsNotStartingWithSlash) {
  for (const char* target : {"", "api/jobs", "?code=1", "http://host/api/jobs"}) {
    std::string path;
    std::map<std::string, std::string> query;
    EXPECT_FALSE(ParseTarget(target, path, query)) << target;
  }
}

TEST(PercentDecodeTest, DecodesEscapes) {
  std::string out;
  ASSERT_TRUE(PercentDecode("a%20b%2fc%2F+", false, out));
  EXPECT_EQ(out, "a b/c/+");
  ASSERT_TRUE(PercentDecode("a+b", true, out));
  EXPECT_EQ(out, "a b");
  EXPECT_FALSE(PercentDecode("%4", false, out));
  EXPECT_FALSE(PercentDecode("ab%", false, out));
  EXPECT_FALSE(PercentDecode("%zz", false, out));
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

// Issue 10: the IETF idempotency-key draft answers 422 when a key comes back with another body.
TEST_F(JobApiTest, IdempotencyKeyReusedWithAnotherBodyIs422) {
  auto post = [&](const std::string& body) {
    HttpRequest req = Request("POST", "/api/jobs", body);
    req.headers["x-functions-key"] = kKey;
    req.headers["idempotency-key"] = "order-42";
    return Call(req);
  };
  HttpResponse first = post(R"({"image": "busybox", "command": ["echo", "a"]})");
  ASSERT_EQ(first.status, 202) << first.body;
  std::string id = json::parse(first.body).value("id", "");
  // The same spec (written differently) is a repeat: the same job.
  HttpResponse again = post(R"({"command": ["echo", "a"], "image": "busybox"})");
  ASSERT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(json::parse(again.body).value("id", ""), id);
  // Another spec under the same key: 422, and no second job.
  HttpResponse other = post(R"({"image": "busybox", "command": ["echo", "b"]})");
  ExpectJsonError(other, 422);
  EXPECT_THAT(other.body, HasSubstr("Idempotency-Key"));
  HttpResponse empty = post("");
  ExpectJsonError(empty, 422);
  EXPECT_EQ(jobs_.jobs().size(), 1u);
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

// Issue 10: /logs read the whole log (up to 64 MiB) into memory for every anonymous request.
TEST_F(JobApiTest, LogsAreStreamedInBoundedChunks) {
  JobRecord rec = Job(JobState::kSucceeded);
  std::string big;
  for (int i = 0; big.size() < (3u << 20); ++i) big += "line " + std::to_string(i) + "\n";
  jobs_.Put(rec, big);
  HttpResponse r = Call("GET", "/api/jobs/" + rec.id + "/logs");
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(r.stream) << "the log was answered as one in-memory body";
  size_t largest = 0;
  EXPECT_EQ(Drain(r, &largest), big);
  EXPECT_LE(largest, 64u << 10);
  EXPECT_LE(jobs_.largest_read_log(), 64u << 10);
}

// Issue 10: a failed job's reason, readable anonymously, named host paths of the data dir.
TEST_F(JobApiTest, ReasonsNeverShowHiddenHostPaths) {
  JobApiOptions opts;
  opts.keys = MemoryKeyStore::WithHostKeys({kKey});
  opts.hidden_paths = {"/var/lib/berth-data", "/srv/real/berth-data"};
  api_.emplace(jobs_, std::move(opts));
  router_ = Router();
  api_->Register(router_);
  JobRecord rec = Job(JobState::kFailed);
  rec.reason = "StartFailed: mount overlay /var/lib/berth-data/jobs/x/rootfs: Invalid argument";
  AttemptRecord attempt;
  attempt.number = 1;
  attempt.reason = "unpack /srv/real/berth-data/images/tmp/abc: layer entry \"/\"";
  rec.history.push_back(attempt);
  jobs_.Put(rec);
  HttpResponse r = Call("GET", "/api/jobs/" + rec.id);
  EXPECT_EQ(r.status, 500);
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("/var/lib/berth-data"))) << r.body;
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("/srv/real/berth-data"))) << r.body;
  json body = json::parse(r.body);
  EXPECT_EQ(body["reason"], "StartFailed: mount overlay <data>/jobs/x/rootfs: Invalid argument");
  EXPECT_EQ(body["history"][0]["reason"], "unpack <data>/images/tmp/abc: layer entry \"/\"");
  HttpRequest list = Request("GET", "/api/jobs");
  list.headers["x-functions-key"] = kKey;
  EXPECT_THAT(Call(list).body, ::testing::Not(HasSubstr("/var/lib/berth-data")));
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

// Issue 11: a job's status names the node that runs (or ran) it; a job no node took shows none.
TEST_F(JobApiTest, StatusShowsTheNodeThatRunsTheJob) {
  JobRecord rec = Job(JobState::kRunning);
  rec.node = "worker-2";
  jobs_.Put(rec, "");
  json body = json::parse(Call("GET", "/api/jobs/" + rec.id).body);
  EXPECT_EQ(body.value("node", ""), "worker-2");
  JobRecord queued = Job(JobState::kQueued);
  jobs_.Put(queued, "");
  json none = json::parse(Call("GET", "/api/jobs/" + queued.id).body);
  EXPECT_FALSE(none.contains("node")) << none.dump();
}

}  // namespace
}  // namespace berth
