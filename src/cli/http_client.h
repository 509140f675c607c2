// A small blocking HTTP client over libcurl for the CLI. Thread-compatible.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace berth {

struct ClientResponse {
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
};

// Sends one request. Unavailable with curl's message when the server cannot be reached.
Result<ClientResponse> HttpCall(const std::string& method, const std::string& url,
                                const std::vector<std::string>& headers, const std::string& body);

}  // namespace berth
