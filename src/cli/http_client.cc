#include "cli/http_client.h"

#include <curl/curl.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "common/files.h"

namespace berth {
namespace {

size_t OnHeader(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    static_cast<ClientResponse*>(out)->headers.emplace_back(name, value);
  }
  return size * n;
}

size_t OnStream(char* data, size_t size, size_t n, void* out) {
  (*static_cast<const std::function<void(std::string_view)>*>(out))(
      std::string_view(data, size * n));
  return size * n;
}

// "http://host:port" of `url` (the part a person recognises as the server).
std::string ServerOf(const std::string& url) {
  size_t scheme = url.find("://");
  size_t path = url.find_first_of("/?", scheme == std::string::npos ? 0 : scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

}  // namespace

Status TransportError(int curl_code, const std::string& url) {
  std::string server = ServerOf(url);
  std::string what;
  switch (static_cast<CURLcode>(curl_code)) {
    case CURLE_COULDNT_CONNECT:
      what = "nothing answers at " + server +
             " (is 'berth serve' running there? --server or BERTH_SERVER names the server)";
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
      what = "no such host: " + server;
      break;
    case CURLE_OPERATION_TIMEDOUT:
      what = server + " did not answer in time";
      break;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
      what = "the connection to " + server +
             " broke before its answer was complete (did the server stop?)";
      break;
    case CURLE_SEND_ERROR:
      what = "the connection to " + server + " broke while sending the request";
      break;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      what = "'" + server + "' is not an http:// or https:// server URL";
      break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      what = server +
             " has a TLS certificate this client does not trust (give its CA certificate with "
             "--cacert or BERTH_CACERT)";
      break;
    case CURLE_SSL_CONNECT_ERROR:
      what = "no TLS connection to " + server + " (does it serve https? is the URL http://?)";
      break;
    case CURLE_WEIRD_SERVER_REPLY:
      what = server + " did not answer in HTTP (an https server behind an http:// URL?)";
      break;
    default:
      what = "cannot talk to " + server + " (transport error " + std::to_string(curl_code) + ")";
  }
  return Status::Unavailable(what);
}

namespace {

// One request: `on_body` gets the body as it arrives. The one place libcurl is driven.
Result<ClientResponse> Perform(const std::string& method, const std::string& url,
                               const std::vector<std::string>& headers, const std::string& body,
                               const std::function<void(std::string_view)>& on_body,
                               const ClientTls& tls) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Status::Internal("curl_easy_init failed");
  ClientResponse resp;
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnStream);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &on_body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &resp);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  if (!tls.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, tls.ca_file.c_str());
  if (method == "POST" || method == "PUT" || method == "PATCH") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    return TransportError(rc, url);
  }
  return resp;
}

}  // namespace

Result<ClientResponse> HttpStream(const std::string& method, const std::string& url,
                                  const std::vector<std::string>& headers,
                                  const std::function<void(std::string_view)>& on_data,
                                  const ClientTls& tls) {
  return Perform(method, url, headers, "", on_data, tls);
}

Result<ClientResponse> HttpCall(const std::string& method, const std::string& url,
                                const std::vector<std::string>& headers, const std::string& body,
                                const ClientTls& tls) {
  std::string received;
  ASSIGN_OR_RETURN(ClientResponse resp,
                   Perform(
                       method, url, headers, body,
                       [&received](std::string_view d) { received.append(d); }, tls));
  resp.body = std::move(received);
  return resp;
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::string ReadKeyFile(const std::string& data_dir, const std::string& file) {
  auto k = ReadFile(std::filesystem::path(data_dir) / file);
  if (!k.ok()) return "";
  std::string key = std::move(k).value();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) {
    key.pop_back();
  }
  return key;
}

std::string TrimmedServer(std::string server) {
  while (!server.empty() && server.back() == '/') server.pop_back();
  return server;
}

}  // namespace berth
