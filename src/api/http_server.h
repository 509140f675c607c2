// HttpServer: HTTP/1.1 over Boost.Beast, asynchronous, on a few threads. It reads a request
// (with size, count and time limits), hands it to the Router, and writes the answer whenever the
// handler gives it (handlers may answer later, from another thread), as one body or streamed in
// chunks (HttpResponse::stream). Beast stays inside http_server.cc. Listen and Run from one
// thread; Stop from any thread.
//
// Hostile clients: a request over a limit gets its 4xx and the connection is closed (after
// draining a little of what the client still sends, so it can read the answer); a client that
// trickles its headers (slowloris) or idles is cut off; connections over the cap get a 503 and
// are closed at once. HTTP/1.0 (no keep-alive unless asked, no chunking: a streamed body ends
// with the connection), pipelined requests (answered in order) and half-closed connections (the
// request is answered, then the connection closed) work. A handler that throws answers 500.
// With a certificate and key (HttpServerOptions::tls_*), every connection speaks TLS (OpenSSL
// through Boost.Asio's ssl stream); the handshake counts against the header timeout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "api/http_types.h"
#include "api/router.h"
#include "common/clock.h"
#include "common/status.h"

namespace berth {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7071;              // 0 picks a free port
  int threads = 2;                   // I/O threads
  size_t body_limit = 1 << 20;       // larger bodies answer 413 (a larger Content-Length at once)
  uint32_t header_limit = 16 << 10;  // a request line plus headers larger than this answer 431
  size_t max_header_count = 100;     // more header fields answer 431
  // From a request's first byte to the end of its headers; a client trickling its headers
  // (slowloris) is cut off after this.
  milliseconds header_timeout{10'000};
  milliseconds read_timeout{30'000};   // from a request's first byte to the end of its body
  milliseconds idle_timeout{30'000};   // a connection waiting for its (next) request is closed
  milliseconds write_timeout{30'000};  // a response, or one chunk of a stream, must be taken
  size_t max_connections = 1024;       // connections beyond this get a 503 and are closed
  // After an error answer: how long to read and drop what the client still sends before closing,
  // so that it sees the answer rather than a reset.
  milliseconds linger_timeout{1'000};
  // HTTPS: PEM files of the certificate (chain) and its private key; both empty = plain HTTP.
  // Listen fails when they cannot be read or do not match.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions opts, const Router& router);
  // Drops every connection. A streaming sink that outlives the server stays harmless to call.
  ~HttpServer();

  // Binds and listens; returns the bound port.
  Result<uint16_t> Listen();

  // Serves until Stop; blocks.
  void Run();

  // Makes Run return. Connections in flight are dropped.
  void Stop();

  // Connections open now (for tests and metrics).
  size_t connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What the server makes of `bytes` as the start of a connection: the first request, parsed and
// converted with the server's parser, limits and checks; or the status code the server would
// answer instead (400 malformed, 413 body too large, 431 headers too large or too many), or 0
// when `bytes` end before the request does. For tests and fuzzing.
std::variant<HttpRequest, int> ParseHttpRequest(std::string_view bytes,
                                                const HttpServerOptions& opts);

}  // namespace berth
