// End-to-end: a battery of hostile requests against the real daemon, each with the answer it
// must get (malformed and deeply nested JSON, huge numbers, oversize bodies and headers, bad ids,
// path traversal, bad keys, smuggling-shaped headers, non-UTF-8, NUL bytes), then hostile
// connections (slowloris, half-closed, a thousand idle ones, more than the cap) - and after all
// of it the server still runs a normal job to Succeeded. Needs root (real containers).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>

#include "common/raw_tcp_client.h"
#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

using RawClient = RawTcpClient;
using json = nlohmann::json;

uint16_t PortOf(const std::string& url) {
  return static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
}

std::string Post(const std::string& target, const std::string& body,
                 const std::string& extra_headers = "") {
  return "POST " + target + " HTTP/1.1\r\nHost: t\r\n" + extra_headers +
         "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

std::string Get(const std::string& target, const std::string& extra_headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\n" + extra_headers + "\r\n";
}

struct Case {
  std::string name;
  std::string request;  // raw bytes
  int want;             // the answer's status
};

// The request battery. `key` is a function key; `master` the master key.
std::vector<Case> Battery(const std::string& key, const std::string& master) {
  const std::string submit = "/api/jobs?code=" + key;
  const std::string keyed = "x-functions-key: " + key + "\r\n";
  const std::string id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  const std::string deep(100000, '[');
  const std::string big_number = "1180591620717411303424";  // 2^70
  auto spec_with = [](const std::string& field, const std::string& value) {
    return R"({"image":"busybox","command":"true",")" + field + "\":" + value + "}";
  };
  std::vector<Case> c = {
      // Malformed JSON.
      {"truncated object", Post(submit, "{"), 400},
      {"missing value", Post(submit, R"({"image":})"), 400},
      {"array, not object", Post(submit, "[]"), 400},
      {"string, not object", Post(submit, R"("busybox")"), 400},
      {"null", Post(submit, "null"), 400},
      {"trailing comma", Post(submit, R"({"image":"busybox",})"), 400},
      {"single quotes", Post(submit, "{'image':'busybox'}"), 400},
      {"trailing garbage", Post(submit, R"({"image":"busybox"} {"x":1})"), 400},
      {"unknown field", Post(submit, R"({"image":"busybox","privileged":true})"), 400},
      {"empty image", Post(submit, R"({"image":""})"), 400},
      {"image not a string", Post(submit, R"({"image":5})"), 400},
      {"command of numbers", Post(submit, R"({"image":"busybox","command":[1,2]})"), 400},
      {"bad env name", Post(submit, spec_with("environmentVariables", R"({"A=B":"x"})")), 400},
      {"env value not a string", Post(submit, spec_with("environmentVariables", R"({"A":5})")),
       400},
      // Deep nesting.
      {"100000 unclosed [", Post(submit, deep), 400},
      {"100000 closed [ ]", Post(submit, deep + std::string(100000, ']')), 400},
      {"deep command", Post(submit, spec_with("command", deep + std::string(100000, ']'))), 400},
      // Numbers out of range.
      {"cpu 1e999", Post(submit, spec_with("cpu", "1e999")), 400},
      {"cpu -1", Post(submit, spec_with("cpu", "-1")), 400},
      {"cpu 2^70", Post(submit, spec_with("cpu", big_number)), 400},
      {"memoryInGB 1e999", Post(submit, spec_with("memoryInGB", "1e999")), 400},
      {"memoryInGB -1", Post(submit, spec_with("memoryInGB", "-1")), 400},
      {"memoryInGB 2^70", Post(submit, spec_with("memoryInGB", big_number)), 400},
      {"timeoutSeconds 1e999", Post(submit, spec_with("timeoutSeconds", "1e999")), 400},
      {"timeoutSeconds -1", Post(submit, spec_with("timeoutSeconds", "-1")), 400},
      {"timeoutSeconds 2^70", Post(submit, spec_with("timeoutSeconds", big_number)), 400},
      {"timeoutSeconds 1.5", Post(submit, spec_with("timeoutSeconds", "1.5")), 400},
      // Image references that climb out.
      {"image ../../etc", Post(submit, R"({"image":"../../etc"})"), 400},
      {"image busybox/../../x", Post(submit, R"({"image":"busybox/../../../etc/passwd"})"), 400},
      {"image /etc/passwd", Post(submit, R"({"image":"/etc/passwd"})"), 400},
      {"image with NUL escape", Post(submit, R"({"image":"busybox\u0000x"})"), 400},
      // Bytes that are not text.
      {"non-UTF-8 string", Post(submit, "{\"image\":\"\xff\xfe\"}"), 400},
      {"raw NUL in JSON", Post(submit, std::string("{\"image\":\"busy\0box\"}", 20)), 400},
      {"non-UTF-8 path", Get("/api/jobs/\xff\xfe"), 400},
      // Bodies.
      {"2 MiB body", Post(submit, std::string(2 << 20, ' ')), 413},
      {"absurd Content-Length",
       "POST " + submit + " HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
      {"10 GB Content-Length",
       "POST " + submit + " HTTP/1.1\r\nContent-Length: 10000000000\r\n\r\n", 413},
      {"negative Content-Length", "POST " + submit + " HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
       400},
      {"two Content-Lengths",
       "POST " + submit + " HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400},
      {"chunked body over the limit",
       "POST " + submit + " HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n" +
           std::string(0x200000, ' ') + "\r\n0\r\n\r\n",
       413},
      {"bad chunk size",
       "POST " + submit + " HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
       400},
      // Headers.
      {"20 KiB header", Get("/healthz", "X-Big: " + std::string(20 << 10, 'a') + "\r\n"), 431},
      {"200 headers",
       Get("/healthz",
           [] {
             std::string h;
             for (int i = 0; i < 200; ++i) h += "X-H" + std::to_string(i) + ": v\r\n";
             return h;
           }()),
       431},
      {"CR injection in a header", Get("/healthz", "X-A: a\rSet-Cookie: b\r\n"), 400},
      {"LF-only injection", Get("/healthz", "X-A: a\nX-B: b\r\n"), 400},
      {"NUL in a header", Get("/healthz", std::string("X-A: a\0b\r\n", 10)), 400},
      {"space before colon", Get("/healthz", "X-A : v\r\n"), 400},
      {"20000-char URL", Get("/api/jobs/" + std::string(20000, 'a')), 431},
      // Ids.
      {"malformed id", Get("/api/jobs/not-a-uuid"), 400},
      {"unknown id", Get("/api/jobs/" + id), 404},
      {"escaped traversal id", Get("/api/jobs/..%2F..%2Fetc%2Fpasswd"), 400},
      {"traversal path", Get("/api/jobs/../../etc/passwd"), 404},
      {"NUL id", Get("/api/jobs/%00"), 400},
      {"id with NUL suffix", Get("/api/jobs/" + id + "%00"), 400},
      {"malformed id logs", Get("/api/jobs/..%2F..%2Fetc/logs"), 400},
      {"bad escape", Get("/api/jobs/%zz"), 400},
      // Keys.
      {"no key", Post("/api/jobs", R"({"image":"busybox"})"), 401},
      {"wrong key", Post("/api/jobs?code=wrong", R"({"image":"busybox"})"), 401},
      {"prefix of the key", Post("/api/jobs?code=" + key.substr(0, key.size() - 1), "{}"), 401},
      {"empty code", Post("/api/jobs?code=", R"({"image":"busybox"})"), 401},
      {"key with CR", Post("/api/jobs", "{}", "x-functions-key: " + key + "\rX: y\r\n"), 400},
      {"function key on /admin", Get("/admin/host/keys", keyed), 403},
      {"no key on /admin", Get("/admin/functions/jobs/keys"), 401},
      {"wrong key on /admin", Get("/admin/host/keys?code=" + key + "x"), 401},
      {"master key on /admin", Get("/admin/host/keys?code=" + master), 200},
      // Methods and protocol.
      {"PATCH", "PATCH /api/jobs HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405},
      {"unknown method", "BREW /api/jobs HTTP/1.1\r\n\r\n", 405},
      {"TLS ClientHello",
       std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n", 400},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
      {"HTTP/9.9", "GET /healthz HTTP/9.9\r\n\r\n", 400},
      {"absolute-form target", "GET http://evil/healthz HTTP/1.1\r\n\r\n", 400},
      {"HTTP/1.0", "GET /healthz HTTP/1.0\r\n\r\n", 200},
      // Issue 10: NUL bytes, duplicated keys, per-job retries, reused idempotency keys.
      {"NUL in a command argument",
       Post(submit, R"({"image":"busybox","command":["echo","a\u0000b"]})"), 400},
      {"NUL in a shell command", Post(submit, R"({"image":"busybox","command":"echo a\u0000b"})"),
       400},
      {"NUL in an env value", Post(submit, spec_with("environmentVariables", R"({"A":"x\u0000"})")),
       400},
      {"NUL in a secure env value",
       Post(submit, spec_with("secureEnvironmentVariables", R"({"S":"\u0000"})")), 400},
      {"duplicated image", Post(submit, R"({"image":"busybox","image":"alpine"})"), 400},
      {"duplicated env name",
       Post(submit, spec_with("environmentVariables", R"({"A":"1","A":"2"})")), 400},
      {"maxRetries 11", Post(submit, spec_with("maxRetries", "11")), 400},
      {"maxRetries -1", Post(submit, spec_with("maxRetries", "-1")), 400},
      {"maxRetries 2^70", Post(submit, spec_with("maxRetries", big_number)), 400},
      {"maxRetries as text", Post(submit, spec_with("maxRetries", "\"2\"")), 400},
      {"NUL in the second argument",
       Post(submit, R"({"image":"busybox","command":["sh","-c","echo\u0000"]})"), 400},
      {"NUL at the start of an argument",
       Post(submit, R"({"image":"busybox","command":["\u0000echo"]})"), 400},
      {"NUL in an env name", Post(submit, spec_with("environmentVariables", R"({"A\u0000B":"v"})")),
       400},
      {"duplicated command", Post(submit, R"({"image":"busybox","command":"true","command":"id"})"),
       400},
      {"duplicated secure env name",
       Post(submit, spec_with("secureEnvironmentVariables", R"({"S":"1","S":"2"})")), 400},
      {"duplicated network",
       Post(submit, R"({"image":"busybox","network":"none","network":"host"})"), 400},
      {"duplicated key with different case is two keys",
       Post(submit,
            R"({"image":"busybox","command":"true","environmentVariables":{"a":"1","A":"2"}})"),
       202},
      {"maxRetries 2^64", Post(submit, spec_with("maxRetries", "18446744073709551616")), 400},
      {"maxRetries 1.5", Post(submit, spec_with("maxRetries", "1.5")), 400},
      {"maxRetries true", Post(submit, spec_with("maxRetries", "true")), 400},
      {"maxRetries null", Post(submit, spec_with("maxRetries", "null")), 400},
      {"maxRetries 0", Post(submit, spec_with("maxRetries", "0")), 202},
      {"maxRetries 10", Post(submit, spec_with("maxRetries", "10")), 202},
      {"idempotency key, first use",
       Post(submit, R"({"image":"busybox","command":"true"})", "Idempotency-Key: hostile-1\r\n"),
       202},
      {"idempotency key, same body again",
       Post(submit, R"({"command":"true","image":"busybox"})", "Idempotency-Key: hostile-1\r\n"),
       202},
      {"idempotency key, another body",
       Post(submit, R"({"image":"busybox","command":"false"})", "Idempotency-Key: hostile-1\r\n"),
       422},
      {"idempotency key, empty body (the default job)",
       Post(submit, "", "Idempotency-Key: hostile-1\r\n"), 422},
      {"chunked spec",
       "POST /api/jobs HTTP/1.1\r\n" + keyed +
           "Transfer-Encoding: chunked\r\n\r\n9\r\n{\"image\":\r\na\r\n\"busybox\"}\r\n0\r\n\r\n",
       202},
  };
  return c;
}

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
    // Room for a thousand idle connections (the daemon raises its own limit).
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 8192);
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  // The server is still up and answers a plain request.
  void ExpectAlive(BerthProcess& berth) {
    ASSERT_EQ(kill(berth.pid(), 0), 0) << "the daemon died:\n" << berth.ServerOutput();
    EXPECT_EQ(Http("GET", berth.url() + "/healthz").status, 200);
  }
};

std::string ReadKey(const std::filesystem::path& p) {
  FILE* f = fopen(p.c_str(), "r");
  if (f == nullptr) return "";
  char buf[256] = {};
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  std::string s(buf, n);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

TEST_F(HostileTest, BatteryThenConnectionsThenANormalJobSucceeds) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  uint16_t port = PortOf(berth.url());
  std::string master = ReadKey(berth.data_dir() / "master-key");
  ASSERT_FALSE(master.empty());

  // 1. Each hostile request on its own connection gets its intended answer.
  auto battery = Battery(berth.key(), master);
  EXPECT_GE(battery.size(), 100u);
  for (const Case& c : battery) {
    SCOPED_TRACE(c.name);
    RawClient client(port);
    ASSERT_TRUE(client.connected());
    client.Send(c.request);
    std::string r = client.TakeResponse(seconds(20));
    EXPECT_EQ(StatusOf(r), c.want) << c.name << " answered:\n" << r.substr(0, 300);
    if (c.want >= 400 && StatusOf(r) == c.want && c.want != 405) {
      EXPECT_NE(r.find("{\"error\":{\"code\":" + std::to_string(c.want)), std::string::npos)
          << c.name << ": the error is JSON\n"
          << r.substr(0, 300);
    }
  }
  ExpectAlive(berth);

  // 2. Pipelined requests are answered in order on one connection.
  {
    RawClient client(port);
    client.Send(Get("/healthz") + Get("/api/jobs/nope") + Get("/nowhere"));
    EXPECT_EQ(StatusOf(client.TakeResponse(seconds(20))), 200);
    EXPECT_EQ(StatusOf(client.TakeResponse(seconds(20))), 400);
    EXPECT_EQ(StatusOf(client.TakeResponse(seconds(20))), 404);
  }

  // 3. Half-closed: the request is answered after the client shut its sending side.
  {
    RawClient client(port);
    client.Send(Post("/api/jobs?code=" + berth.key(), R"({"image":"busybox","command":"true"})"));
    client.ShutdownWrite();
    EXPECT_EQ(StatusOf(client.TakeResponse(seconds(20))), 202);
    EXPECT_TRUE(client.ReadToEof(seconds(5)));
  }
  {
    RawClient client(port);  // half-closed in the middle of its headers
    client.Send("POST /api/jobs HTTP/1.1\r\nContent-Le");
    client.ShutdownWrite();
    EXPECT_TRUE(client.ReadToEof(seconds(5)));
  }

  // 4. Slowloris: headers trickled a byte at a time are cut off at the header timeout (10 s).
  {
    RawClient client(port);
    std::string req = "POST /api/jobs HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    auto start = steady_clock::now();
    bool cut = false;
    for (size_t i = 0; !cut && steady_clock::now() - start < seconds(20); ++i) {
      client.Send(i < req.size() ? req.substr(i, 1) : "a");
      cut = !client.ReadSome(milliseconds(250));
    }
    EXPECT_TRUE(cut) << "a slowloris client was not cut off";
    EXPECT_LT(steady_clock::now() - start, seconds(15));
  }
  ExpectAlive(berth);

  // 5. A thousand idle connections: the server still answers; connections past the cap (1024)
  // are turned away with 503 at once.
  {
    std::vector<std::unique_ptr<RawClient>> idle;
    for (int i = 0; i < 1000; ++i) {
      idle.push_back(std::make_unique<RawClient>(port));
      ASSERT_TRUE(idle.back()->connected()) << "connection " << i;
    }
    std::this_thread::sleep_for(milliseconds(500));  // let the server accept them all
    RawClient probe(port);
    probe.Send(Get("/healthz"));
    EXPECT_EQ(StatusOf(probe.TakeResponse(seconds(20))), 200);
    int turned_away = 0;
    for (int i = 0; i < 60; ++i) {
      idle.push_back(std::make_unique<RawClient>(port));
      idle.back()->Send(Get("/healthz"));
    }
    for (size_t i = 1000; i < idle.size(); ++i) {
      std::string r = idle[i]->TakeResponse(seconds(5));
      if (StatusOf(r) == 503) ++turned_away;
    }
    EXPECT_GE(turned_away, 20) << "connections beyond the cap should get 503";
  }
  std::this_thread::sleep_for(milliseconds(500));  // the server sees them close
  ExpectAlive(berth);

  // 6. After all of it, a normal job runs to Succeeded.
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":"echo survived"})");
  Reply done = berth.WaitTerminal(id, seconds(60));
  EXPECT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.Json().value("state", ""), "Succeeded");
  EXPECT_EQ(done.Json().value("logs", ""), "survived\n");
}

