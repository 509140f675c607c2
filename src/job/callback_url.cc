#include "job/callback_url.h"

#include <cctype>

namespace berth {
namespace {

Status Bad(std::string_view what) {
  return Status::InvalidArgument("field 'callbackUrl': " + std::string(what));
}

}  // namespace

Result<CallbackUrl> ParseCallbackUrl(std::string_view url) {
  if (url.empty() || url.size() > 2048) return Bad("must be 1 to 2048 characters");
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f) return Bad("contains whitespace, control or non-ASCII characters");
  }
  CallbackUrl out;
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    out.scheme = "http";
    out.port = 80;
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    out.scheme = "https";
    out.port = 443;
    rest = url.substr(8);
  } else {
    return Bad("must start with http:// or https://");
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) return Bad("must not carry credentials");
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Bad("has an unclosed IPv6 literal");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Bad("has a malformed host");
      port = after.substr(1);
    }
    if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF:.") != host.npos) {
      return Bad("has a malformed IPv6 literal");
    }
  } else {
    size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    for (char c : host) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
        return Bad("has a malformed host");
      }
    }
  }
  if (host.empty()) return Bad("has no host");
  if (host.size() > 253) return Bad("has a host longer than 253 characters");
  if (authority.find(':') != std::string_view::npos && port.empty() && authority.front() != '[') {
    return Bad("has an empty port");
  }
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != port.npos) {
      return Bad("has a malformed port");
    }
    int p = std::stoi(std::string(port));
    if (p < 1 || p > 65535) return Bad("has a port out of range");
    out.port = static_cast<uint16_t>(p);
  }
  for (char c : host) out.host += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace berth
