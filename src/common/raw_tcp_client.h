// RawTcpClient: a loopback TCP client for tests of the HTTP server, where every byte on the
// wire is the test's (malformed requests, slow readers, half-closed sockets). Reads wait at
// most a timeout. Header-only; not thread-safe (a plain value); not for production code.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "common/unique_fd.h"

namespace berth {

class RawTcpClient {
 public:
  using milliseconds = std::chrono::milliseconds;

  explicit RawTcpClient(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ && ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }

  bool connected() const { return connected_; }
  // What arrived and was not taken yet.
  std::string& input() { return in_; }
  // The server closed (or reset) the connection.
  bool eof() const { return eof_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void ShutdownWrite() { ::shutdown(fd_.get(), SHUT_WR); }
  void Close() { fd_.Reset(); }

  // Reads what arrives within `timeout` into input(); false once the server has closed.
  bool ReadSome(milliseconds timeout) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return true;
    char buf[65536];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }

  // Reads until `pred(input())` holds, the server closes, or `timeout`; pred's last answer.
  template <class Pred>
  bool ReadUntil(Pred pred, milliseconds timeout = milliseconds(5000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred(in_)) {
      if (eof_ || std::chrono::steady_clock::now() >= deadline) return pred(in_);
      ReadSome(milliseconds(10));
    }
    return true;
  }

  // Reads until the server closes the connection (true) or `timeout` passes (false).
  bool ReadToEof(milliseconds timeout = milliseconds(5000)) {
    ReadUntil([this](const std::string&) { return eof_; }, timeout);
    return eof_;
  }

  // Takes one whole response (framed by Content-Length, or none) off input(); when the server
  // closed first, whatever it sent; "" on timeout.
  std::string TakeResponse(milliseconds timeout = milliseconds(5000)) {
    ReadUntil([](const std::string& s) { return CompleteLength(s) != std::string::npos; }, timeout);
    size_t n = CompleteLength(in_);
    if (n == std::string::npos) return eof_ ? std::exchange(in_, "") : "";
    std::string r = in_.substr(0, n);
    in_.erase(0, n);
    return r;
  }

  // The length of the first complete response in `s` (headers, then Content-Length bytes),
  // or npos.
  static size_t CompleteLength(const std::string& s) {
    size_t end = s.find("\r\n\r\n");
    if (end == std::string::npos) return std::string::npos;
    size_t len = 0;
    size_t cl = s.find("Content-Length: ");
    if (cl != std::string::npos && cl < end) len = std::strtoul(s.c_str() + cl + 16, nullptr, 10);
    if (s.size() < end + 4 + len) return std::string::npos;
    return end + 4 + len;
  }

 private:
  UniqueFd fd_;
  bool connected_ = false;
  bool eof_ = false;
  std::string in_;
};

// The status code of a raw HTTP response, 0 when it is not one.
inline int StatusOf(const std::string& response) {
  if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0) return 0;
  return std::atoi(response.c_str() + 9);
}

}  // namespace berth