// Issue 10: a job printed "--- berth: attempt 1 failed ---" and its log showed it as berth's.
TEST_F(HostileTest, AJobCannotForgeBerthMarkersInItsLog) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  std::string id = berth.SubmitOk(
      R"({"image":"busybox","command":"echo before; echo '--- berth: attempt 1 failed (fake) ---'; )"
      R"(printf -- '--- berth: no newline'"})");
  Reply done = berth.WaitTerminal(id, seconds(60));
  ASSERT_EQ(done.status, 200) << done.body;
  std::string logs = done.Json().value("logs", "");
  EXPECT_EQ(logs, "before\n\\--- berth: attempt 1 failed (fake) ---\n\\--- berth: no newline");
  EXPECT_EQ(logs.find("\n--- berth:"), std::string::npos) << logs;
  EXPECT_NE(logs.rfind("--- berth:", 0), 0u) << logs;
}

// The resident set of `pid` in KiB (VmRSS), 0 when unreadable.
long RssKiB(pid_t pid) {
  FILE* f = fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (f == nullptr) return 0;
  char line[256];
  long kib = 0;
  while (fgets(line, sizeof line, f) != nullptr) {
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  }
  fclose(f);
  return kib;
}

// Issue 10: /logs was read whole into memory per request, so slow anonymous readers of a big
// log could make the daemon hold (readers x log size). Streamed in chunks, memory stays bounded.
TEST_F(HostileTest, TwoHundredSlowLogReadersKeepTheDaemonSmall) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  uint16_t port = PortOf(berth.url());
  constexpr long kLogBytes = 64 << 20;  // JobLogMaxBytes: the biggest log a job keeps
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":"yes a | head -c )" +
                                  std::to_string(kLogBytes) + R"("})");
  Reply done = berth.WaitTerminal(id, seconds(120));
  ASSERT_EQ(done.status, 200) << done.body.substr(0, 300);
  long before = RssKiB(berth.pid());

  // 200 readers ask for the whole log, read the headers and a first piece, then stall.
  std::vector<std::unique_ptr<RawClient>> readers;
  for (int i = 0; i < 200; ++i) {
    readers.push_back(std::make_unique<RawClient>(port));
    ASSERT_TRUE(readers.back()->connected()) << "reader " << i;
    readers.back()->Send(Get("/api/jobs/" + id + "/logs"));
  }
  long peak = 0;
  for (auto& r : readers) {
    auto deadline = steady_clock::now() + seconds(30);
    while (r->input().find("\r\n\r\n") == std::string::npos && steady_clock::now() < deadline) {
      r->ReadSome(milliseconds(20));
    }
    EXPECT_EQ(StatusOf(r->input()), 200) << r->input().substr(0, 200);
    peak = std::max(peak, RssKiB(berth.pid()));
  }
  for (int i = 0; i < 20; ++i) {  // the daemon goes on filling the stalled sockets' buffers
    std::this_thread::sleep_for(milliseconds(100));
    peak = std::max(peak, RssKiB(berth.pid()));
  }
  EXPECT_LT(peak, 200 * 1024) << "RSS before the readers: " << before << " KiB";
  EXPECT_LT(peak - before, 100 * 1024) << "RSS before the readers: " << before << " KiB";

  // One reader that reads to the end gets the whole log.
  Reply whole = Http("GET", berth.url() + "/api/jobs/" + id + "/logs");
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body.size(), static_cast<size_t>(kLogBytes));
  EXPECT_EQ(whole.body.find_first_not_of("a\n"), std::string::npos);
  readers.clear();

  ExpectAlive(berth);
  std::string normal = berth.SubmitOk(R"({"image":"busybox","command":"echo still fine"})");
  Reply ok = berth.WaitTerminal(normal, seconds(60));
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.Json().value("logs", ""), "still fine\n");
}

