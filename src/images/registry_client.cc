#include "images/registry_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "common/url_encoding.h"
#include "images/digest.h"

namespace berth {
namespace {

using Json = nlohmann::json;

constexpr int64_t kMaxManifestSize = 4 << 20;
constexpr size_t kMaxErrorBody = 64 << 10;
constexpr char kManifestAccept[] =
    "Accept: application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsLoopback(std::string_view registry) {
  std::string host(
      registry.substr(0, registry.rfind(':') == std::string_view::npos || registry.back() == ']'
                             ? registry.size()
                             : registry.rfind(':')));
  return host == "localhost" || host.starts_with("127.") || host == "[::1]";
}

// "MANIFEST_UNKNOWN: manifest unknown" from a registry's {"errors": [...]} body, else "".
std::string RegistryMessage(const std::string& body) {
  Json doc = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return "";
  auto errors = doc.find("errors");
  if (errors == doc.end() || !errors->is_array() || errors->empty()) return "";
  std::string out;
  for (const Json& e : *errors) {
    if (!e.is_object()) continue;
    if (!out.empty()) out += "; ";
    std::string code = e.value("code", "");
    std::string message = e.value("message", "");
    out += code.empty() ? message : code + ": " + message;
  }
  return out;
}

// "http://Host:5000/token?x" -> {"http", "host"}.
std::pair<std::string, std::string> SchemeAndHost(std::string_view url) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return {"", ""};
  std::string scheme = Lower(std::string(url.substr(0, sep)));
  std::string_view rest = url.substr(sep + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  if (rest.starts_with("[")) {
    rest = rest.substr(0, rest.find(']') + 1);
  } else {
    rest = rest.substr(0, rest.find(':'));
  }
  return {scheme, Lower(std::string(rest))};
}

// A Bearer realm is honoured over https, or over http only on the registry's own host.
bool RealmAllowed(std::string_view realm, std::string_view registry_base_url) {
  auto [scheme, host] = SchemeAndHost(realm);
  if (scheme == "https") return !host.empty();
  return scheme == "http" && !host.empty() && host == SchemeAndHost(registry_base_url).second;
}

}  // namespace

bool RegistryAllowed(std::string_view registry, const std::vector<std::string>& allowed) {
  if (allowed.empty()) return true;
  std::string want = Lower(std::string(registry));
  std::string host = want.starts_with("[") ? want : want.substr(0, want.find(':'));
  for (const std::string& entry : allowed) {
    std::string e = Lower(entry);
    if (e == want) return true;
    if (e.starts_with("*.") && host.size() > e.size() - 1 &&
        host.ends_with(std::string_view(e).substr(1))) {
      return true;
    }
  }
  return false;
}

RegistryEndpoint EndpointFor(std::string_view registry, const RegistryOptions& opts) {
  RegistryEndpoint e;
  e.name = registry;
  std::string host = registry == "docker.io" ? "registry-1.docker.io" : std::string(registry);
  bool insecure = IsLoopback(registry) || std::find(opts.insecure.begin(), opts.insecure.end(),
                                                    registry) != opts.insecure.end();
  e.base_url = (insecure ? "http://" : "https://") + host;
  return e;
}

// One HTTP GET.
struct RegistryClient::Transfer {
  std::string url;
  std::vector<std::string> headers;
  bool send_authorization = true;
  int64_t max_body = kMaxManifestSize;  // for bodies collected in memory
  // For a 2xx answer, when set: called once with the status before the first body byte, then
  // with the body in pieces; returning false aborts the transfer.
  std::function<void(long status)> on_body_start;
  std::function<bool(const char* data, size_t n)> sink;
};

struct RegistryClient::Answer {
  CURLcode code = CURLE_OK;
  std::string curl_error;
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names, of the last response
  std::string body;                            // when collected (no sink, or not 2xx)
  bool body_started = false;
  bool too_large = false;
  bool deadline_passed = false;  // the pull's deadline ended (or forbade) the request
  Transfer* transfer = nullptr;
};

namespace {

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* a = static_cast<RegistryClient::Answer*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.starts_with("HTTP/")) {
    a->headers.clear();  // a new response (after a redirect or a 100)
    size_t space = line.find(' ');
    a->status = space == std::string::npos ? 0 : std::atol(line.c_str() + space + 1);
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    a->headers[Lower(line.substr(0, colon))] = value;
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* a = static_cast<RegistryClient::Answer*>(user);
  size_t bytes = size * n;
  bool ok_status = a->status >= 200 && a->status < 300;
  if (ok_status && a->transfer->sink) {
    if (!a->body_started) {
      a->body_started = true;
      if (a->transfer->on_body_start) a->transfer->on_body_start(a->status);
    }
    return a->transfer->sink(data, bytes) ? bytes : 0;
  }
  int64_t limit = ok_status ? a->transfer->max_body : static_cast<int64_t>(kMaxErrorBody);
  if (static_cast<int64_t>(a->body.size() + bytes) > limit) {
    a->too_large = true;
    return 0;
  }
  a->body.append(data, bytes);
  return bytes;
}

