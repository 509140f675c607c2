#include "azure/queue_client.h"

#include <curl/curl.h>
#include <time.h>

#include <algorithm>
#include <cctype>
#include <pugixml.hpp>
#include <sstream>

#include "azure/shared_key.h"

namespace berth {
namespace {

using std::chrono::seconds;

size_t CollectBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t CollectHeader(char* data, size_t size, size_t n, void* out) {
  auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(out);
  std::string_view line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() &&
           (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    headers->emplace_back(std::move(name), std::string(value));
  }
  return size * n;
}

std::string Text(const pugi::xml_node& n, const char* child) {
  return n.child(child).text().as_string();
}

// The Status an error answer of the service maps to.
Status ServiceError(std::string_view op, long http, const std::string& header_code,
                    std::string_view body) {
  auto [code, message] = ParseError(body);
  if (code.empty()) code = header_code;
  std::string what = std::string(op) + ": HTTP " + std::to_string(http) +
                     (code.empty() ? "" : " " + code) + (message.empty() ? "" : ": " + message);
  // The service's message ends with "RequestId:...\nTime:...": keep the first line only.
  if (size_t nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
  if (http >= 500 || http == 408 || http == 429) return Status::Unavailable(what);
  if (code == "MessageNotFound" || code == "PopReceiptMismatch") {
    return Status::FailedPrecondition(what);
  }
  if (code == "QueueNotFound" || code == "QueueBeingDeleted") return Status::NotFound(what);
  if (http == 401 || http == 403) return Status::PermissionDenied(what);
  if (http == 404) return Status::FailedPrecondition(what);
  return Status::InvalidArgument(what);
}

int Clamp(int max) { return std::clamp(max, 1, 32); }

std::string Seconds(seconds s) { return std::to_string(std::max<int64_t>(0, s.count())); }

}  // namespace

std::optional<TimePoint> ParseHttpDate(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  time_t t = timegm(&tm);
  return std::chrono::system_clock::from_time_t(t);
}

std::string FormatHttpDate(TimePoint t) {
  time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

Result<std::vector<AzureMessage>> ParseMessageList(std::string_view xml) {
  pugi::xml_document doc;
  pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size());
  if (!parsed) {
    return Status::InvalidArgument(std::string("queue service answer is not XML: ") +
                                   parsed.description());
  }
  pugi::xml_node list = doc.child("QueueMessagesList");
  if (!list) return Status::InvalidArgument("queue service answer has no QueueMessagesList");
  std::vector<AzureMessage> out;
  for (pugi::xml_node m : list.children("QueueMessage")) {
    AzureMessage msg;
    msg.id = Text(m, "MessageId");
    if (msg.id.empty()) return Status::InvalidArgument("a QueueMessage has no MessageId");
    msg.pop_receipt = Text(m, "PopReceipt");
    msg.text = Text(m, "MessageText");
    msg.dequeue_count = m.child("DequeueCount").text().as_int(0);
    if (auto t = ParseHttpDate(Text(m, "InsertionTime"))) msg.inserted_at = *t;
    if (auto t = ParseHttpDate(Text(m, "TimeNextVisible"))) msg.next_visible = *t;
    out.push_back(std::move(msg));
  }
  return out;
}

std::string MessageXml(std::string_view text) {
  pugi::xml_document doc;
  doc.append_child("QueueMessage")
      .append_child("MessageText")
      .text()
      .set(std::string(text).c_str());
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw | pugi::format_no_declaration);
  return out.str();
}

std::pair<std::string, std::string> ParseError(std::string_view xml) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return {"", ""};
  pugi::xml_node e = doc.child("Error");
  return {Text(e, "Code"), Text(e, "Message")};
}

std::string QueueClient::Response::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "";
}

QueueClient::QueueClient(StorageAccount account, QueueClientOptions opts)
    : account_(std::move(account)), opts_(std::move(opts)) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  size_t host = account_.queue_endpoint.find("://") + 3;
  size_t slash = account_.queue_endpoint.find('/', host);
  base_url_ = account_.queue_endpoint.substr(0, slash);
  base_path_ = slash == std::string::npos ? "" : account_.queue_endpoint.substr(slash);
}

