// A job's callbackUrl, checked and taken apart: http or https, a host, an optional port, no
// credentials, no whitespace or control characters, at most 2048 characters. Where it may
// point (allow-list, loopback) is the deliverer's policy (triggers/callback_policy.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace berth {

struct CallbackUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // lower-cased; an IPv6 literal without its brackets
  uint16_t port = 0;   // the given port, else 80 / 443
};

// InvalidArgument (naming field 'callbackUrl') when `url` is not an acceptable callback URL.
Result<CallbackUrl> ParseCallbackUrl(std::string_view url);

}  // namespace berth
