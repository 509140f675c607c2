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

class Router {
 public:
  void Add(std::string method, std::string pattern, Handler handler);

  // Routes `req` to its handler, or answers 404/405.
  void Handle(const HttpRequest& req, Respond respond) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  static bool Match(const Route& route, const std::vector<std::string>& segments,
                    std::vector<std::string>& params);
  std::vector<Route> routes_;
};

}  // namespace berth
