#include "cli/http_client.h"

#include <curl/curl.h>

#include <cctype>

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

}  // namespace

namespace {

// One request: `on_body` gets the body as it arrives. The one place libcurl is driven.
Result<ClientResponse> Perform(const std::string& method, const std::string& url,
                               const std::vector<std::string>& headers, const std::string& body,
                               const std::function<void(std::string_view)>& on_body) {
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
  if (method == "POST" || method == "PUT" || method == "PATCH") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    return Status::Unavailable("cannot reach " + url + ": " + curl_easy_strerror(rc));
  }
  return resp;
}

}  // namespace

Result<ClientResponse> HttpStream(const std::string& method, const std::string& url,
                                  const std::vector<std::string>& headers,
                                  const std::function<void(std::string_view)>& on_data) {
  return Perform(method, url, headers, "", on_data);
}

Result<ClientResponse> HttpCall(const std::string& method, const std::string& url,
                                const std::vector<std::string>& headers, const std::string& body) {
  std::string received;
  ASSIGN_OR_RETURN(
      ClientResponse resp,
      Perform(method, url, headers, body, [&received](std::string_view d) { received.append(d); }));
  resp.body = std::move(received);
  return resp;
}

}  // namespace berth
