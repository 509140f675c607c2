// CallbackDeliverer: the outbox relay for completion callbacks. When a job with a callbackUrl
// ends, the store writes a Pending delivery in the same transaction as the job's terminal state
// (store/trigger_store.h), so an ended job's callback survives any crash. This deliverer, on a
// thread of its own, claims due deliveries (a lease, so a crash mid-POST only delays a retry),
// POSTs the job's final status JSON, and records the outcome: Delivered on a 2xx, else a retry
// after a doubling back-off until CallbackMaxAttempts, then Failed. The job path never waits on
// it. Delivery is at-least-once: a receiver that must not act twice keys on X-Berth-Job.
//
// Each POST carries `X-Berth-Signature: sha256=<hex HMAC-SHA256 of the body>`, keyed by the
// target host's secret: HostSecret(callback secret, host), so each receiving host gets its own
// key and cannot sign for another. Thread-safe.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "store/store.h"
#include "store/trigger_store.h"
#include "triggers/callback_policy.h"

namespace berth {

// Sends one POST to `ip` (already checked) as `url` (its host name kept for TLS and Host:).
class CallbackSender {
 public:
  virtual ~CallbackSender() = default;
  // The HTTP status, or Unavailable/DeadlineExceeded for a transport failure.
  virtual Result<int> Post(const std::string& url, const CallbackUrl& parts, const std::string& ip,
                           const std::vector<std::string>& headers, const std::string& body,
                           milliseconds timeout) = 0;
};

// libcurl: no redirects, no proxies, http and https only, the connection pinned to `ip`.
class CurlCallbackSender : public CallbackSender {
 public:
  Result<int> Post(const std::string& url, const CallbackUrl& parts, const std::string& ip,
                   const std::vector<std::string>& headers, const std::string& body,
                   milliseconds timeout) override;
};

// Host name to addresses (getaddrinfo in production).
using CallbackResolver =
    std::function<Result<std::vector<std::string>>(const std::string& host, uint16_t port)>;
Result<std::vector<std::string>> ResolveWithGetaddrinfo(const std::string& host, uint16_t port);

// The node's callback secret, kept in `path` (mode 0600; 32 random bytes, URL-safe base64),
// made on first use.
Result<std::string> LoadOrCreateCallbackSecret(const std::filesystem::path& path);

// "a.example, *.b.example" as trimmed, lower-cased, non-empty names.
std::vector<std::string> SplitHostList(std::string_view list);

// The per-host signing key: hex HMAC-SHA256(secret, lower-case host).
std::string HostSecret(std::string_view secret, std::string_view host);
// "sha256=" + hex HMAC-SHA256(key, body).
std::string SignCallbackBody(std::string_view key, std::string_view body);
// The JSON a callback carries: the job's final status (id, state, exitCode, reason, times,
// attempts, image, schedule when set). Never secrets, never the log.
std::string CallbackBody(const JobRecord& job);

struct CallbackDelivererOptions {
  int max_attempts = 10;              // CallbackMaxAttempts: POSTs before it is Failed
  milliseconds backoff{1000};         // CallbackBackoffMs: the first retry's delay; doubles
  milliseconds backoff_max{300'000};  // the delay never exceeds this (5 min)
  milliseconds timeout{10'000};       // one POST, connect to last byte
  CallbackPolicy policy;              // where callbacks may go
  std::string secret;                 // the node's callback secret (see HostSecret)
  milliseconds poll{500};             // how often the outbox is looked at
  int batch = 16;                     // deliveries claimed at once
};

class CallbackDeliverer {
 public:
  // Every reference must outlive the deliverer.
  CallbackDeliverer(CallbackDelivererOptions opts, TriggerStore& outbox, Store& jobs, Clock& clock,
                    CallbackSender& sender, CallbackResolver resolve);
  ~CallbackDeliverer();
  CallbackDeliverer(const CallbackDeliverer&) = delete;
  CallbackDeliverer& operator=(const CallbackDeliverer&) = delete;

  void Start();
  void Stop();  // idempotent; waits for the POST in flight

  // One pass: claims and delivers what is due now. Returns how many it attempted. The loop's
  // step; tests call it directly.
  int RunDue();

 private:
  // One attempt; returns the delivery's state after it.
  CallbackStatus Attempt(const CallbackDelivery& d);
  void Loop();

  CallbackDelivererOptions opts_;
  TriggerStore& outbox_;
  Store& jobs_;
  Clock& clock_;
  CallbackSender& sender_;
  CallbackResolver resolve_;

  Mutex mu_;
  std::condition_variable_any cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace berth
