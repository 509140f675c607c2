// HttpServer: HTTP/1.1 over Boost.Beast, asynchronous, on a few threads. It reads a request
// (with size limits and a read timeout), hands it to the Router, and writes the answer whenever
// the handler gives it (handlers may answer later, from another thread). Beast stays inside
// http_server.cc. Listen and Run from one thread; Stop from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "api/router.h"
#include "common/clock.h"
#include "common/status.h"

namespace berth {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7071;               // 0 picks a free port
  int threads = 2;                    // I/O threads
  size_t body_limit = 1 << 20;        // larger bodies answer 413
  uint32_t header_limit = 16 << 10;   // larger headers answer 431
  milliseconds read_timeout{30'000};  // a request (or an idle keep-alive) may take this long
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions opts, const Router& router);
  ~HttpServer();

  // Binds and listens; returns the bound port.
  Result<uint16_t> Listen();

  // Serves until Stop; blocks.
  void Run();

  // Makes Run return. Connections in flight are dropped.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth
