#include "api/http_server.h"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>  // Boost 1.74 under C++20 needs this before Beast.
#include <vector>

namespace berth {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Parser = http::request_parser<http::string_body>;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr size_t kFirstReadBytes = 4096;        // what one read of an idle connection takes
constexpr size_t kMaxLingerBytes = 4 << 20;     // dropped after an error answer before closing
constexpr milliseconds kAcceptRetryDelay{100};  // after accept fails (out of descriptors)
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kBusy =
    "HTTP/1.1 503 Service Unavailable\r\nServer: berth\r\nContent-Type: application/json\r\n"
    "Retry-After: 1\r\nConnection: close\r\nContent-Length: 71\r\n\r\n"
    R"({"error":{"code":503,"message":"too many connections; try again later"}})";

// An io_context whose queued handlers can be destroyed before the context itself, so that
// sessions kept alive by outside references (streaming sinks) do not keep handlers alive.
class IoContext : public net::io_context {
 public:
  explicit IoContext(int threads) : net::io_context(threads) {}
  void DropPendingHandlers() { shutdown(); }
};

// What the server and its sessions share. Sessions hold it, so the io_context outlives them.
struct Shared {
  Shared(HttpServerOptions o, const Router& r)
      : opts(std::move(o)), router(r), ioc(std::max(1, opts.threads)) {}
  const HttpServerOptions opts;
  const Router& router;
  IoContext ioc;
  std::atomic<size_t> connections{0};
};

bool IsHttpError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

// The answer for a parse error: 413, 431, 400; 0 when the connection just ended or failed.
int StatusForParseError(const beast::error_code& ec) {
  if (ec == http::error::body_limit) return 413;
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == http::error::need_more) {
    return 0;
  }
  return IsHttpError(ec) ? 400 : 0;
}

std::string MessageFor(int status, const beast::error_code& ec, const HttpServerOptions& opts) {
  switch (status) {
    case 413:
      return "request body too large (limit " + std::to_string(opts.body_limit) + " bytes)";
    case 431:
      return "request headers too large (limit " + std::to_string(opts.header_limit) + " bytes)";
    default:
      return "malformed HTTP request: " + ec.message();
  }
}

// 431 when the request has more header fields than allowed, else 0.
int CheckHeaderCount(const Parser& p, const HttpServerOptions& opts) {
  size_t n = 0;
  for (auto it = p.get().begin(); it != p.get().end(); ++it) {
    if (++n > opts.max_header_count) return 431;
  }
  return 0;
}

// The transport-neutral request, or 400 for a malformed target.
std::variant<HttpRequest, int> ToHttpRequest(http::request<http::string_body>&& msg) {
  HttpRequest req;
  req.method = std::string(msg.method_string());
  if (!ParseTarget(std::string_view(msg.target().data(), msg.target().size()), req.path,
                   req.query)) {
    return 400;
  }
  for (const auto& field : msg) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers.emplace(std::move(name), std::string(field.value()));
  }
  req.body = std::move(msg.body());
  return req;
}

