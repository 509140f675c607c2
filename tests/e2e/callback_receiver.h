// CallbackReceiver: a tiny HTTP server for end-to-end tests of completion callbacks. Listens on
// 127.0.0.1 (a free port), records every request, and answers the first `fail_first` requests
// of each job (by its X-Berth-Job header) with 500, the rest with 200.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace berth::e2e {

class CallbackReceiver {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    int answered = 0;  // the status code it got
  };

  explicit CallbackReceiver(int fail_first = 0);
  ~CallbackReceiver();
  CallbackReceiver(const CallbackReceiver&) = delete;
  CallbackReceiver& operator=(const CallbackReceiver&) = delete;

  std::string url(const std::string& path = "/hook") const;
  std::vector<Request> Requests() const;
  // Waits until `n` requests were answered 2xx, or `timeout`; true when they were.
  bool WaitForDelivered(size_t n, std::chrono::seconds timeout) const;

 private:
  void Serve();
  void Handle(int fd);

  int fail_first_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Request> requests_;            // GUARDED_BY(mu_)
  std::map<std::string, int> seen_per_job_;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace berth::e2e