bool IsTransient(CURLcode code, long status) {
  if (code == CURLE_LOGIN_DENIED || code == CURLE_WRITE_ERROR ||
      code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT) {
    return false;
  }
  if (code != CURLE_OK) return true;
  return status == 429 || status >= 500;
}

}  // namespace

RegistryClient::RegistryClient(RegistryEndpoint endpoint, std::string repository,
                               Credentials credentials, const RegistryOptions& opts,
                               std::chrono::steady_clock::time_point deadline)
    : endpoint_(std::move(endpoint)),
      repository_(std::move(repository)),
      credentials_(std::move(credentials)),
      opts_(opts),
      deadline_(deadline) {
  GlobalInitOnce();
}

RegistryClient::Answer RegistryClient::Perform(Transfer& t) {
  Answer a;
  a.transfer = &t;
  const auto now = std::chrono::steady_clock::now();
  if (now >= deadline_) {
    a.code = CURLE_OPERATION_TIMEDOUT;
    a.curl_error = "the pull's deadline passed";
    a.deadline_passed = true;
    return a;
  }
  const long remaining_ms = static_cast<long>(std::min<int64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now).count() + 1,
      int64_t{1} << 30));
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), &curl_easy_cleanup);
  if (!c) {
    a.code = CURLE_OUT_OF_MEMORY;
    a.curl_error = "cannot create a curl handle";
    return a;
  }
  curl_slist* list = nullptr;
  for (const std::string& h : t.headers) list = curl_slist_append(list, h.c_str());
  char error[CURL_ERROR_SIZE] = {0};
  CURL* h = c.get();
  curl_easy_setopt(h, CURLOPT_URL, t.url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, static_cast<long>(opts_.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(opts_.stall_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, remaining_ms);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "berth/0.1");
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L << 10);
  a.code = curl_easy_perform(h);
  if (a.code != CURLE_OK) a.curl_error = error[0] != '\0' ? error : curl_easy_strerror(a.code);
  a.deadline_passed =
      a.code == CURLE_OPERATION_TIMEDOUT && std::chrono::steady_clock::now() >= deadline_;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a.status);
  curl_slist_free_all(list);
  return a;
}

RegistryClient::Answer RegistryClient::SendAuthorized(Transfer& t) {
  std::vector<std::string> base = t.headers;
  for (bool reauthenticated = false;; reauthenticated = true) {
    t.headers = base;
    {
      MutexLock guard(mu_);
      if (t.send_authorization && !authorization_.empty()) {
        t.headers.push_back("Authorization: " + authorization_);
      }
    }
    Answer a = Perform(t);
    t.headers = base;
    if (a.code != CURLE_OK || a.status != 401 || reauthenticated) return a;
    Status st = Authenticate(a);
    if (!st.ok()) {
      a.status = 0;
      a.code = CURLE_LOGIN_DENIED;
      a.curl_error = st.message();
      return a;
    }
  }
}

void RegistryClient::Backoff(int attempt) const {
  auto wake =
      std::chrono::steady_clock::now() + opts_.retry_backoff * (1 << std::min(attempt - 1, 8));
  std::this_thread::sleep_until(std::min(wake, deadline_));
}

Result<RegistryClient::Answer> RegistryClient::SendWithRetries(Transfer& t,
                                                               const std::string& what) {
  for (int attempt = 1;; ++attempt) {
    Answer a = SendAuthorized(t);
    if (a.code == CURLE_OK && a.status >= 200 && a.status < 300) return a;
    if (a.deadline_passed || !IsTransient(a.code, a.status) || attempt >= opts_.max_attempts) {
      return ErrorOf(a, what);
    }
    Backoff(attempt);
  }
}

