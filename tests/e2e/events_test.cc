// End-to-end: GET /api/events streams a real job's state changes as Server-Sent Events.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

struct Sse {
  std::string text;
  std::string stop_at;  // the transfer ends once `text` holds this
};

size_t OnSse(char* d, size_t s, size_t n, void* p) {
  auto* sse = static_cast<Sse*>(p);
  sse->text.append(d, s * n);
  return sse->text.find(sse->stop_at) != std::string::npos ? 0 : s * n;  // 0 aborts
}

TEST(EventsTest, AJobsStateChangesArriveAsServerSentEvents) {
  if (geteuid() != 0) GTEST_FAIL() << "end-to-end tests need root (real containers)";
  BerthProcess berth;
  ASSERT_FALSE(berth.url().empty());
  Sse sse;
  sse.stop_at = "\"state\":\"Succeeded\"";
  long status = 0;
  std::string content_type;
  std::thread reader([&] {
    CURL* c = curl_easy_init();
    std::string url = berth.url() + "/api/events?code=" + berth.key();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnSse);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sse);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 90L);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    char* ct = nullptr;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct != nullptr) content_type = ct;
    curl_easy_cleanup(c);
  });
  // Submit once the stream is open (its first chunk is a comment sent at once).
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::string id = berth.SubmitOk(R"({"image":"busybox","command":"echo hi"})");
  reader.join();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(content_type, "text/event-stream");
  for (const char* state : {"Queued", "Pending", "Running", "Succeeded"}) {
    EXPECT_NE(sse.text.find("\"id\":\"" + id + "\",\"reason\":"), std::string::npos) << sse.text;
    EXPECT_NE(sse.text.find("\"state\":\"" + std::string(state) + "\""), std::string::npos)
        << state << " missing from:\n"
        << sse.text;
  }
  EXPECT_NE(sse.text.find("event: job\ndata: {\"exitCode\":0,\"id\":\"" + id +
                          "\",\"reason\":\"Completed\",\"state\":\"Succeeded\"}\n\n"),
            std::string::npos)
      << sse.text;
  // In order: Queued before Running before Succeeded.
  EXPECT_LT(sse.text.find("\"state\":\"Queued\""), sse.text.find("\"state\":\"Running\""));
  EXPECT_LT(sse.text.find("\"state\":\"Running\""), sse.text.find("\"state\":\"Succeeded\""));
}

}  // namespace
}  // namespace berth::e2e
