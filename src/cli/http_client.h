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

// How to trust an https server: `ca_file` (--cacert, env BERTH_CACERT) names a PEM file of the
// CA certificates to trust; empty = the system's CAs.
struct ClientTls {
  std::string ca_file;
};

// Sends one request. Unavailable, in plain words (TransportError), when no answer came.
Result<ClientResponse> HttpCall(const std::string& method, const std::string& url,
                                const std::vector<std::string>& headers, const std::string& body,
                                const ClientTls& tls = {});

// Sends one request and hands the body to `on_data` as it arrives (for streamed answers).
// The returned response has the status and headers; its body is empty.
Result<ClientResponse> HttpStream(const std::string& method, const std::string& url,
                                  const std::vector<std::string>& headers,
                                  const std::function<void(std::string_view)>& on_data,
                                  const ClientTls& tls = {});

// The environment variable `name`, or `fallback` when it is unset or empty.
std::string EnvOr(const char* name, const std::string& fallback);

// The key the server keeps in `<data_dir>/<file>` (function-key, master-key) without its
// trailing newline; empty when the file cannot be read.
std::string ReadKeyFile(const std::string& data_dir, const std::string& file);

// `server` without its trailing slashes: the base that API paths ("/api/...") are appended to.
std::string TrimmedServer(std::string server);

// What libcurl's `curl_code` means for a person talking to the server at `url`: plain words,
// no transport jargon ("Transferred a partial file").
Status TransportError(int curl_code, const std::string& url);

}  // namespace berth
