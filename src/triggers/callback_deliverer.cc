#include "triggers/callback_deliverer.h"

#include <curl/curl.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>

#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/log.h"
#include "common/random.h"

namespace berth {
namespace {

using json = nlohmann::json;

std::string Hex(const unsigned char* p, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return Hex(mac, len);
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

json TimeOrNull(const std::optional<TimePoint>& t) {
  return t ? json(FormatRfc3339(*t)) : json(nullptr);
}

}  // namespace

Result<std::string> LoadOrCreateCallbackSecret(const std::filesystem::path& path) {
  auto existing = ReadFile(path);
  if (existing.ok()) {
    std::string s = *existing;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    if (s.size() >= 32) return s;
    return Status::FailedPrecondition(path.string() + ": the callback secret is too short");
  }
  if (!existing.status().IsNotFound()) return existing.status();
  std::string secret = RandomUrlSafeToken(32);
  RETURN_IF_ERROR(WriteFileAtomic(path, secret + "\n", 0600));
  return secret;
}

std::vector<std::string> SplitHostList(std::string_view list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string_view item = list.substr(start, comma == list.npos ? list.npos : comma - start);
    std::string name;
    for (char c : item) {
      if (c != ' ' && c != '\t')
        name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (!name.empty()) out.push_back(name);
    if (comma == list.npos) break;
    start = comma + 1;
  }
  return out;
}

std::string HostSecret(std::string_view secret, std::string_view host) {
  return HmacSha256Hex(secret, host);
}

std::string SignCallbackBody(std::string_view key, std::string_view body) {
  return "sha256=" + HmacSha256Hex(key, body);
}

std::string CallbackBody(const JobRecord& job) {
  json j = {{"id", job.id},
            {"state", ToString(job.state)},
            {"exitCode", job.exit_code ? json(*job.exit_code) : json(nullptr)},
            {"reason", job.reason},
            {"createdAt", FormatRfc3339(job.created_at)},
            {"startedAt", TimeOrNull(job.started_at)},
            {"finishedAt", TimeOrNull(job.finished_at)},
            {"attempts", job.attempts},
            {"image", job.spec.image}};
  if (!job.schedule.empty()) j["schedule"] = job.schedule;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<int> CurlCallbackSender::Post(const std::string& url, const CallbackUrl& parts,
                                     const std::string& ip, const std::vector<std::string>& headers,
                                     const std::string& body, milliseconds timeout) {
  CURL* c = curl_easy_init();
  if (c == nullptr) return Status::ResourceExhausted("callback: curl_easy_init failed");
  std::string pin = parts.host + ":" + std::to_string(parts.port) + ":" +
                    (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip);
  curl_slist* resolve = curl_slist_append(nullptr, pin.c_str());
  curl_slist* list = nullptr;
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Discard);
  CURLcode rc = curl_easy_perform(c);
  long code = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(list);
  curl_slist_free_all(resolve);
  curl_easy_cleanup(c);
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return Status::DeadlineExceeded(std::string("callback: ") + curl_easy_strerror(rc));
  }
  if (rc != CURLE_OK)
    return Status::Unavailable(std::string("callback: ") + curl_easy_strerror(rc));
  return static_cast<int>(code);
}

Result<std::vector<std::string>> ResolveWithGetaddrinfo(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) {
    return Status::Unavailable("resolve " + host + ": " + gai_strerror(rc));
  }
  std::vector<std::string> out;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    char text[NI_MAXHOST] = {};
    if (getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof(text), nullptr, 0, NI_NUMERICHOST) ==
        0) {
      out.push_back(text);
    }
  }
  freeaddrinfo(res);
  if (out.empty()) return Status::Unavailable("resolve " + host + ": no address");
  return out;
}

