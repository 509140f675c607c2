#include "images/registry_auth.h"

#include <openssl/evp.h>

#include <cctype>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/files.h"

namespace berth {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void SkipSpaceAndCommas(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) ++i;
}

// A quoted-string (with \-escapes) or a token, starting at `i`.
std::string ParseValue(std::string_view s, size_t& i) {
  std::string value;
  if (i < s.size() && s[i] == '"') {
    for (++i; i < s.size() && s[i] != '"'; ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      value += s[i];
    }
    if (i < s.size()) ++i;  // closing quote
    return value;
  }
  while (i < s.size() && s[i] != ',' && s[i] != ' ') value += s[i++];
  return value;
}

// "https://index.docker.io/v1/" -> "index.docker.io"; "host:5000" stays.
std::string HostOfKey(std::string_view key) {
  if (size_t scheme = key.find("://"); scheme != std::string_view::npos) {
    key.remove_prefix(scheme + 3);
  }
  return Lower(key.substr(0, key.find('/')));
}

bool KeyMatches(std::string_view key, std::string_view registry) {
  std::string host = HostOfKey(key);
  std::string want = Lower(registry);
  if (host == want) return true;
  auto is_hub = [](std::string_view h) {
    return h == "docker.io" || h == "index.docker.io" || h == "registry-1.docker.io";
  };
  return is_hub(host) && is_hub(want);
}

Result<Credentials> CredentialsOf(const nlohmann::json& entry, std::string_view key) {
  Credentials c;
  if (!entry.is_object()) return c;
  if (auto auth = entry.find("auth"); auth != entry.end() && auth->is_string()) {
    Result<std::string> decoded = Base64Decode(auth->get<std::string>());
    size_t colon = decoded.ok() ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      return Status::InvalidArgument("auths[\"" + std::string(key) +
                                     "\"].auth is not base64 of user:password");
    }
    c.username = decoded->substr(0, colon);
    c.password = decoded->substr(colon + 1);
    return c;
  }
  c.username = entry.value("username", "");
  c.password = entry.value("password", "");
  return c;
}

}  // namespace

Result<AuthChallenge> ParseAuthChallenge(std::string_view header) {
  size_t i = 0;
  while (i < header.size() && header[i] == ' ') ++i;
  size_t start = i;
  while (i < header.size() && header[i] != ' ') ++i;
  AuthChallenge c;
  c.scheme = Lower(header.substr(start, i - start));
  if (c.scheme.empty()) return Status::InvalidArgument("empty WWW-Authenticate challenge");
  while (true) {
    SkipSpaceAndCommas(header, i);
    if (i >= header.size()) break;
    size_t eq = header.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string name = Lower(header.substr(i, eq - i));
    while (!name.empty() && name.back() == ' ') name.pop_back();
    i = eq + 1;
    c.params[name] = ParseValue(header, i);
  }
  return c;
}

Result<Credentials> LookupCredentials(const std::filesystem::path& auth_file,
                                      std::string_view registry) {
  if (auth_file.empty()) return Credentials();
  Result<std::string> text = ReadFile(auth_file);
  if (!text.ok()) return text.status().WithContext("registry auth file");
  nlohmann::json doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::InvalidArgument("registry auth file " + auth_file.string() +
                                   " is not a JSON object");
  }
  auto auths = doc.find("auths");
  if (auths == doc.end() || !auths->is_object()) return Credentials();
  for (const auto& [key, entry] : auths->items()) {
    if (KeyMatches(key, registry)) return CredentialsOf(entry, key);
  }
  return Credentials();
}

std::string Base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  std::string in;
  for (char c : text) {
    if (c != '\n' && c != '\r' && c != ' ') in += c;
  }
  if (in.size() % 4 != 0) return Status::InvalidArgument("malformed base64");
  std::string out(3 * in.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return Status::InvalidArgument("malformed base64");
  size_t len = static_cast<size_t>(n);
  for (size_t i = in.size(); i > 0 && in[i - 1] == '='; --i) --len;  // EVP counts the padding
  out.resize(len);
  return out;
}

}  // namespace berth