bool SafeHeaderText(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

template <class Body>
void SetHeaders(http::response<Body>& res, const HttpResponse& resp) {
  res.set(http::field::server, "berth");
  if (!resp.content_type.empty() && SafeHeaderText(resp.content_type)) {
    res.set(http::field::content_type, resp.content_type);
  }
  for (const auto& [k, v] : resp.headers) {
    if (!k.empty() && SafeHeaderText(k) && SafeHeaderText(v)) res.set(k, v);
  }
}

bool HasNoBody(int status) { return status < 200 || status == 204 || status == 304; }

// One connection. Everything runs on its strand (`executor_`); a Respond or a ChunkSink may be
// called from any thread and posts there.
// `Stream` is beast::tcp_stream (plain HTTP) or beast::ssl_stream<beast::tcp_stream> (HTTPS:
// the TLS handshake comes first, under the header timeout).
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  // `tls` (only for HTTPS) is the server's TLS context.
  template <class... Tls>
  Session(std::shared_ptr<Shared> shared, tcp::socket socket, Tls&... tls)
      : shared_(std::move(shared)),
        opts_(shared_->opts),
        executor_(socket.get_executor()),
        stream_(std::move(socket), tls...) {
    ++shared_->connections;
  }
  ~Session() { --shared_->connections; }

  void Start() {
    net::dispatch(executor_, [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Handshake();
      } else {
        self->WaitRequest();
      }
    });
  }

 private:
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  void Handshake() {
    if constexpr (kTls) {
      Tcp().expires_after(opts_.header_timeout);
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->WaitRequest();
                              });
    }
  }

  // ---- Reading a request ----

  // Waits (up to the idle timeout) for the first byte of the next request.
  void WaitRequest() {
    if (closed_) return;
    if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is already here
    Tcp().expires_after(opts_.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->Close();
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    request_start_ = std::chrono::steady_clock::now();
    version_ = 11;
    keep_alive_ = false;
    parser_.emplace();
    parser_->body_limit(opts_.body_limit);
    parser_->header_limit(opts_.header_limit);
    Tcp().expires_at(request_start_ + opts_.header_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    if (int code = CheckHeaderCount(*parser_, opts_)) {
      return Fail(code,
                  "too many header fields (limit " + std::to_string(opts_.max_header_count) + ")");
    }
    const auto& msg = parser_->get();
    version_ = msg.version();
    keep_alive_ = msg.keep_alive();
    if (parser_->is_done()) return Dispatch();
    if (version_ >= 11 && beast::iequals(msg[http::field::expect], "100-continue")) {
      Tcp().expires_after(opts_.write_timeout);
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         if (ec) return self->Close();
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    Tcp().expires_at(request_start_ + opts_.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->Dispatch();
                     });
  }

  void OnReadError(const beast::error_code& ec) {
    int code = StatusForParseError(ec);
    if (code == 0) return Close();  // EOF, reset, timeout (the stream has closed the socket)
    Fail(code, MessageFor(code, ec, opts_));
  }

  void Dispatch() {
    auto converted = ToHttpRequest(parser_->release());
    parser_.reset();
    if (auto* code = std::get_if<int>(&converted)) return Fail(*code, "malformed request target");
    HttpRequest req = std::move(std::get<HttpRequest>(converted));
    head_ = req.method == "HEAD";
    Tcp().expires_never();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    Respond respond = [self = this->shared_from_this(), answered](HttpResponse resp) {
      if (answered->exchange(true)) return;  // a second answer is a handler bug; drop it
      // Inline when answered on the session's own strand (most routes); else queued onto it.
      net::dispatch(self->executor_,
                    [self, resp = std::move(resp)]() mutable { self->Write(std::move(resp)); });
    };
    try {
      shared_->router.Handle(req, respond);
    } catch (const std::exception& e) {
      respond(JsonError(500, std::string("internal error: ") + e.what()));
    } catch (...) {
      respond(JsonError(500, "internal error"));
    }
  }

  // ---- Writing an answer ----

  // Answers an error and closes the connection after it.
  void Fail(int status, const std::string& message) {
    keep_alive_ = false;
    linger_ = true;
    Write(JsonError(status, message));
  }

  void Write(HttpResponse resp) {
    if (closed_) return;
    if (resp.status < 100 || resp.status > 999) resp = JsonError(500, "handler gave a bad status");
    if (resp.stream && !HasNoBody(resp.status)) return StartStream(std::move(resp));
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(resp.status), version_);
    SetHeaders(*res, resp);
    res->keep_alive(keep_alive_);
    size_t length = resp.body.size();
    bool no_body = HasNoBody(resp.status);
    if (!head_ && !no_body) res->body() = std::move(resp.body);
    res->prepare_payload();
    if (head_ && !no_body) res->content_length(length);
    Tcp().expires_after(opts_.write_timeout);
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
                        self->AfterResponse(ec);
                      });
  }

  void AfterResponse(const beast::error_code& ec) {
    if (ec) return Close();
    if (!keep_alive_) return linger_ ? Linger() : Close();
    WaitRequest();
  }

  // ---- Streaming (chunked) answers ----

  struct StreamHead {
    http::response<http::empty_body> res;
    http::response_serializer<http::empty_body> sr{res};
  };

  void StartStream(HttpResponse resp) {
    streaming_ = true;
    ++stream_id_;
    source_ = std::move(resp.stream);
    auto head = std::make_shared<StreamHead>();
    head->res.result(static_cast<http::status>(resp.status));
    head->res.version(version_);
    SetHeaders(head->res, resp);
    chunked_ = version_ >= 11;
    if (chunked_) {
      head->res.chunked(true);
    } else {
      keep_alive_ = false;  // HTTP/1.0: the body ends with the connection
    }
    head->res.keep_alive(keep_alive_);
    Tcp().expires_after(opts_.write_timeout);
    http::async_write_header(stream_, head->sr,
                             [self = this->shared_from_this(), head](beast::error_code ec, size_t) {
                               if (ec) return self->Abort();
                               if (self->head_) return self->EndStream();
                               self->WatchPeer();
                               self->PullChunk();
                             });
  }

  // Asks the source for the next chunk.
  void PullChunk() {
    waiting_ = true;
    uint64_t pull = ++pull_id_;
    Tcp().expires_never();  // the source may take its time; a gone client is seen by WatchPeer
    ChunkSink sink = [self = this->shared_from_this(), pull](std::string chunk, bool done) {
      net::post(self->executor_, [self, pull, chunk = std::move(chunk), done]() mutable {
        self->OnChunk(pull, std::move(chunk), done);
      });
    };
    try {
      source_(std::move(sink));
    } catch (...) {
      Abort();
    }
  }

  void OnChunk(uint64_t pull, std::string chunk, bool done) {
    if (!streaming_ || !waiting_ || pull != pull_id_) return;  // gone, or a stale/second call
    waiting_ = false;
    if (chunk.empty()) {
      if (!done) return Abort();  // breaks the source contract; would spin
      return FinishStream();
    }
    auto data = std::make_shared<std::string>(std::move(chunk));
    auto next = [self = this->shared_from_this(), data, done](beast::error_code ec, size_t) {
      if (ec) return self->Abort();
      if (done) return self->FinishStream();
      self->PullChunk();
    };
    Tcp().expires_after(opts_.write_timeout);
    if (chunked_) {
      net::async_write(stream_, http::make_chunk(net::buffer(*data)), std::move(next));
    } else {
      net::async_write(stream_, net::buffer(*data), std::move(next));
    }
  }

  void FinishStream() {
    if (!chunked_) return EndStream();
    Tcp().expires_after(opts_.write_timeout);
    net::async_write(stream_, http::make_chunk_last(),
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Abort();
                       self->EndStream();
                     });
  }

  void EndStream() {
    streaming_ = false;
    source_ = nullptr;
    ++stream_id_;
    beast::error_code ignored;
    Tcp().socket().cancel(ignored);  // the peer watch; nothing else is pending now
    AfterResponse({});
  }

  // While a stream runs, notices the client closing its side (or resetting).
  void WatchPeer() {
    Tcp().socket().async_wait(tcp::socket::wait_read, [self = this->shared_from_this(),
                                                       id = stream_id_](beast::error_code ec) {
      if (ec || !self->streaming_ || id != self->stream_id_) return;
      char c;
      ssize_t n = ::recv(self->Tcp().socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n > 0) return;  // a pipelined request: it waits for this answer to end
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return self->WatchPeer();
      }
      self->Abort();  // 0: the client closed its side; < 0: the connection failed
    });
  }

  // Ends a stream early: the client is gone or the source failed.
  void Abort() {
    streaming_ = false;
    waiting_ = false;
    source_ = nullptr;
    Close();
  }

  // ---- Closing ----

  // After an error answer: stop sending, read and drop what the client still sends (for a
  // moment), then close, so the client reads the answer instead of a reset.
  void Linger() {
    beast::error_code ec;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    Tcp().expires_after(opts_.linger_timeout);
    Drain();
  }

  void Drain() {
    drain_.resize(kFirstReadBytes);
    stream_.async_read_some(net::buffer(drain_),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kMaxLingerBytes) return self->Close();
                              self->Drain();
                            });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
    Tcp().close();
  }

  std::shared_ptr<Shared> shared_;  // first member: destroyed last, after the stream
  const HttpServerOptions& opts_;
  const net::any_io_executor executor_;  // the connection's strand
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  SteadyTime request_start_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_ = false;
  bool linger_ = false;  // close with Linger after this answer
  bool closed_ = false;
  std::string drain_;
  size_t drained_ = 0;
  // The streamed answer in progress.
  ChunkSource source_;
  bool streaming_ = false;
  bool chunked_ = false;
  bool waiting_ = false;  // a sink is out
  uint64_t pull_id_ = 0;
  uint64_t stream_id_ = 0;
};

