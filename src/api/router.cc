#include "api/router.h"

#include <algorithm>
#include <cctype>

namespace berth {
namespace {

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string segment;
    // ParseTarget has checked the escapes; a segment that still fails to decode stays raw.
    if (!PercentDecode(path.substr(i, j - i), false, segment)) segment = path.substr(i, j - i);
    out.push_back(std::move(segment));
    i = j;
  }
  return out;
}

bool EqualsIgnoreCase(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

void Router::Add(std::string method, std::string pattern, Handler handler) {
  std::vector<std::string> segments = Split(pattern);
  routes_.push_back(
      {std::move(method), std::move(segments), std::move(handler), std::move(pattern)});
}

bool Router::Match(const Route& route, const std::vector<std::string>& segments,
                   std::vector<std::string>& params) const {
  if (route.segments.size() != segments.size()) return false;
  params.clear();
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& want = route.segments[i];
    if (want.size() > 1 && want.front() == '{' && want.back() == '}') {
      params.push_back(segments[i]);
    } else if (ignore_case_ ? !EqualsIgnoreCase(want, segments[i]) : want != segments[i]) {
      return false;
    }
  }
  return true;
}

Respond Router::Observed(const HttpRequest& req, const std::vector<std::string>& segments,
                         Respond respond) const {
  static const std::string kNoRoute;
  const std::string* pattern = &kNoRoute;
  std::vector<std::string> params;
  for (const Route& route : routes_) {
    if (Match(route, segments, params)) {
      pattern = &route.pattern;
      break;
    }
  }
  return [done = observer_(req, *pattern), respond = std::move(respond)](HttpResponse r) {
    done(r.status);
    respond(std::move(r));
  };
}

void Router::Handle(const HttpRequest& req, Respond respond) const {
  std::vector<std::string> segments = Split(req.path);
  if (observer_) respond = Observed(req, segments, std::move(respond));
  std::vector<std::string> params;
  std::string allow;
  for (const Route& route : routes_) {
    if (!Match(route, segments, params)) continue;
    if (route.method == req.method || (req.method == "HEAD" && route.method == "GET")) {
      route.handler(req, params, std::move(respond));
      return;
    }
    if (!allow.empty()) allow += ", ";
    allow += route.method;
  }
  if (allow.empty()) {
    respond(JsonError(404, "no route for " + req.path));
    return;
  }
  HttpResponse r = JsonError(405, "method " + req.method + " is not allowed on " + req.path);
  r.headers.emplace_back("Allow", allow);
  respond(std::move(r));
}

}  // namespace berth
