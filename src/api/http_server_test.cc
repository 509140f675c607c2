// HttpServer against raw sockets: the real server on a loopback port 0, in-process, with short
// limits; the client is plain POSIX sockets so that every byte on the wire is checked.
#include "api/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "common/raw_tcp_client.h"

namespace berth {
namespace {

using std::chrono::steady_clock;
using namespace std::chrono_literals;

using Client = RawTcpClient;

// Hands chunks to a stream's sink from a producer thread, one chunk per Emit.
class ChunkProducer {
 public:
  // The source for HttpResponse::stream: each call queues the sink for the next Emit.
  ChunkSource Source() {
    return [this](ChunkSink sink) {
      std::lock_guard lock(mu_);
      sinks_.push_back(std::move(sink));
      ++pulls_;
      cv_.notify_all();
    };
  }

  // Waits for the server to ask for the next chunk; false after `timeout`.
  bool WaitPull(int n, milliseconds timeout = 5000ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pulls_ >= n; });
  }

  // Gives the oldest waiting sink its chunk.
  void Emit(std::string chunk, bool done) {
    ChunkSink sink;
    {
      std::lock_guard lock(mu_);
      if (sinks_.empty()) return;
      sink = std::move(sinks_.front());
      sinks_.pop_front();
    }
    sink(std::move(chunk), done);
  }

  int pulls() {
    std::lock_guard lock(mu_);
    return pulls_;
  }

  void DropSinks() {
    std::lock_guard lock(mu_);
    sinks_.clear();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ChunkSink> sinks_;
  int pulls_ = 0;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add("GET", "/hello", [](const HttpRequest& req, const auto&, Respond respond) {
      HttpResponse r;
      r.content_type = "text/plain";
      r.body = "hello " + req.Query("name").value_or("world");
      respond(std::move(r));
    });
    router_.Add("POST", "/echo", [](const HttpRequest& req, const auto&, Respond respond) {
      HttpResponse r;
      r.content_type = "text/plain";
      r.body = req.body;
      respond(std::move(r));
    });
    router_.Add("GET", "/later", [](const HttpRequest&, const auto&, Respond respond) {
      std::thread([respond] {
        std::this_thread::sleep_for(20ms);
        HttpResponse r;
        r.body = "{}";
        respond(r);
      }).detach();
    });
    router_.Add("GET", "/throw",
                [](const HttpRequest&, const auto&, Respond) { throw std::runtime_error("boom"); });
    router_.Add("GET", "/stream", [this](const HttpRequest&, const auto&, Respond respond) {
      HttpResponse r;
      r.content_type = "text/plain";
      r.stream = producer_.Source();
      respond(std::move(r));
    });
  }

  void TearDown() override {
    producer_.DropSinks();
    if (server_) {
      server_->Stop();
      runner_.join();
    }
  }

  void Start(HttpServerOptions opts = {}) {
    opts.host = "127.0.0.1";
    opts.port = 0;
    server_.emplace(opts, router_);
    auto port = server_->Listen();
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
    runner_ = std::thread([this] { server_->Run(); });
  }