// Issue 10: each status body carried up to the last 4 MiB of the log, so a thousand slow
// anonymous readers of a big job's status made the daemon hold gigabytes. A status carries the
// log's last 64 KiB (the whole log streams from /logs).
TEST_F(HostileTest, AThousandSlowStatusReadersKeepTheDaemonSmall) {
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  uint16_t port = PortOf(berth.url());
  constexpr long kLogBytes = 64 << 20;
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":"yes a | head -c )" +
                                  std::to_string(kLogBytes) + R"("})");
  Reply done = berth.WaitTerminal(id, seconds(120));
  ASSERT_EQ(done.status, 200) << done.body.substr(0, 300);
  EXPECT_EQ(done.Json().value("logs", "").size(), size_t{64} << 10);
  EXPECT_TRUE(done.Json().value("logsTruncated", false));
  long before = RssKiB(berth.pid());

  // A thousand readers ask for the status at once and read nothing of the answer.
  std::vector<std::unique_ptr<RawClient>> readers;
  for (int i = 0; i < 1000; ++i) {
    readers.push_back(std::make_unique<RawClient>(port));
    ASSERT_TRUE(readers.back()->connected()) << "reader " << i;
    readers.back()->Send(Get("/api/jobs/" + id));
  }
  long peak = 0;
  for (int i = 0; i < 50; ++i) {  // the daemon renders and writes what the sockets take
    std::this_thread::sleep_for(milliseconds(100));
    peak = std::max(peak, RssKiB(berth.pid()));
  }
  EXPECT_LT(peak, 200 * 1024) << "RSS before the readers: " << before << " KiB";
  // Every reader gets its answer once it reads.
  int answered = 0;
  for (auto& r : readers) {
    if (StatusOf(r->TakeResponse(seconds(30))) == 200) ++answered;
  }
  EXPECT_EQ(answered, 1000);
  readers.clear();

  ExpectAlive(berth);
  std::string normal = berth.SubmitOk(R"({"image":"busybox","command":"echo still fine"})");
  Reply ok = berth.WaitTerminal(normal, seconds(60));
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.Json().value("logs", ""), "still fine\n");
}

