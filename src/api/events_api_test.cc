#include "api/events_api.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

// Pulls chunks from a response stream the way the server does: one request at a time.
struct Reader {
  explicit Reader(ChunkSource s) : source(std::move(s)) {}
  ChunkSource source;
  std::string got;
  bool done = false;
  bool asked = false;  // a request is outstanding
  void Ask() {
    asked = true;
    source([this](std::string chunk, bool last) {
      asked = false;
      got += chunk;
      done = last;
    });
  }
};

class EventsApiTest : public ::testing::Test {
 protected:
  EventsApiOptions Opts() {
    EventsApiOptions o;
    o.keepalive = milliseconds(0);  // the test ticks
    o.stale_after = milliseconds(60'000);
    return o;
  }
  HttpRequest Get() {
    HttpRequest r;
    r.method = "GET";
    r.path = "/api/events";
    return r;
  }
  FakeClock clock_;
  JobEventHub hub_;
};

TEST_F(EventsApiTest, StreamsEachStateChangeAsAJobEvent) {
  EventsApi api(hub_, clock_, Opts());
  HttpResponse r = api.Subscribe(Get());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/event-stream");
  Reader reader(r.stream);
  reader.Ask();  // the opening comment comes at once
  EXPECT_NE(reader.got.find("retry: 2000"), std::string::npos);
  reader.got.clear();
  reader.Ask();
  EXPECT_TRUE(reader.asked) << "nothing to send yet: the request waits";
  hub_.Publish({"id-1", JobState::kRunning, "", std::nullopt});
  EXPECT_FALSE(reader.asked);
  EXPECT_EQ(reader.got,
            "event: job\ndata: {\"exitCode\":null,\"id\":\"id-1\",\"reason\":\"\",\"state\":"
            "\"Running\"}\n\n");
  // Events published while the server is not asking are queued and sent together.
  hub_.Publish({"id-1", JobState::kFailed, "Error: exited with code 3", 3});
  hub_.Publish({"id-2", JobState::kQueued, "", std::nullopt});
  reader.got.clear();
  reader.Ask();
  EXPECT_NE(reader.got.find("\"exitCode\":3,\"id\":\"id-1\""), std::string::npos) << reader.got;
  EXPECT_NE(reader.got.find("\"id\":\"id-2\""), std::string::npos) << reader.got;
  EXPECT_FALSE(reader.done);
}

TEST_F(EventsApiTest, RefusesWithoutKey) {
  EventsApiOptions o = Opts();
  o.authorize = [](const HttpRequest&) { return false; };
  EventsApi api(hub_, clock_, o);
  EXPECT_EQ(api.Subscribe(Get()).status, 401);
  EXPECT_EQ(hub_.subscribers(), 0u);
}

TEST_F(EventsApiTest, KeepAlivesGoToWaitingStreamsAndStreamsNoLongerReadAreDropped) {
  EventsApi api(hub_, clock_, Opts());
  Reader live(api.Subscribe(Get()).stream);
  Reader gone(api.Subscribe(Get()).stream);
  live.Ask();
  live.Ask();  // waiting
  gone.Ask();  // took the opening chunk; the server never asks again (client went away)
  EXPECT_EQ(hub_.subscribers(), 2u);
  clock_.Advance(milliseconds(15'000));
  api.Tick();
  EXPECT_EQ(live.got.substr(live.got.size() - 13), ": keepalive\n\n");
  live.Ask();
  clock_.Advance(milliseconds(60'000));
  api.Tick();
  EXPECT_EQ(api.streams(), 1u);
  EXPECT_EQ(hub_.subscribers(), 1u);
}

TEST_F(EventsApiTest, AReaderTooFarBehindHasItsStreamEnded) {
  EventsApiOptions o = Opts();
  o.max_buffered_bytes = 1000;
  EventsApi api(hub_, clock_, o);
  Reader slow(api.Subscribe(Get()).stream);
  for (int i = 0; i < 50; ++i) hub_.Publish({"id", JobState::kRunning, "", std::nullopt});
  slow.Ask();
  EXPECT_TRUE(slow.done);
  EXPECT_LT(slow.got.size(), 2000u);
}

}  // namespace
}  // namespace berth
