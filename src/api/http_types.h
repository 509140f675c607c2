// Transport-neutral HTTP request and response, so handlers are plain functions testable
// without a socket. The server (http_server.cc) converts from and to Boost.Beast.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth {

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string path;                            // the path as sent (still percent-encoded), no query
  std::map<std::string, std::string> query;    // decoded; the first of repeated names wins
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  // The header's value, or "" when absent. `name` is lower-case.
  std::string Header(std::string_view name) const;
  std::optional<std::string> Query(std::string_view name) const;
};

// A streamed (chunked) body. The server calls the source each time it is ready for more,
// passing a sink; the source calls the sink exactly once, possibly later and from any thread,
// with the next chunk, and `done` true on the last call (whose chunk may be empty). A source must
// not call the sink with an empty chunk unless `done`. If the client goes away the server stops
// calling the source (a sink called after that is ignored).
using ChunkSink = std::function<void(std::string chunk, bool done)>;
using ChunkSource = std::function<void(ChunkSink sink)>;

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  ChunkSource stream;  // when set, `body` is ignored and the body is sent chunked
};

using Respond = std::function<void(HttpResponse)>;

// {"error": {"code": status, "message": message}} with the given status.
HttpResponse JsonError(int status, std::string_view message);

// Decodes %XX escapes (and '+' as space when `plus_is_space`). False on a malformed escape.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string& out);

// Splits a request target into its path (left encoded, so that an escaped '/' stays inside its
// segment) and its decoded query. False when the percent-encoding or the path is malformed.
bool ParseTarget(std::string_view target, std::string& path,
                 std::map<std::string, std::string>& query);

}  // namespace berth
