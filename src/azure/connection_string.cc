#include "azure/connection_string.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace berth {
namespace azure {

std::string Base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return Status::InvalidArgument("malformed base64 (length)");
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' ||
              (c == '=' && i + 2 >= text.size() && (i + 1 == text.size() || text[i + 1] == '='));
    if (!ok) return Status::InvalidArgument("malformed base64");
  }
  std::string out(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return Status::InvalidArgument("malformed base64");
  size_t len = static_cast<size_t>(n);
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --len;  // EVP counts padding
  out.resize(len);
  return out;
}

}  // namespace azure

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

Status Bad(std::string_view what) {
  return Status::InvalidArgument("connection string: " + std::string(what));
}

// An http(s) URL without query or fragment; the trailing '/' is dropped.
Result<std::string> Endpoint(std::string_view name, std::string value) {
  if (!(value.starts_with("http://") || value.starts_with("https://"))) {
    return Bad(std::string(name) + " must be an http:// or https:// URL");
  }
  if (value.find_first_of("?# ") != std::string::npos) {
    return Bad(std::string(name) + " must have no query, fragment or spaces");
  }
  while (value.ends_with('/')) value.pop_back();
  size_t host = value.find("://") + 3;
  if (host >= value.size() || value[host] == '/') return Bad(std::string(name) + " has no host");
  return value;
}

bool ValidAccountName(std::string_view n) {
  if (n.size() < 3 || n.size() > 24) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c));
  });
}

}  // namespace

Result<StorageAccount> ParseConnectionString(std::string_view text) {
  std::map<std::string, std::string> parts;  // lower-case key -> value
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t semi = text.find(';', pos);
    if (semi == std::string_view::npos) semi = text.size();
    std::string part = Trim(text.substr(pos, semi - pos));
    pos = semi + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string::npos || eq == 0) {
      // Never echo the part: it may be a key or a signature that lost its name.
      return Bad("a part has no NAME=VALUE form (parts are separated by ';')");
    }
    std::string key = Lower(Trim(part.substr(0, eq)));
    if (parts.count(key)) return Bad("'" + Trim(part.substr(0, eq)) + "' is given twice");
    parts[key] = Trim(part.substr(eq + 1));
  }
  if (parts.empty()) return Bad("is empty");
  auto take = [&](const std::string& k) -> std::string {
    auto it = parts.find(k);
    if (it == parts.end()) return "";
    std::string v = it->second;
    parts.erase(it);
    return v;
  };

  StorageAccount a;
  if (parts.count("usedevelopmentstorage")) {
    std::string v = Lower(take("usedevelopmentstorage"));
    if (v != "true") return Bad("UseDevelopmentStorage must be true when given");
    if (parts.count("developmentstorageproxyuri")) {
      return Bad("DevelopmentStorageProxyUri is not supported");
    }
    if (!parts.empty()) {
      return Bad("UseDevelopmentStorage=true takes no other parts (got '" + parts.begin()->first +
                 "')");
    }
    a.name = std::string(kDevelopmentAccountName);
    a.key = *azure::Base64Decode(kDevelopmentAccountKey);
    a.queue_endpoint = std::string(kDevelopmentQueueEndpoint);
    return a;
  }

  std::string protocol = Lower(take("defaultendpointsprotocol"));
  if (protocol.empty()) protocol = "https";
  if (protocol != "https" && protocol != "http") {
    return Bad("DefaultEndpointsProtocol must be http or https");
  }
  a.name = take("accountname");
  std::string key = take("accountkey");
  std::string sas = take("sharedaccesssignature");
  std::string suffix = take("endpointsuffix");
  std::string queue_endpoint = take("queueendpoint");
  for (const char* ignored : {"blobendpoint", "tableendpoint", "fileendpoint"}) take(ignored);
  if (!parts.empty()) return Bad("unknown part '" + parts.begin()->first + "'");

  if (!key.empty() && !sas.empty()) {
    return Bad("give AccountKey or SharedAccessSignature, not both");
  }
  if (key.empty() && sas.empty()) {
    return Bad(
        "needs AccountName and AccountKey, a SharedAccessSignature, or "
        "UseDevelopmentStorage=true");
  }
  if (!a.name.empty() && !ValidAccountName(a.name)) {
    return Bad("AccountName must be 3 to 24 lower-case letters and digits");
  }
  if (!key.empty()) {
    if (a.name.empty()) return Bad("AccountKey needs AccountName");
    auto decoded = azure::Base64Decode(key);
    if (!decoded.ok() || decoded->empty()) return Bad("AccountKey is not base64");
    a.key = std::move(*decoded);
  } else {
    if (sas.starts_with("?")) sas.erase(0, 1);
    if (sas.find("sig=") == std::string::npos) {
      return Bad("SharedAccessSignature has no sig= parameter");
    }
    if (sas.find_first_of(" #") != std::string::npos) {
      return Bad("SharedAccessSignature must be a URL query (no spaces or '#')");
    }
    a.sas = std::move(sas);
  }
  if (!queue_endpoint.empty()) {
    ASSIGN_OR_RETURN(a.queue_endpoint, Endpoint("QueueEndpoint", queue_endpoint));
  } else {
    if (a.name.empty()) return Bad("needs QueueEndpoint or AccountName");
    if (suffix.empty()) suffix = "core.windows.net";
    if (suffix.find_first_of("/:?# ") != std::string::npos) {
      return Bad("EndpointSuffix must be a DNS suffix (core.windows.net)");
    }
    a.queue_endpoint = protocol + "://" + a.name + ".queue." + suffix;
  }
  if (a.name.empty()) {
    // A SAS with only an endpoint: the account is the first label of the host, or the first
    // path segment of a path-style (emulator) endpoint. It is only used in log lines.
    std::string rest = a.queue_endpoint.substr(a.queue_endpoint.find("://") + 3);
    size_t slash = rest.find('/');
    a.name = slash != std::string::npos ? rest.substr(slash + 1) : rest.substr(0, rest.find('.'));
  }
  return a;
}

}  // namespace berth