Status RegistryClient::ErrorOf(const Answer& a, const std::string& what) const {
  const std::string where = what + " from " + endpoint_.name;
  if (a.code == CURLE_LOGIN_DENIED) return Status::PermissionDenied(where + ": " + a.curl_error);
  if (a.too_large) return Status::FailedPrecondition(where + ": the answer is too large");
  if (a.deadline_passed) {
    return Status::DeadlineExceeded(where + ": the pull did not finish within " +
                                    std::to_string(opts_.pull_timeout.count()) +
                                    " s (ImagePullTimeoutSeconds)");
  }
  if (a.code != CURLE_OK) {
    return Status::Unavailable(where + ": cannot reach " + endpoint_.base_url + ": " +
                               a.curl_error);
  }
  std::string message = RegistryMessage(a.body);
  if (message.empty()) message = "HTTP " + std::to_string(a.status);
  switch (a.status) {
    case 401:
      return Status::PermissionDenied(
          where + ": " + message +
          (credentials_.empty() ? " (no credentials for " + endpoint_.name + ")"
                                : " (the credentials for " + endpoint_.name + " were refused)"));
    case 403:
      return Status::PermissionDenied(where + ": denied: " + message);
    case 404:
      return Status::NotFound(where + ": " + message);
    default:
      break;
  }
  if (a.status == 429 || a.status >= 500) return Status::Unavailable(where + ": " + message);
  return Status::FailedPrecondition(where + ": " + message);
}

Status RegistryClient::Authenticate(const Answer& challenge_answer) {
  auto it = challenge_answer.headers.find("www-authenticate");
  if (it == challenge_answer.headers.end()) {
    return Status::PermissionDenied(endpoint_.name + " answered 401 without a challenge");
  }
  ASSIGN_OR_RETURN(AuthChallenge challenge, ParseAuthChallenge(it->second));
  if (challenge.scheme == "basic") {
    if (credentials_.empty()) {
      return Status::PermissionDenied(endpoint_.name +
                                      " requires authentication and RegistryAuthFile has no "
                                      "credentials for it");
    }
    MutexLock guard(mu_);
    authorization_ = "Basic " + Base64Encode(credentials_.username + ":" + credentials_.password);
    return Status::Ok();
  }
  if (challenge.scheme == "bearer") return FetchToken(challenge);
  return Status::PermissionDenied(endpoint_.name + " asks for unsupported authentication \"" +
                                  challenge.scheme + "\"");
}

Status RegistryClient::FetchToken(const AuthChallenge& challenge) {
  auto realm = challenge.params.find("realm");
  if (realm == challenge.params.end() || realm->second.empty()) {
    return Status::PermissionDenied(endpoint_.name + ": Bearer challenge without a realm");
  }
  if (!RealmAllowed(realm->second, endpoint_.base_url)) {
    return Status::PermissionDenied(
        endpoint_.name + ": the token realm " + realm->second +
        " is neither https nor on the registry's own host; refused (credentials are never sent "
        "to another host over plain http)");
  }
  std::string url = realm->second;
  url += url.find('?') == std::string::npos ? '?' : '&';
  if (auto s = challenge.params.find("service"); s != challenge.params.end()) {
    url += "service=" + PercentEncode(s->second) + "&";
  }
  auto scope = challenge.params.find("scope");
  url += "scope=" + PercentEncode(scope != challenge.params.end()
                                      ? scope->second
                                      : "repository:" + repository_ + ":pull");
  Transfer t;
  t.url = url;
  t.send_authorization = false;
  if (!credentials_.empty()) {
    t.headers.push_back("Authorization: Basic " +
                        Base64Encode(credentials_.username + ":" + credentials_.password));
  }
  Answer a = Perform(t);
  if (a.code == CURLE_OK && (a.status == 401 || a.status == 403)) {
    std::string message = RegistryMessage(a.body);
    return Status::PermissionDenied(
        "the token service " + realm->second + " refused " +
        (credentials_.empty() ? "anonymous access" : "the credentials for " + endpoint_.name) +
        (message.empty() ? "" : ": " + message));
  }
  if (a.code != CURLE_OK || a.status < 200 || a.status >= 300) {
    return ErrorOf(a, "token from " + realm->second);
  }
  Json doc = Json::parse(a.body, nullptr, /*allow_exceptions=*/false);
  std::string token;
  if (doc.is_object()) token = doc.value("token", doc.value("access_token", ""));
  if (token.empty()) {
    return Status::PermissionDenied("the token service " + realm->second + " gave no token");
  }
  MutexLock guard(mu_);
  authorization_ = "Bearer " + token;
  return Status::Ok();
}

std::string RegistryClient::BlobUrl(std::string_view digest) const {
  return endpoint_.base_url + "/v2/" + repository_ + "/blobs/" + std::string(digest);
}

