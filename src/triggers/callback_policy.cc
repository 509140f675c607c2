#include "triggers/callback_policy.h"

#include <arpa/inet.h>

#include <cstring>

namespace berth {

bool HostAllowed(const std::vector<std::string>& patterns, std::string_view host) {
  for (const std::string& p : patterns) {
    if (p.size() > 2 && p.compare(0, 2, "*.") == 0) {
      std::string_view domain = std::string_view(p).substr(1);  // ".example.com"
      if (host.size() > domain.size() && host.substr(host.size() - domain.size()) == domain) {
        return true;
      }
    } else if (host == p) {
      return true;
    }
  }
  return false;
}

Status CheckCallbackUrl(const CallbackPolicy& policy, const CallbackUrl& url) {
  if (!policy.allowed_hosts.empty() && !HostAllowed(policy.allowed_hosts, url.host)) {
    return Status::InvalidArgument("field 'callbackUrl': host '" + url.host +
                                   "' is not in CallbackAllowedHosts");
  }
  if (policy.allow_loopback) return Status::Ok();
  if (url.host == "localhost" || url.host.ends_with(".localhost")) {
    return Status::InvalidArgument(
        "field 'callbackUrl': loopback hosts are not allowed (AllowLoopbackCallbacks is off)");
  }
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, url.host.c_str(), &v4) == 1 ||
      inet_pton(AF_INET6, url.host.c_str(), &v6) == 1) {
    Status st = CheckCallbackAddress(policy, url.host);
    if (!st.ok()) return Status::InvalidArgument("field 'callbackUrl': " + st.message());
  }
  return Status::Ok();
}

Status CheckCallbackAddress(const CallbackPolicy& policy, std::string_view ip) {
  std::string s(ip);
  in_addr v4{};
  in6_addr v6{};
  bool loopback = false, unspecified = false, link_local = false;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    uint32_t a = ntohl(v4.s_addr);
    loopback = (a >> 24) == 127;
    unspecified = (a >> 24) == 0;
    link_local = (a >> 16) == 0xA9FE;  // 169.254/16
  } else if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(v6.s6_addr, kMapped, 12) == 0) {  // ::ffff:a.b.c.d: judge the IPv4
      char text[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, v6.s6_addr + 12, text, sizeof(text));
      return CheckCallbackAddress(policy, text);
    }
    loopback = IN6_IS_ADDR_LOOPBACK(&v6);
    unspecified = IN6_IS_ADDR_UNSPECIFIED(&v6);
    link_local = IN6_IS_ADDR_LINKLOCAL(&v6);
  } else {
    return Status::InvalidArgument("'" + s + "' is not an IP address");
  }
  if (link_local) {
    return Status::PermissionDenied("address " + s + " is link-local (never called back)");
  }
  if ((loopback || unspecified) && !policy.allow_loopback) {
    return Status::PermissionDenied("address " + s +
                                    " is loopback (AllowLoopbackCallbacks is off)");
  }
  return Status::Ok();
}

}  // namespace berth