  // Waits until the server holds `n` connections.
  bool WaitConnections(size_t n, milliseconds timeout = 5000ms) {
    auto deadline = steady_clock::now() + timeout;
    while (server_->connections() != n) {
      if (steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  Router router_;
  ChunkProducer producer_;
  std::optional<HttpServer> server_;
  std::thread runner_;
  uint16_t port_ = 0;
};

// ---- Ordinary requests ----

TEST_F(HttpServerTest, AnswersAndKeepsTheConnectionAlive) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("GET /hello?name=a HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string r1 = c.TakeResponse();
  EXPECT_EQ(StatusOf(r1), 200) << r1;
  EXPECT_NE(r1.find("\r\n\r\nhello a"), std::string::npos) << r1;
  ASSERT_TRUE(c.Send("GET /later HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.TakeResponse()), 200);
  ASSERT_TRUE(c.Send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.TakeResponse()), 404);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Start();
  Client c(port_);
  ASSERT_TRUE(
      c.Send("GET /hello?name=1 HTTP/1.1\r\nHost: x\r\n\r\n"
             "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
             "GET /hello?name=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string r1 = c.TakeResponse(), r2 = c.TakeResponse(), r3 = c.TakeResponse();
  EXPECT_NE(r1.find("hello 1"), std::string::npos) << r1;
  EXPECT_NE(r2.find("\r\n\r\nabc"), std::string::npos) << r2;
  EXPECT_NE(r3.find("hello 3"), std::string::npos) << r3;
  EXPECT_TRUE(c.ReadToEof());
}

TEST_F(HttpServerTest, Http10GetsAnHttp10AnswerAndTheConnectionEnds) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(c.ReadToEof());
  EXPECT_EQ(c.input().rfind("HTTP/1.0 200", 0), 0u) << c.input();
  EXPECT_NE(c.input().find("hello world"), std::string::npos);
}

TEST_F(HttpServerTest, HalfClosedClientStillGetsItsAnswer) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"));
  c.ShutdownWrite();
  ASSERT_TRUE(c.ReadToEof());
  EXPECT_EQ(StatusOf(c.input()), 200) << c.input();
  EXPECT_NE(c.input().find("\r\n\r\nhi"), std::string::npos);
  EXPECT_TRUE(WaitConnections(0));
}

TEST_F(HttpServerTest, ChunkedRequestBodyIsDecoded) {
  Start();
  Client c(port_);
  ASSERT_TRUE(
      c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  std::string r = c.TakeResponse();
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_NE(r.find("\r\n\r\nabcde"), std::string::npos) << r;
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimAnswer) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.Send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  ASSERT_TRUE(c.ReadUntil([](const std::string& s) { return s.find("\r\n\r\n") != s.npos; }));
  EXPECT_EQ(c.input(), "HTTP/1.1 100 Continue\r\n\r\n");
  c.input().clear();
  ASSERT_TRUE(c.Send("body"));
  std::string r = c.TakeResponse();
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_NE(r.find("\r\n\r\nbody"), std::string::npos);
}

TEST_F(HttpServerTest, HandlerThatThrowsAnswers500AndTheServerGoesOn) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.Send("GET /throw HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string r = c.TakeResponse();
  EXPECT_EQ(StatusOf(r), 500) << r;
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.TakeResponse()), 200);
}

// ---- Limits ----

TEST_F(HttpServerTest, OversizeBodyIs413EvenBeforeItIsSent) {
  HttpServerOptions opts;
  opts.body_limit = 1000;
  Start(opts);
  Client c(port_);
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n"));
  std::string r = c.TakeResponse();
  EXPECT_EQ(StatusOf(r), 413) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  EXPECT_TRUE(c.ReadToEof());
}

TEST_F(HttpServerTest, OversizeChunkedBodyIs413) {
  HttpServerOptions opts;
  opts.body_limit = 1000;
  Start(opts);
  Client c(port_);
  std::string chunk(600, 'x');
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  c.Send("258\r\n" + chunk + "\r\n258\r\n" + chunk + "\r\n0\r\n\r\n");
  EXPECT_EQ(StatusOf(c.TakeResponse()), 413);
}

TEST_F(HttpServerTest, OversizeHeadersAre431) {
  HttpServerOptions opts;
  opts.header_limit = 2048;
  Start(opts);
  Client c(port_);
  ASSERT_TRUE(
      c.Send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n"));
  std::string r = c.TakeResponse();
  EXPECT_EQ(StatusOf(r), 431) << r;
}

TEST_F(HttpServerTest, TooManyHeadersAre431) {
  HttpServerOptions opts;
  opts.max_header_count = 10;
  Start(opts);
  std::string req = "GET /hello HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 10; ++i) req += "X-H" + std::to_string(i) + ": v\r\n";
  Client c(port_);
  ASSERT_TRUE(c.Send(req + "\r\n"));
  std::string r = c.TakeResponse();
  EXPECT_EQ(StatusOf(r), 431) << r;
  EXPECT_NE(r.find("too many header fields"), std::string::npos) << r;

  Client ok(port_);  // ten fields (Host included) are fine
  ASSERT_TRUE(
      ok.Send("GET /hello HTTP/1.1\r\nHost: x\r\n" + req.substr(req.find("X-H1:")) + "\r\n"));
  EXPECT_EQ(StatusOf(ok.TakeResponse()), 200);
}

TEST_F(HttpServerTest, GarbageIs400) {
  Start();
  for (const std::string& bad : std::vector<std::string>{
           "HELLO\r\n\r\n", "GET /x HTTP/9.9\r\n\r\n", "GET nopath HTTP/1.1\r\n\r\n",
           "GET /x HTTP/1.1\r\nBad Header: v\r\n\r\n",
           "GET /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
           std::string("GET /x HTTP/1.1\r\nX: a\0b\r\n\r\n", 28), "GET /%zz HTTP/1.1\r\n\r\n"}) {
    Client c(port_);
    ASSERT_TRUE(c.Send(bad));
    std::string r = c.TakeResponse();
    EXPECT_EQ(StatusOf(r), 400) << bad << " -> " << r;
  }
  Client c(port_);
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.TakeResponse()), 200);
}

TEST_F(HttpServerTest, SlowlorisIsCutOffAtTheHeaderTimeout) {
  HttpServerOptions opts;
  opts.header_timeout = 300ms;
  Start(opts);
  Client c(port_);
  auto start = steady_clock::now();
  std::string req = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  bool cut = false;
  for (int i = 0; i < 200 && !cut; ++i) {  // one byte every 20 ms: 4 s if never cut
    if (!c.Send(i < static_cast<int>(req.size()) ? req.substr(i, 1) : "a")) cut = true;
    if (!c.ReadSome(20ms)) cut = true;
  }
  EXPECT_TRUE(cut);
  EXPECT_LT(steady_clock::now() - start, 2s);
  EXPECT_TRUE(WaitConnections(0));
}

TEST_F(HttpServerTest, IdleConnectionIsClosedAtTheIdleTimeout) {
  HttpServerOptions opts;
  opts.idle_timeout = 200ms;
  Start(opts);
  Client c(port_);
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.TakeResponse()), 200);
  auto start = steady_clock::now();
  EXPECT_TRUE(c.ReadToEof(3000ms));
  EXPECT_LT(steady_clock::now() - start, 2s);
  Client silent(port_);
  EXPECT_TRUE(silent.ReadToEof(3000ms));
}