CallbackDeliverer::CallbackDeliverer(CallbackDelivererOptions opts, TriggerStore& outbox,
                                     Store& jobs, Clock& clock, CallbackSender& sender,
                                     CallbackResolver resolve)
    : opts_(std::move(opts)),
      outbox_(outbox),
      jobs_(jobs),
      clock_(clock),
      sender_(sender),
      resolve_(std::move(resolve)) {}

CallbackDeliverer::~CallbackDeliverer() { Stop(); }

void CallbackDeliverer::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void CallbackDeliverer::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CallbackDeliverer::Loop() {
  for (;;) {
    int n = RunDue();
    MutexLock lock(mu_);
    if (stopping_) return;
    if (n < opts_.batch) {
      auto until = std::chrono::steady_clock::now() + opts_.poll;
      while (!stopping_ && cv_.wait_until(lock, until) == std::cv_status::no_timeout) {
      }
    }
    if (stopping_) return;
  }
}

int CallbackDeliverer::RunDue() {
  // A claim outlives one POST: a crash mid-POST retries after it.
  auto claimed = outbox_.ClaimCallbacks(opts_.batch, opts_.timeout * 2 + milliseconds(5000));
  if (!claimed.ok()) {
    LogError("callbacks: claim deliveries", {{"error", claimed.status().ToString()}});
    return 0;
  }
  for (const CallbackDelivery& d : *claimed) {
    CallbackStatus after = Attempt(d);
    Status st = outbox_.RecordCallbackAttempt(d.job_id, after);
    if (!st.ok()) {
      LogError("record callback attempt", {{"job", d.job_id}, {"error", st.ToString()}});
    }
  }
  return static_cast<int>(claimed->size());
}

CallbackStatus CallbackDeliverer::Attempt(const CallbackDelivery& d) {
  CallbackStatus s = d.status;  // attempts already counts this one (the claim did)
  s.next_attempt_at.reset();
  auto fail = [&](std::string error, bool retry) {
    s.last_error = std::move(error);
    if (retry && s.attempts < opts_.max_attempts) {
      milliseconds delay = opts_.backoff;
      for (int i = 1; i < s.attempts && delay < opts_.backoff_max; ++i) delay *= 2;
      s.next_attempt_at = clock_.Now() + std::min(delay, opts_.backoff_max);
    } else {
      s.state = CallbackState::kFailed;
    }
    return s;
  };
  auto parts = ParseCallbackUrl(s.url);
  if (!parts.ok()) return fail(parts.status().message(), false);
  if (!opts_.policy.allowed_hosts.empty() &&
      !HostAllowed(opts_.policy.allowed_hosts, parts->host)) {
    return fail("host " + parts->host + " is not in CallbackAllowedHosts", false);
  }
  auto job = jobs_.GetJob(d.job_id);
  if (!job.ok()) return fail(job.status().ToString(), !job.status().IsNotFound());
  auto addrs = resolve_(parts->host, parts->port);
  if (!addrs.ok()) return fail(addrs.status().message(), true);
  for (const std::string& ip : *addrs) {
    if (Status st = CheckCallbackAddress(opts_.policy, ip); !st.ok()) {
      return fail(parts->host + ": " + st.message(), false);
    }
  }
  std::string body = CallbackBody(*job);
  std::vector<std::string> headers = {
      "Content-Type: application/json",
      "User-Agent: berth-callback",
      "X-Berth-Job: " + d.job_id,
      "X-Berth-Delivery-Attempt: " + std::to_string(s.attempts),
      "X-Berth-Signature: " + SignCallbackBody(HostSecret(opts_.secret, parts->host), body),
      "Expect:",
  };
  auto code = sender_.Post(s.url, *parts, addrs->front(), headers, body, opts_.timeout);
  if (!code.ok()) return fail(code.status().message(), true);
  if (*code >= 200 && *code < 300) {
    s.state = CallbackState::kDelivered;
    s.delivered_at = clock_.Now();
    s.last_error.clear();
    return s;
  }
  return fail("the receiver answered " + std::to_string(*code), true);
}

}  // namespace berth
