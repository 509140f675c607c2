#include "api/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
#include <optional>
#include <thread>
#include <utility>  // Boost 1.74 under C++20 needs this before Beast.
#include <vector>

namespace berth {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Router& router, const HttpServerOptions& opts)
      : stream_(std::move(socket)), router_(router), opts_(opts) {}

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(opts_.body_limit);
    parser_->header_limit(opts_.header_limit);
    stream_.expires_after(std::chrono::milliseconds(opts_.read_timeout.count()));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::connection_reset) {
      return Close();
    }
    if (ec == http::error::body_limit) return Fail(413, "request body too large");
    if (ec == http::error::header_limit) return Fail(431, "request headers too large");
    if (ec) {
      if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
        return Fail(400, "malformed HTTP request: " + ec.message());
      }
      return Close();
    }
    auto& msg = parser_->get();
    version_ = msg.version();
    keep_alive_ = msg.keep_alive();
    HttpRequest req;
    req.method = std::string(msg.method_string());
    if (!ParseTarget(std::string_view(msg.target().data(), msg.target().size()), req.path,
                     req.query)) {
      return Fail(400, "malformed request target");
    }
    for (const auto& field : msg) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace(std::move(name), std::string(field.value()));
    }
    req.body = std::move(msg.body());
    head_ = req.method == "HEAD";
    stream_.expires_never();
    router_.Handle(req, [self = shared_from_this()](HttpResponse resp) {
      net::post(self->stream_.get_executor(),
                [self, resp = std::move(resp)]() mutable { self->Write(std::move(resp)); });
    });
  }

  void Fail(int status, const std::string& message) {
    keep_alive_ = false;
    Write(JsonError(status, message));
  }

  void Write(HttpResponse resp) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(resp.status), version_ ? version_ : 11);
    res->set(http::field::server, "berth");
    res->set(http::field::content_type, resp.content_type);
    for (auto& [k, v] : resp.headers) res->set(k, v);
    res->keep_alive(keep_alive_);
    if (!head_) res->body() = std::move(resp.body);
    res->prepare_payload();
    if (head_) res->content_length(resp.body.size());
    stream_.expires_after(std::chrono::milliseconds(opts_.read_timeout.count()));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        if (!self->keep_alive_) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const Router& router_;
  const HttpServerOptions& opts_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_ = false;
};

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServerOptions o, const Router& r)
      : opts(std::move(o)), router(r), ioc(opts.threads), acceptor(net::make_strand(ioc)) {}

  void Accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (!ec) std::make_shared<Session>(std::move(s), router, opts)->Start();
      if (acceptor.is_open()) Accept();
    });
  }

  HttpServerOptions opts;
  const Router& router;
  net::io_context ioc;
  tcp::acceptor acceptor;
};

HttpServer::HttpServer(HttpServerOptions opts, const Router& router)
    : impl_(std::make_unique<Impl>(std::move(opts), router)) {}

HttpServer::~HttpServer() = default;

Result<uint16_t> HttpServer::Listen() {
  beast::error_code ec;
  auto addr = net::ip::make_address(impl_->opts.host, ec);
  if (ec) return Status::InvalidArgument("bad listen address '" + impl_->opts.host + "'");
  tcp::endpoint ep(addr, impl_->opts.port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot listen on " + impl_->opts.host + ":" +
                               std::to_string(impl_->opts.port) + ": " + ec.message());
  }
  return a.local_endpoint().port();
}

void HttpServer::Run() {
  impl_->Accept();
  std::vector<std::thread> extra;
  for (int i = 1; i < impl_->opts.threads; ++i) {
    extra.emplace_back([this] { impl_->ioc.run(); });
  }
  impl_->ioc.run();
  for (auto& t : extra) t.join();
}

void HttpServer::Stop() {
  net::post(impl_->acceptor.get_executor(), [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  impl_->ioc.stop();
}

}  // namespace berth