TEST_F(HttpServerTest, ConnectionsOverTheCapGet503) {
  HttpServerOptions opts;
  opts.max_connections = 3;
  Start(opts);
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<Client>(port_));
  ASSERT_TRUE(WaitConnections(3));
  Client over(port_);
  ASSERT_TRUE(over.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  over.ReadToEof();
  EXPECT_EQ(StatusOf(over.input()), 503) << over.input();
  idle.pop_back();
  ASSERT_TRUE(WaitConnections(2));
  Client again(port_);
  ASSERT_TRUE(again.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(again.TakeResponse()), 200);
}

// ---- Streaming ----

// Reads one chunk ("<hex>\r\n<data>\r\n") off `c`'s input; nullopt if it does not arrive.
std::optional<std::string> TakeChunk(Client& c) {
  auto complete = [](const std::string& s) {
    size_t eol = s.find("\r\n");
    if (eol == std::string::npos) return false;
    size_t n = std::stoul(s.substr(0, eol), nullptr, 16);
    return s.size() >= eol + 2 + n + 2;
  };
  if (!c.ReadUntil(complete)) return std::nullopt;
  std::string& s = c.input();
  size_t eol = s.find("\r\n");
  size_t n = std::stoul(s.substr(0, eol), nullptr, 16);
  EXPECT_EQ(s.substr(eol + 2 + n, 2), "\r\n");
  std::string data = s.substr(eol + 2, n);
  s.erase(0, eol + 2 + n + 2);
  return data;
}

TEST_F(HttpServerTest, StreamSendsEachChunkAsItComes) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::atomic<int> emitted{0};
  std::thread producer([&] {
    const char* chunks[] = {"one\n", "two two\n", "three three three\n"};
    for (int i = 0; i < 3; ++i) {
      if (!producer_.WaitPull(i + 1)) return;
      std::this_thread::sleep_for(50ms);
      emitted = i + 1;
      producer_.Emit(chunks[i], i == 2);
    }
  });
  ASSERT_TRUE(c.ReadUntil([](const std::string& s) { return s.find("\r\n\r\n") != s.npos; }));
  size_t end = c.input().find("\r\n\r\n");
  std::string head = c.input().substr(0, end + 4);
  c.input().erase(0, end + 4);
  EXPECT_EQ(StatusOf(head), 200) << head;
  EXPECT_NE(head.find("Transfer-Encoding: chunked"), std::string::npos) << head;
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;

  auto first = steady_clock::now();
  EXPECT_EQ(TakeChunk(c), "one\n");
  EXPECT_LT(emitted.load(), 3) << "the first chunk must arrive before the last is produced";
  EXPECT_EQ(TakeChunk(c), "two two\n");
  EXPECT_EQ(TakeChunk(c), "three three three\n");
  EXPECT_GE(steady_clock::now() - first, 50ms);
  EXPECT_TRUE(c.ReadUntil([](const std::string& s) { return s == "0\r\n\r\n"; }));
  producer.join();

  // The connection is reusable after the last chunk.
  c.input().clear();
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.TakeResponse()), 200);
}

