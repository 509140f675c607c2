// libFuzzer target: arbitrary bytes as the start of an HTTP connection, through the server's own
// parser and checks (ParseHttpRequest: Beast, limits, ParseTarget), then the Router with the job
// and key routes over in-memory fakes. Never crashes, throws or leaks; every answer has a valid
// status and a JSON body where it says JSON. Built with -DBERTH_FUZZ=ON.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/fake_job_service.h"
#include "api/http_server.h"
#include "api/job_api.h"
#include "api/key_api.h"
#include "api/keys.h"
#include "api/router.h"

namespace berth {
namespace {

constexpr char kJobId[] = "0f8fad5b-d9cb-469f-a165-70867728950e";

// The one job every input finds (the rest are created by the input's own submits).
JobRecord KnownJob() {
  JobRecord r;
  r.id = kJobId;
  r.spec.image = "busybox";
  r.state = JobState::kSucceeded;
  r.exit_code = 0;
  return r;
}

// The same keys at the start of every input (the key routes change them).
class ResettableKeys : public KeyStore {
 public:
  void Reset() {
    KeySet set;
    set.master = "master-0123456789abcdef";
    set.host["default"] = "function-0123456789abcdef";
    set.functions["jobs"]["ci"] = "ci-key-0123456789abcdef";
    inner_ = std::make_unique<MemoryKeyStore>(std::move(set));
  }
  KeyAccess Check(std::string_view f, std::string_view k) const override {
    return inner_->Check(f, k);
  }
  Result<std::vector<NamedKey>> List(std::string_view f) const override { return inner_->List(f); }
  Result<PutKeyResult> Put(std::string_view f, std::string_view n, std::string_view v) override {
    return inner_->Put(f, n, v);
  }
  Status Delete(std::string_view f, std::string_view n) override { return inner_->Delete(f, n); }

 private:
  std::unique_ptr<MemoryKeyStore> inner_;
};

struct World {
  World() {
    keys = std::make_shared<ResettableKeys>();
    keys->Reset();
    JobApiOptions opts;
    opts.keys = keys;
    opts.default_job.image = "busybox";
    opts.default_job.command = {"/bin/sh", "-c", "echo default"};
    jobs_api = std::make_unique<JobApi>(jobs, opts);
    jobs_api->Register(router);
    key_api = std::make_unique<KeyApi>(keys);
    key_api->Register(router);
    http.body_limit = 1 << 16;
    http.header_limit = 4096;
    http.max_header_count = 32;
  }
  FakeJobService jobs;
  std::shared_ptr<ResettableKeys> keys;
  std::unique_ptr<JobApi> jobs_api;
  std::unique_ptr<KeyApi> key_api;
  Router router;
  HttpServerOptions http;
};

void Check(const HttpResponse& r) {
  if (r.status < 100 || r.status > 599) __builtin_trap();
  if (r.stream) return;  // a streamed body: not pulled here (its source may use other threads)
  if (r.content_type == "application/json" && !r.body.empty() && !nlohmann::json::accept(r.body)) {
    __builtin_trap();
  }
}

}  // namespace
}  // namespace berth

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static berth::World* world = new berth::World();  // one per process, like the server's
  auto parsed = berth::ParseHttpRequest(std::string_view(reinterpret_cast<const char*>(data), size),
                                        world->http);
  if (auto* code = std::get_if<int>(&parsed)) {
    if (*code != 0 && *code != 400 && *code != 413 && *code != 431) __builtin_trap();
    return 0;
  }
  world->keys->Reset();
  world->jobs.Clear();
  world->jobs.Put(berth::KnownJob(), "log\n");
  auto answers = std::make_shared<std::atomic<int>>(0);
  world->router.Handle(std::get<berth::HttpRequest>(parsed), [answers](berth::HttpResponse r) {
    ++*answers;
    berth::Check(r);
  });
  if (*answers > 1) __builtin_trap();
  return 0;
}
