// JobApi routes beyond submit and status: listing, cancel, and following a log live.
#include <nlohmann/json.hpp>

#include "api/job_api.h"
#include "api/job_json.h"
#include "common/mutex.h"
#include "common/random.h"

namespace berth {
namespace {

using json = nlohmann::json;

constexpr int kDefaultListLimit = 50;
constexpr int kMaxListLimit = 1000;
constexpr size_t kFollowChunk = 64 << 10;

}  // namespace

struct JobApi::Follow {
  std::string id;
  uint64_t offset = 0;
  bool job_ended = false;        // the job was seen terminal: the next empty read ends the stream
  bool follow = true;            // false: end at the first empty read (the log as it is now)
  std::unique_ptr<Watch> watch;  // wakes the follower when the log grows; null: poll only
  Mutex mu;
  std::optional<ChunkSink> waiting GUARDED_BY(mu);  // the sink of a pump waiting for growth
  uint64_t poll GUARDED_BY(mu) = 0;                 // its poll's scheduler handle
};

void JobApi::HandleList(const HttpRequest& req, Respond respond) {
  if (!Authorized(req)) {
    respond(JsonError(401, "a valid function key is required (?code= or x-functions-key)"));
    return;
  }
  std::optional<JobState> state;
  if (auto s = req.Query("state"); s && !s->empty()) {
    state = ParseJobState(*s);
    if (!state) {
      respond(JsonError(400,
                        "state must be one of Queued, Pending, Running, Succeeded, "
                        "Failed, Canceled"));
      return;
    }
  }
  int limit = kDefaultListLimit;
  if (auto l = req.Query("limit")) {
    if (l->empty() || l->size() > 6 || l->find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(*l) < 1 || std::stoi(*l) > kMaxListLimit) {
      respond(JsonError(400, "limit must be a whole number from 1 to 1000"));
      return;
    }
    limit = std::stoi(*l);
  }
  std::string parent = req.Query("parent").value_or("");
  if (!parent.empty() && !IsCanonicalUuid(parent)) {
    respond(JsonError(400, "parent must be a job id (a UUID)"));
    return;
  }
  auto page = parent.empty()
                  ? jobs_.List(state, limit, req.Query("cursor").value_or(""))
                  : jobs_.ListChildren(parent, state, limit, req.Query("cursor").value_or(""));
  if (!page.ok()) {
    respond(JsonError(HttpCodeFor(page.status()), page.status().message()));
    return;
  }
  json jobs = json::array();
  for (const auto& job : page->jobs) jobs.push_back(JobToJson(job, opts_.hidden_paths));
  json body = {{"jobs", jobs},
               {"nextCursor", page->next_cursor.empty() ? json(nullptr) : json(page->next_cursor)}};
  respond(JsonResponse(200, body));
}

void JobApi::HandleCancel(const HttpRequest& req, const std::string& id, Respond respond) {
  if (!CheckJobRequest(req, id, /*need_key=*/true, respond)) return;
  auto result = jobs_.Cancel(id);
  if (!result.ok()) {
    respond(JsonError(HttpCodeFor(result.status()), result.status().message()));
    return;
  }
  json body = JobToJson(result->job, opts_.hidden_paths);
  if (result->already_ended) {
    HttpResponse r = JsonResponse(410, body);
    return respond(std::move(r));
  }
  bool canceled = result->job.state == JobState::kCanceled;
  HttpResponse r = JsonResponse(canceled ? 200 : 202, body);
  if (!canceled) {
    r.headers.emplace_back("Location", "/api/jobs/" + result->job.id);
    r.headers.emplace_back("Retry-After", "1");
  }
  respond(std::move(r));
}

ChunkSource JobApi::StreamLog(const std::string& id, bool follow_live) {
  auto follow = std::make_shared<Follow>();
  follow->id = id;
  follow->follow = follow_live;
  return [this, follow](ChunkSink sink) { Pump(follow, std::move(sink)); };
}

void JobApi::Pump(std::shared_ptr<Follow> follow, ChunkSink sink) {
  auto chunk = jobs_.ReadLogFrom(follow->id, follow->offset, kFollowChunk);
  if (!chunk.ok()) return sink("", true);
  if (!chunk->text.empty()) {
    follow->offset = chunk->next_offset;
    return sink(std::move(chunk->text), false);
  }
  if (follow->job_ended || !follow->follow) return sink("", true);
  auto job = jobs_.Get(follow->id);
  if (!job.ok() || IsTerminal(job->state)) {
    // The monitor completes the log before the exit is recorded: one more read drains it.
    follow->job_ended = true;
    return Pump(follow, std::move(sink));
  }
  AwaitGrowth(follow, std::move(sink));
}

void JobApi::AwaitGrowth(const std::shared_ptr<Follow>& follow, ChunkSink sink) {
  bool new_watch = false;
  if (follow->watch == nullptr) {
    // A queued job's log is watched before it exists; null for a log the service cannot watch
    // (one kept elsewhere): then the follower polls, and asks again at each poll.
    std::weak_ptr<Follow> weak = follow;
    follow->watch = jobs_.WatchLog(follow->id, [waker = waker_, weak] {
      MutexLock lock(waker->mu);
      auto f = weak.lock();
      if (waker->api == nullptr || f == nullptr) return;
      // Not on the watcher's thread: the pump reads the log and writes to the connection.
      JobApi* api = waker->api;
      api->poller_->After(milliseconds(0), [api, f] { api->Wake(f); });
    });
    new_watch = follow->watch != nullptr;
  }
  MutexLock lock(follow->mu);
  follow->waiting = std::move(sink);
  // What the log gained between the last read and the watch's start wakes no one: look again
  // at once, then at each poll.
  follow->poll = poller_->After(new_watch ? milliseconds(0) : opts_.follow_poll,
                                [this, follow] { Wake(follow); });
}

void JobApi::Wake(const std::shared_ptr<Follow>& follow) {
  std::optional<ChunkSink> sink;
  {
    MutexLock lock(follow->mu);
    sink.swap(follow->waiting);
    if (!sink) return;  // the other wake-up came first
    poller_->Cancel(follow->poll);
  }
  Pump(follow, std::move(*sink));
}

}  // namespace berth