// Answers a connection over the cap with a 503 without giving it a session.
// Over TLS the answer cannot be read before a handshake: the connection is just closed.
void Reject(tcp::socket socket, bool tls) {
  beast::error_code ec;
  if (tls) {
    socket.close(ec);
    return;
  }
  socket.non_blocking(true, ec);
  char buf[4096];
  for (int i = 0; i < 16 && !ec; ++i) socket.read_some(net::buffer(buf), ec);  // what has come
  ec = {};
  socket.write_some(net::buffer(kBusy.data(), kBusy.size()), ec);
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

// A server TLS context (TLS 1.2 and later) with the certificate chain and key of `opts`.
Result<net::ssl::context> LoadTls(const HttpServerOptions& opts) {
  if (opts.tls_cert_file.empty() || opts.tls_key_file.empty()) {
    return Status::InvalidArgument("TLS needs both a certificate file and a key file");
  }
  net::ssl::context ctx(net::ssl::context::tls_server);
  ctx.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                  net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                  net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
  beast::error_code ec;
  ctx.use_certificate_chain_file(opts.tls_cert_file, ec);
  if (ec) {
    return Status::InvalidArgument("TLS certificate " + opts.tls_cert_file + ": " + ec.message());
  }
  ctx.use_private_key_file(opts.tls_key_file, net::ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument("TLS key " + opts.tls_key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    return Status::InvalidArgument("TLS key " + opts.tls_key_file +
                                   " does not match the certificate " + opts.tls_cert_file);
  }
  return ctx;
}

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServerOptions o, const Router& r)
      : shared(std::make_shared<Shared>(std::move(o), r)),
        acceptor(net::make_strand(shared->ioc)),
        retry_timer(acceptor.get_executor()) {}

  ~Impl() {
    shared->ioc.stop();
    beast::error_code ec;
    acceptor.close(ec);
    shared->ioc.DropPendingHandlers();
  }

  void Accept() {
    acceptor.async_accept(
        net::make_strand(shared->ioc), [this](beast::error_code ec, tcp::socket socket) {
          if (!acceptor.is_open()) return;
          if (ec) {  // e.g. out of file descriptors: back off instead of spinning
            retry_timer.expires_after(kAcceptRetryDelay);
            retry_timer.async_wait([this](beast::error_code ec) {
              if (!ec) Accept();
            });
            return;
          }
          // Answers are written in pieces (a stream's head, chunks and last chunk): with
          // Nagle's algorithm on, each piece after the first waits for the client's delayed
          // acknowledgement (40 ms on Linux). Every write here is a whole message part.
          beast::error_code nodelay_ec;
          socket.set_option(tcp::no_delay(true), nodelay_ec);
          if (shared->connections.load() >= shared->opts.max_connections) {
            Reject(std::move(socket), tls.has_value());
          } else if (tls) {
            std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(shared,
                                                                            std::move(socket), *tls)
                ->Start();
          } else {
            std::make_shared<Session<beast::tcp_stream>>(shared, std::move(socket))->Start();
          }
          Accept();
        });
  }

  std::shared_ptr<Shared> shared;
  std::optional<net::ssl::context> tls;  // set by Listen when the options name a certificate
  tcp::acceptor acceptor;
  net::steady_timer retry_timer;
};