QueueClient::~QueueClient() {
  MutexLock lock(mu_);
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* QueueClient::TakeHandle() {
  {
    MutexLock lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void QueueClient::ReturnHandle(void* handle) {
  MutexLock lock(mu_);
  if (idle_.size() < 8) {
    idle_.push_back(handle);
    return;
  }
  curl_easy_cleanup(static_cast<CURL*>(handle));
}

Result<QueueClient::Response> QueueClient::Send(StorageRequest req) {
  req.path = base_path_ + req.path;
  req.headers.emplace_back("x-ms-date", FormatHttpDate(std::chrono::system_clock::now()));
  req.headers.emplace_back("x-ms-version", opts_.api_version);
  bool has_body = req.method == "PUT" || req.method == "POST";
  if (has_body) {
    req.headers.emplace_back("Content-Length", std::to_string(req.body.size()));
    // Set explicitly: curl would otherwise add one of its own that the signature lacks.
    req.headers.emplace_back("Content-Type",
                             req.body.empty() ? "text/plain" : "application/xml; charset=utf-8");
  }
  AuthorizeRequest(account_, req);
  std::string url = base_url_ + req.path;
  if (std::string q = EncodeQuery(req); !q.empty()) url += "?" + q;

  CURL* c = static_cast<CURL*>(TakeHandle());
  if (c == nullptr) return Status::ResourceExhausted("curl_easy_init failed");
  curl_easy_reset(c);
  curl_slist* list = nullptr;
  for (const auto& [n, v] : req.headers) list = curl_slist_append(list, (n + ": " + v).c_str());
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  Response resp;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(opts_.request_timeout.count()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp.headers);
  if (req.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (has_body) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.c_str());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(req.body.size()));
    }
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    curl_easy_cleanup(c);
    return Status::Unavailable("queue service at " + base_url_ + ": " + curl_easy_strerror(rc));
  }
  ReturnHandle(c);
  return resp;
}

Status QueueClient::CreateQueue(std::string_view queue) {
  ASSIGN_OR_RETURN(Response r, Send({"PUT", "/" + std::string(queue), {}, {}, ""}));
  if (r.status == 201 || r.status == 204) return Status::Ok();
  return ServiceError("create queue " + std::string(queue), r.status, r.Header("x-ms-error-code"),
                      r.body);
}

Status QueueClient::PutMessage(std::string_view queue, std::string_view text, seconds visibility) {
  StorageRequest req{"POST", "/" + std::string(queue) + "/messages", {}, {}, MessageXml(text)};
  req.query = {{"visibilitytimeout", Seconds(visibility)}, {"messagettl", "-1"}};
  ASSIGN_OR_RETURN(Response r, Send(std::move(req)));
  if (r.status == 201) return Status::Ok();
  return ServiceError("put message on " + std::string(queue), r.status, r.Header("x-ms-error-code"),
                      r.body);
}

Result<std::vector<AzureMessage>> QueueClient::GetMessages(std::string_view queue, int max,
                                                           seconds visibility) {
  StorageRequest req{"GET", "/" + std::string(queue) + "/messages", {}, {}, ""};
  req.query = {{"numofmessages", std::to_string(Clamp(max))},
               {"visibilitytimeout", Seconds(std::max(visibility, seconds(1)))}};
  ASSIGN_OR_RETURN(Response r, Send(std::move(req)));
  if (r.status != 200) {
    return ServiceError("get messages of " + std::string(queue), r.status,
                        r.Header("x-ms-error-code"), r.body);
  }
  return ParseMessageList(r.body);
}

Result<std::vector<AzureMessage>> QueueClient::PeekMessages(std::string_view queue, int max) {
  StorageRequest req{"GET", "/" + std::string(queue) + "/messages", {}, {}, ""};
  req.query = {{"peekonly", "true"}, {"numofmessages", std::to_string(Clamp(max))}};
  ASSIGN_OR_RETURN(Response r, Send(std::move(req)));
  if (r.status != 200) {
    return ServiceError("peek messages of " + std::string(queue), r.status,
                        r.Header("x-ms-error-code"), r.body);
  }
  return ParseMessageList(r.body);
}

Result<UpdatedMessage> QueueClient::UpdateVisibility(std::string_view queue, std::string_view id,
                                                     std::string_view pop_receipt,
                                                     seconds visibility) {
  StorageRequest req{"PUT", "/" + std::string(queue) + "/messages/" + std::string(id), {}, {}, ""};
  req.query = {{"popreceipt", std::string(pop_receipt)},
               {"visibilitytimeout", Seconds(visibility)}};
  ASSIGN_OR_RETURN(Response r, Send(std::move(req)));
  if (r.status != 204) {
    return ServiceError("update message " + std::string(id), r.status, r.Header("x-ms-error-code"),
                        r.body);
  }
  UpdatedMessage u;
  u.pop_receipt = r.Header("x-ms-popreceipt");
  if (u.pop_receipt.empty()) return Status::Internal("update message: no x-ms-popreceipt");
  if (auto t = ParseHttpDate(r.Header("x-ms-time-next-visible"))) u.next_visible = *t;
  return u;
}

Status QueueClient::DeleteMessage(std::string_view queue, std::string_view id,
                                  std::string_view pop_receipt) {
  StorageRequest req{
      "DELETE", "/" + std::string(queue) + "/messages/" + std::string(id), {}, {}, ""};
  req.query = {{"popreceipt", std::string(pop_receipt)}};
  ASSIGN_OR_RETURN(Response r, Send(std::move(req)));
  if (r.status == 204) return Status::Ok();
  return ServiceError("delete message " + std::string(id), r.status, r.Header("x-ms-error-code"),
                      r.body);
}

}  // namespace berth