// A streamed answer is written in pieces (head, chunks, last chunk). Without TCP_NODELAY the
// kernel holds each piece after the first until the client acknowledges it, and a client
// delays that acknowledgement by 40 ms: every streamed answer on a kept-alive connection
// (a log read) took 40+ ms instead of well under one.
TEST_F(HttpServerTest, StreamedAnswersOnAKeptAliveConnectionAreNotHeldBack) {
  router_.Add("GET", "/once", [](const HttpRequest&, const auto&, Respond respond) {
    HttpResponse r;
    r.content_type = "text/plain";
    r.stream = [](ChunkSink sink) { sink("line\n", true); };
    respond(std::move(r));
  });
  Start();
  Client c(port_);
  constexpr int kRequests = 20;
  auto start = steady_clock::now();
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(c.Send("GET /once HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(c.ReadUntil([](const std::string& s) {
      return s.size() >= 5 && s.compare(s.size() - 5, 5, "0\r\n\r\n") == 0;
    })) << c.input();
    EXPECT_NE(c.input().find("line\n"), std::string::npos) << c.input();
    c.input().clear();
  }
  // 20 held answers take 800+ ms; unheld ones take a few ms even on a loaded machine.
  EXPECT_LT(steady_clock::now() - start, 400ms);
}

TEST_F(HttpServerTest, StreamStopsWhenTheClientGoesAway) {
  Start();
  {
    Client c(port_);
    ASSERT_TRUE(c.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(producer_.WaitPull(1));
    producer_.Emit("first", false);
    ASSERT_TRUE(producer_.WaitPull(2));
    ASSERT_TRUE(c.ReadUntil([](const std::string& s) { return s.find("first") != s.npos; }));
  }  // the client hangs up while the server waits for the second chunk
  // The server notices without writing (give it a moment); the sink still out stays harmless:
  // had the server not noticed, it would write "late" and ask for a third chunk.
  std::this_thread::sleep_for(200ms);
  producer_.Emit("late", false);
  EXPECT_TRUE(WaitConnections(0));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(producer_.pulls(), 2) << "no more pulls after the client left";
}

TEST_F(HttpServerTest, StreamToHttp10EndsWithTheConnection) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.Send("GET /stream HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(producer_.WaitPull(1));
  producer_.Emit("abc", false);
  ASSERT_TRUE(producer_.WaitPull(2));
  producer_.Emit("def", true);
  ASSERT_TRUE(c.ReadToEof());
  EXPECT_EQ(c.input().rfind("HTTP/1.0 200", 0), 0u) << c.input();
  EXPECT_EQ(c.input().find("chunked"), std::string::npos) << c.input();
  EXPECT_EQ(c.input().substr(c.input().size() - 6), "abcdef");
}

TEST_F(HttpServerTest, HeadOfAStreamSendsOnlyTheHeader) {
  Start();
  Client c(port_);
  ASSERT_TRUE(c.Send("HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(c.ReadUntil([](const std::string& s) { return s.find("\r\n\r\n") != s.npos; }));
  ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(c.ReadUntil([](const std::string& s) { return s.find("hello world") != s.npos; }));
  EXPECT_EQ(c.input().find("\r\n\r\nHTTP/1.1 200"), c.input().find("\r\n\r\n")) << c.input();
  EXPECT_EQ(producer_.pulls(), 0);
}

// ---- ParseHttpRequest ----

TEST(ParseHttpRequestTest, ParsesConvertsAndChecksLimits) {
  HttpServerOptions opts;
  opts.body_limit = 10;
  opts.max_header_count = 3;
  auto r =
      ParseHttpRequest("POST /a%2Fb?x=1 HTTP/1.1\r\nX-Key: K\r\nContent-Length: 2\r\n\r\nhi", opts);
  ASSERT_TRUE(std::holds_alternative<HttpRequest>(r));
  const auto& req = std::get<HttpRequest>(r);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/a%2Fb");
  EXPECT_EQ(req.Query("x"), "1");
  EXPECT_EQ(req.Header("x-key"), "K");
  EXPECT_EQ(req.body, "hi");
  EXPECT_EQ(std::get<int>(ParseHttpRequest("GET /a HTTP/1.1\r\nHost: x", opts)), 0);
  EXPECT_EQ(std::get<int>(ParseHttpRequest("GET /a HTTP/1.1\r\nContent-Length: 11\r\n\r\n", opts)),
            413);
  EXPECT_EQ(std::get<int>(
                ParseHttpRequest("GET /a HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", opts)),
            431);
  EXPECT_EQ(std::get<int>(ParseHttpRequest("GET a HTTP/1.1\r\n\r\n", opts)), 400);
}

}  // namespace
}  // namespace berth
