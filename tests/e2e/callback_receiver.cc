#include "tests/e2e/callback_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>

namespace berth::e2e {

CallbackReceiver::CallbackReceiver(int fail_first) : fail_first_(fail_first) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  listen(listen_fd_, 64);
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

CallbackReceiver::~CallbackReceiver() {
  stop_ = true;
  thread_.join();
  close(listen_fd_);
}

std::string CallbackReceiver::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<CallbackReceiver::Request> CallbackReceiver::Requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

bool CallbackReceiver::WaitForDelivered(size_t n, std::chrono::seconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    size_t ok = 0;
    for (const Request& r : Requests()) ok += r.answered / 100 == 2;
    if (ok >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void CallbackReceiver::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Handle(fd);
    close(fd);
  }
}

void CallbackReceiver::Handle(int fd) {
  std::string data;
  char buf[4096];
  size_t header_end = std::string::npos;
  size_t want = 0;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return;
    data.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos) {
      header_end = data.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      size_t cl = std::string::npos;
      std::string lower = data.substr(0, header_end);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      cl = lower.find("content-length:");
      want = cl == std::string::npos ? 0 : std::stoul(lower.substr(cl + 15));
    }
    if (data.size() >= header_end + 4 + want) break;
  }
  Request r;
  size_t line_end = data.find("\r\n");
  std::string first = data.substr(0, line_end);
  size_t sp1 = first.find(' '), sp2 = first.find(' ', sp1 + 1);
  r.method = first.substr(0, sp1);
  r.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t pos = line_end + 2;
  while (pos < header_end) {
    size_t e = data.find("\r\n", pos);
    std::string h = data.substr(pos, e - pos);
    size_t colon = h.find(':');
    if (colon != std::string::npos) {
      std::string name = h.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string v = h.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      r.headers[name] = v;
    }
    pos = e + 2;
  }
  r.body = data.substr(header_end + 4, want);
  {
    std::lock_guard lock(mu_);
    int seen = seen_per_job_[r.headers["x-berth-job"]]++;
    r.answered = seen < fail_first_ ? 500 : 200;
    requests_.push_back(r);
  }
  std::string reply = "HTTP/1.1 " + std::to_string(r.answered) +
                      (r.answered == 200 ? " OK" : " Internal Server Error") +
                      "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  (void)!write(fd, reply.data(), reply.size());
}

}  // namespace berth::e2e