Result<FetchedManifest> RegistryClient::GetManifest(std::string_view reference) {
  Transfer t;
  t.url = endpoint_.base_url + "/v2/" + repository_ + "/manifests/" + std::string(reference);
  t.headers.push_back(kManifestAccept);
  const std::string what = "manifest " + repository_ + ":" + std::string(reference);
  ASSIGN_OR_RETURN(Answer a, SendWithRetries(t, what));
  FetchedManifest m;
  m.body = std::move(a.body);
  m.digest = "sha256:" + Sha256Hex(m.body);
  std::string expected(reference);
  if (!expected.starts_with("sha256:")) {
    auto header = a.headers.find("docker-content-digest");
    expected = header != a.headers.end() ? header->second : m.digest;
  }
  if (expected != m.digest) {
    return Status::InvalidArgument(what + ": digest mismatch (the registry sent " + m.digest +
                                   ", expected " + expected + ")");
  }
  m.media_type = a.headers["content-type"];
  m.media_type = m.media_type.substr(0, m.media_type.find(';'));
  if (KindOfMediaType(m.media_type) == DocumentKind::kUnknown) {
    DocumentKind kind = KindOfDocument(m.body);
    if (kind == DocumentKind::kUnknown) {
      return Status::FailedPrecondition(what + ": unsupported media type \"" + m.media_type + "\"");
    }
    m.media_type = kind == DocumentKind::kIndex ? kOciIndexMediaType : kOciManifestMediaType;
  }
  return m;
}

Result<std::string> RegistryClient::GetBlob(const Descriptor& blob, int64_t max_size) {
  if (blob.size > max_size) {
    return Status::FailedPrecondition("blob " + blob.digest + " is too large (" +
                                      std::to_string(blob.size) + " bytes)");
  }
  Transfer t;
  t.url = BlobUrl(blob.digest);
  t.max_body = max_size;
  ASSIGN_OR_RETURN(Answer a, SendWithRetries(t, "blob " + blob.digest));
  std::string hex = Sha256Hex(a.body);
  if (static_cast<int64_t>(a.body.size()) != blob.size) {
    return Status::InvalidArgument("blob " + blob.digest + ": size mismatch (got " +
                                   std::to_string(a.body.size()) + " bytes, expected " +
                                   std::to_string(blob.size) + ")");
  }
  if ("sha256:" + hex != blob.digest) {
    return Status::InvalidArgument("blob " + blob.digest + ": digest mismatch (got sha256:" + hex +
                                   ")");
  }
  return std::move(a.body);
}

Status RegistryClient::DownloadBlob(const Descriptor& blob, const std::filesystem::path& dest,
                                    const std::function<void(int64_t)>& on_bytes,
                                    const std::function<void(const std::string&)>& on_retry) {
  UniqueFd file(::open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!file) return ErrnoStatus("create " + dest.string(), errno);
  const int fd = file.get();
  Sha256 hash;
  int64_t have = 0;
  bool overflow = false;
  Status write_error;
  const std::string what = "blob " + blob.digest;
  auto fail = [&](Status st) {
    ::unlink(dest.c_str());
    return st;
  };
  for (int attempt = 1;; ++attempt) {
    Transfer t;
    t.url = BlobUrl(blob.digest);
    if (have > 0) t.headers.push_back("Range: bytes=" + std::to_string(have) + "-");
    t.on_body_start = [&](long status) {
      if (status == 206 || have == 0) return;
      // The server ignored the range: start over.
      if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) {
        write_error = ErrnoStatus("truncate " + dest.string(), errno);
      }
      hash = Sha256();
      have = 0;
    };
    t.sink = [&](const char* data, size_t n) {
      if (!write_error.ok()) return false;
      if (have + static_cast<int64_t>(n) > blob.size) {
        overflow = true;
        return false;
      }
      for (size_t done = 0; done < n;) {
        ssize_t w = ::write(fd, data + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
          write_error = ErrnoStatus("write " + dest.string(), errno);
          return false;
        }
        done += static_cast<size_t>(w);
      }
      hash.Update(data, n);
      have += static_cast<int64_t>(n);
      if (on_bytes) on_bytes(have);
      return true;
    };
    Answer a = SendAuthorized(t);
    if (!write_error.ok()) return fail(write_error);
    if (overflow) {
      return fail(Status::InvalidArgument(what + ": size mismatch (the registry sent more than " +
                                          std::to_string(blob.size) + " bytes)"));
    }
    if (a.code == CURLE_OK && a.status >= 200 && a.status < 300) break;
    if (a.deadline_passed || !IsTransient(a.code, a.status) || attempt >= opts_.max_attempts) {
      return fail(ErrorOf(a, what));
    }
    if (on_retry) on_retry(ErrorOf(a, what).message());
    Backoff(attempt);
  }
  if (have != blob.size) {
    return fail(Status::InvalidArgument(what + ": size mismatch (got " + std::to_string(have) +
                                        " bytes, expected " + std::to_string(blob.size) + ")"));
  }
  std::string hex = hash.FinishHex();
  if ("sha256:" + hex != blob.digest) {
    return fail(Status::InvalidArgument(what + ": digest mismatch (got sha256:" + hex + ")"));
  }
  return Status::Ok();
}

}  // namespace berth