// A listing shows no command or environment, so it must not read them: 250 jobs with specs
// near the 1 MiB body limit, listed 1,000 at a time by 100 callers at once, leave the daemon
// small (the store once parsed every listed spec: 250 MiB per list).
TEST_F(HostileTest, ListingJobsWithHugeSpecsKeepsTheDaemonSmall) {
  BerthProcess berth(json{{"DispatchPaused", true}});
  ASSERT_FALSE(berth.url().empty());
  uint16_t port = PortOf(berth.url());
  const std::string spec =
      R"({"image":"busybox","command":"echo )" + std::string(1000 * 1000, 'x') + R"("})";
  for (int i = 0; i < 250; ++i) ASSERT_EQ(berth.Submit(spec).status, 202) << "job " << i;
  long before = RssKiB(berth.pid());

  std::vector<std::unique_ptr<RawClient>> readers;
  for (int i = 0; i < 100; ++i) {
    readers.push_back(std::make_unique<RawClient>(port));
    ASSERT_TRUE(readers.back()->connected()) << "reader " << i;
    readers.back()->Send(Get("/api/jobs?limit=1000&code=" + berth.key()));
  }
  std::atomic<long> peak{0};
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling) {
      peak = std::max(peak.load(), RssKiB(berth.pid()));
      std::this_thread::sleep_for(milliseconds(20));
    }
  });
  int listed_all = 0;
  for (auto& r : readers) {
    std::string response = r->TakeResponse(seconds(60));
    if (StatusOf(response) != 200) continue;
    json body = json::parse(response.substr(response.find("\r\n\r\n") + 4), nullptr, false);
    if (!body.is_discarded() && body["jobs"].size() == 250u) ++listed_all;
  }
  sampling = false;
  sampler.join();
  EXPECT_EQ(listed_all, 100);
  EXPECT_LT(peak.load(), 200 * 1024) << "RSS before the listings: " << before << " KiB";
  readers.clear();
  ExpectAlive(berth);
}

}  // namespace
}  // namespace berth::e2e
