// Where completion callbacks may go. CallbackAllowedHosts (a list of host names, "*.example.com"
// for a domain's subdomains) restricts the URL's host; whatever the name, every address it
// resolves to is checked before the POST, and the POST goes to that checked address (no second
// lookup a DNS rebinding could turn): loopback and unspecified addresses only with
// AllowLoopbackCallbacks, link-local ones (169.254/16 and fe80::/10: cloud metadata services)
// never. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "job/callback_url.h"

namespace berth {

struct CallbackPolicy {
  std::vector<std::string> allowed_hosts;  // CallbackAllowedHosts; empty = any host
  bool allow_loopback = false;             // AllowLoopbackCallbacks
};

// Whether `host` is one of `patterns` ("name" exactly, "*.domain" any subdomain of domain).
bool HostAllowed(const std::vector<std::string>& patterns, std::string_view host);

// The check at submit time, on the URL alone: InvalidArgument when its host is not on the
// allow-list, or is a loopback literal ("localhost", 127.0.0.0/8, ::1) and loopback is not
// allowed. Names are checked again, resolved, at delivery.
Status CheckCallbackUrl(const CallbackPolicy& policy, const CallbackUrl& url);

// The check at delivery, per resolved address (an IPv4 or IPv6 literal).
Status CheckCallbackAddress(const CallbackPolicy& policy, std::string_view ip);

}  // namespace berth
