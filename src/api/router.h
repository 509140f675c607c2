// Router: the API's routes as a table of (method, pattern, handler). Patterns are literal path
// segments and "{name}" captures ("/api/jobs/{id}"). An unknown path answers 404, a known path
// with another method 405 with an Allow header. Immutable after set-up; thread-safe to use.
#pragma once

#include <string>
#include <vector>

#include "api/http_types.h"

namespace berth {

// A handler gets the request, the captured segments in pattern order, and a way to answer
// (which it may call later, from any thread, exactly once).
using Handler =
    std::function<void(const HttpRequest& req, const std::vector<std::string>& params, Respond)>;

// Told of each request before it is handled, with its route's pattern ("" when no route
// matched); returns what to call with the answer's status code once it is given.
using RouteObserver =
    std::function<std::function<void(int status)>(const HttpRequest& req, const std::string&)>;

class Router {
 public:
  void Add(std::string method, std::string pattern, Handler handler);

  // Sets the observer of every request (HTTP metrics). Call during set-up only.
  void SetObserver(RouteObserver observer) { observer_ = std::move(observer); }

  // Makes literal segments match regardless of ASCII case (ARM's fixed segments are
  // case-insensitive: "resourcegroups" is "resourceGroups"). Call during set-up only.
  void IgnoreCase() { ignore_case_ = true; }

  // Routes `req` to its handler, or answers 404/405.
  void Handle(const HttpRequest& req, Respond respond) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
    std::string pattern;
  };
  bool Match(const Route& route, const std::vector<std::string>& segments,
             std::vector<std::string>& params) const;
  // `respond`, telling the observer of the answer.
  Respond Observed(const HttpRequest& req, const std::vector<std::string>& segments,
                   Respond respond) const;
  std::vector<Route> routes_;
  RouteObserver observer_;
  bool ignore_case_ = false;
};

}  // namespace berth
