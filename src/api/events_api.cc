#include "api/events_api.h"

#include <deque>
#include <nlohmann/json.hpp>
#include <vector>

namespace berth {

struct EventsApi::Stream {
  Mutex mu;
  std::deque<std::string> queued GUARDED_BY(mu);
  size_t queued_bytes GUARDED_BY(mu) = 0;
  ChunkSink waiting GUARDED_BY(mu);    // the server is ready for the next chunk
  TimePoint handed_at GUARDED_BY(mu);  // when a chunk was last handed over
  bool ended GUARDED_BY(mu) = false;
};

EventsApi::EventsApi(JobEventSource& source, Clock& clock, EventsApiOptions opts)
    : source_(source), clock_(clock), opts_(std::move(opts)) {
  if (opts_.keepalive.count() > 0) {
    scheduler_ = std::make_unique<Scheduler>(clock_);
    ScheduleTick();
  }
}

EventsApi::~EventsApi() {
  scheduler_.reset();
  std::map<uint64_t, std::shared_ptr<Stream>> streams;
  {
    MutexLock lock(mu_);
    streams.swap(streams_);
  }
  for (const auto& [sub, stream] : streams) source_.Unsubscribe(sub);
}

void EventsApi::ScheduleTick() {
  scheduler_->After(opts_.keepalive, [this] {
    Tick();
    ScheduleTick();
  });
}

void EventsApi::Register(Router& router) {
  router.Add("GET", "/api/events",
             [this](const HttpRequest& req, const std::vector<std::string>&, Respond respond) {
               respond(Subscribe(req));
             });
}

std::string EventsApi::Format(const JobEvent& e) {
  nlohmann::json data{{"id", e.id}, {"state", ToString(e.state)}, {"reason", e.reason}};
  data["exitCode"] = e.exit_code ? nlohmann::json(*e.exit_code) : nlohmann::json(nullptr);
  return "event: job\ndata: " + data.dump() + "\n\n";
}

void EventsApi::Deliver(const std::shared_ptr<Stream>& s, std::string text) {
  MutexLock lock(s->mu);
  if (s->ended) return;
  if (s->waiting) {
    ChunkSink sink = std::move(s->waiting);
    s->waiting = nullptr;
    s->handed_at = clock_.Now();
    lock.unlock();
    sink(std::move(text), false);
    return;
  }
  s->queued_bytes += text.size();
  s->queued.push_back(std::move(text));
  if (s->queued_bytes > opts_.max_buffered_bytes) {
    // Too far behind: end the stream after what is queued (the client reconnects and re-reads).
    s->ended = true;
  }
}

HttpResponse EventsApi::Subscribe(const HttpRequest& req) {
  if (opts_.authorize && !opts_.authorize(req)) {
    return JsonError(401, "a valid function key is required (?code= or x-functions-key)");
  }
  auto stream = std::make_shared<Stream>();
  {
    MutexLock lock(stream->mu);  // not shared yet: taken for the analysis' sake, uncontended
    stream->handed_at = clock_.Now();
    // The first chunk goes out at once, so the client sees the stream open.
    stream->queued.push_back("retry: 2000\n: berth job events\n\n");
  }
  uint64_t sub = source_.Subscribe([this, weak = std::weak_ptr<Stream>(stream)](const JobEvent& e) {
    if (auto s = weak.lock()) Deliver(s, Format(e));
  });
  {
    MutexLock lock(mu_);
    streams_[sub] = stream;
  }
  HttpResponse r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Accel-Buffering", "no");
  r.stream = [this, stream](ChunkSink sink) {
    MutexLock lock(stream->mu);
    if (stream->queued.empty() && !stream->ended) {
      stream->waiting = std::move(sink);
      return;
    }
    std::string chunk;
    for (std::string& t : stream->queued) chunk += t;
    stream->queued.clear();
    stream->queued_bytes = 0;
    bool done = stream->ended;
    stream->handed_at = clock_.Now();
    lock.unlock();
    sink(std::move(chunk), done);
  };
  return r;
}

void EventsApi::Tick() {
  std::vector<uint64_t> stale;
  std::vector<ChunkSink> pings;
  {
    MutexLock lock(mu_);
    TimePoint now = clock_.Now();
    for (auto& [sub, s] : streams_) {
      MutexLock slock(s->mu);
      if (s->waiting) {
        pings.push_back(std::move(s->waiting));
        s->waiting = nullptr;
        s->handed_at = now;
      } else if (now - s->handed_at >= opts_.stale_after) {
        s->ended = true;
        stale.push_back(sub);
      }
    }
    for (uint64_t sub : stale) streams_.erase(sub);
  }
  for (uint64_t sub : stale) source_.Unsubscribe(sub);
  for (ChunkSink& sink : pings) sink(": keepalive\n\n", false);
}

size_t EventsApi::streams() const {
  MutexLock lock(mu_);
  return streams_.size();
}

}  // namespace berth
