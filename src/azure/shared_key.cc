#include "azure/shared_key.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "common/url_encoding.h"

namespace berth {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The value of header `name` (case-insensitive); "" when absent.
std::string Header(const StorageRequest& req, std::string_view name) {
  for (const auto& [n, v] : req.headers) {
    if (Lower(n) == name) return v;
  }
  return "";
}

// Unfolds and trims a header value as the canonicalization asks (runs of spaces become one).
std::string Canonical(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

int FromHex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = FromHex(s[i + 1]), lo = FromHex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

}  // namespace

std::string EncodeQuery(const StorageRequest& req) {
  std::string q;
  for (const auto& [n, v] : req.query) {
    if (!q.empty()) q += '&';
    q += PercentEncode(n) + "=" + PercentEncode(v);
  }
  return q;
}

std::string SharedKeyStringToSign(const StorageRequest& req, std::string_view account) {
  std::string length = Header(req, "content-length");
  if (length == "0") length.clear();
  std::string s = req.method + "\n";
  s += Header(req, "content-encoding") + "\n";
  s += Header(req, "content-language") + "\n";
  s += length + "\n";
  s += Header(req, "content-md5") + "\n";
  s += Header(req, "content-type") + "\n";
  s += Header(req, "date") + "\n";
  s += Header(req, "if-modified-since") + "\n";
  s += Header(req, "if-match") + "\n";
  s += Header(req, "if-none-match") + "\n";
  s += Header(req, "if-unmodified-since") + "\n";
  s += Header(req, "range") + "\n";
  std::map<std::string, std::string> ms;  // sorted by lower-case name
  for (const auto& [n, v] : req.headers) {
    std::string name = Lower(n);
    if (name.starts_with("x-ms-")) ms[name] = Canonical(v);
  }
  for (const auto& [n, v] : ms) s += n + ":" + v + "\n";
  s += "/" + std::string(account) + req.path;
  std::map<std::string, std::vector<std::string>> params;  // sorted, values sorted
  for (const auto& [n, v] : req.query) params[Lower(n)].push_back(v);
  for (auto& [n, values] : params) {
    std::sort(values.begin(), values.end());
    s += "\n" + n + ":";
    for (size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + values[i];
  }
  return s;
}

std::string SharedKeySignature(std::string_view key, std::string_view string_to_sign) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(string_to_sign.data()), string_to_sign.size(), mac,
       &len);
  return azure::Base64Encode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

void AuthorizeRequest(const StorageAccount& account, StorageRequest& req) {
  if (!account.sas.empty()) {
    std::string_view sas = account.sas;
    size_t pos = 0;
    while (pos <= sas.size()) {
      size_t amp = sas.find('&', pos);
      if (amp == std::string_view::npos) amp = sas.size();
      std::string_view part = sas.substr(pos, amp - pos);
      pos = amp + 1;
      if (part.empty()) continue;
      size_t eq = part.find('=');
      std::string name = PercentDecode(part.substr(0, eq));
      std::string value = eq == std::string_view::npos ? "" : PercentDecode(part.substr(eq + 1));
      req.query.emplace_back(std::move(name), std::move(value));
    }
    return;
  }
  std::string sig = SharedKeySignature(account.key, SharedKeyStringToSign(req, account.name));
  req.headers.emplace_back("Authorization", "SharedKey " + account.name + ":" + sig);
}

}  // namespace berth