HttpServer::HttpServer(HttpServerOptions opts, const Router& router)
    : impl_(std::make_unique<Impl>(std::move(opts), router)) {}

HttpServer::~HttpServer() = default;

Result<uint16_t> HttpServer::Listen() {
  const HttpServerOptions& opts = impl_->shared->opts;
  if (!opts.tls_cert_file.empty() || !opts.tls_key_file.empty()) {
    ASSIGN_OR_RETURN(impl_->tls, LoadTls(opts));
  }
  beast::error_code ec;
  auto addr = net::ip::make_address(opts.host, ec);
  if (ec) {
    // A name (localhost): its first address, IPv4 first.
    tcp::resolver resolver(impl_->shared->ioc);
    auto found = resolver.resolve(opts.host, "", ec);
    if (ec || found.empty()) {
      return Status::InvalidArgument("bad listen address '" + opts.host + "'" +
                                     (ec ? ": " + ec.message() : ""));
    }
    addr = found.begin()->endpoint().address();
    for (const auto& entry : found) {
      if (entry.endpoint().address().is_v4()) {
        addr = entry.endpoint().address();
        break;
      }
    }
  }
  tcp::endpoint ep(addr, opts.port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot listen on " + opts.host + ":" + std::to_string(opts.port) +
                               ": " + ec.message());
  }
  return a.local_endpoint(ec).port();
}

void HttpServer::Run() {
  impl_->Accept();
  std::vector<std::thread> extra;
  for (int i = 1; i < impl_->shared->opts.threads; ++i) {
    extra.emplace_back([this] { impl_->shared->ioc.run(); });
  }
  impl_->shared->ioc.run();
  for (auto& t : extra) t.join();
}

void HttpServer::Stop() {
  net::post(impl_->acceptor.get_executor(), [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
    impl_->retry_timer.cancel();
  });
  impl_->shared->ioc.stop();
}

size_t HttpServer::connections() const { return impl_->shared->connections.load(); }

std::variant<HttpRequest, int> ParseHttpRequest(std::string_view bytes,
                                                const HttpServerOptions& opts) {
  Parser p;
  p.eager(true);
  p.body_limit(opts.body_limit);
  p.header_limit(opts.header_limit);
  net::const_buffer buf(bytes.data(), bytes.size());
  bool counted = false;
  while (!p.is_done()) {
    if (buf.size() == 0) return 0;
    beast::error_code ec;
    size_t n = p.put(buf, ec);
    buf += n;
    if (ec == http::error::need_more) {
      if (n == 0) return 0;
    } else if (ec) {
      int code = StatusForParseError(ec);
      return code == 0 ? 400 : code;
    }
    if (!counted && p.is_header_done()) {
      counted = true;
      if (int code = CheckHeaderCount(p, opts)) return code;
    }
    if (n == 0 && !p.is_done()) return 0;
  }
  if (!counted) {
    if (int code = CheckHeaderCount(p, opts)) return code;
  }
  return ToHttpRequest(p.release());
}

}  // namespace berth
