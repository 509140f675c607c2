// A small blocking HTTP client over libcurl for the CLI. Thread-compatible.
#pragma once

#include <functional>
#include <string>
#include <string_view>
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

// Sends one request and hands the body to `on_data` as it arrives (for streamed answers).
// The returned response has the status and headers; its body is empty.
Result<ClientResponse> HttpStream(const std::string& method, const std::string& url,
                                  const std::vector<std::string>& headers,
                                  const std::function<void(std::string_view)>& on_data);

}  // namespace berth
