#include "images/image_reference.h"

#include <cstddef>
#include <vector>

namespace berth {
namespace {

constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;
constexpr size_t kSha256HexLength = 64;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); }

Status Invalid(std::string_view text, std::string_view what) {
  return Status::InvalidArgument("invalid image reference \"" + std::string(text) +
                                 "\": " + std::string(what));
}

// [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
bool IsPathComponent(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (true) {
    const size_t start = i;
    while (i < n && IsLowerAlnum(s[i])) ++i;
    if (i == start) return false;
    if (i == n) return true;
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      ++i;
      if (i < n && s[i] == '_') ++i;
    } else if (s[i] == '-') {
      while (i < n && s[i] == '-') ++i;
    } else {
      return false;
    }
  }
}

// [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool IsDomainComponent(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-') return false;
  }
  return true;
}

// host[:port], where host is dot-separated domain components or a bracketed IPv6 address.
bool IsRegistry(std::string_view s) {
  std::string_view host = s;
  size_t colon = s.rfind(':');
  size_t bracket = s.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    std::string_view port = s.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    for (char c : port) {
      if (!IsDigit(c)) return false;
    }
    host = s.substr(0, colon);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    for (char c : host.substr(1, host.size() - 2)) {
      if (!IsLowerHex(c) && !(c >= 'A' && c <= 'F') && c != ':') return false;
    }
    return true;
  }
  while (true) {
    size_t dot = host.find('.');
    if (!IsDomainComponent(host.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    host.remove_prefix(dot + 1);
  }
}

// Docker's rule: the first component names a registry when it looks like a host.
bool LooksLikeRegistry(std::string_view first) {
  if (first == "localhost") return true;
  if (first.find_first_of(".:") != std::string_view::npos) return true;
  for (char c : first) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

bool IsTag(std::string_view s) {
  if (s.empty() || s.size() > kMaxTagLength) return false;
  if (!IsAlnum(s[0]) && s[0] != '_') return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

Status CheckDigest(std::string_view text, std::string_view digest) {
  size_t colon = digest.find(':');
  if (colon == std::string_view::npos) return Invalid(text, "digest must look like sha256:<hex>");
  if (digest.substr(0, colon) != "sha256") {
    return Invalid(text, "unsupported digest algorithm \"" + std::string(digest.substr(0, colon)) +
                             "\" (only sha256)");
  }
  std::string_view hex = digest.substr(colon + 1);
  if (hex.size() != kSha256HexLength) return Invalid(text, "sha256 digest must be 64 hex digits");
  for (char c : hex) {
    if (!IsLowerHex(c)) return Invalid(text, "sha256 digest must be lowercase hex");
  }
  return Status::Ok();
}

Status CheckRepositoryComponent(std::string_view text, std::string_view component) {
  if (component.empty()) return Invalid(text, "empty path component in repository");
  if (component == "." || component == "..") {
    return Invalid(text, "path component \"" + std::string(component) + "\" is not allowed");
  }
  if (IsPathComponent(component)) return Status::Ok();
  for (char c : component) {
    if (c >= 'A' && c <= 'Z') return Invalid(text, "repository name must be lowercase");
  }
  return Invalid(text, "repository component \"" + std::string(component) +
                           "\" must be [a-z0-9] runs separated by '.', '_', '__' or '-'");
}

// Splits at every '/'; "a//b" gives an empty middle part.
std::vector<std::string_view> SplitSlashes(std::string_view s) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t slash = s.find('/');
    parts.push_back(s.substr(0, slash));
    if (slash == std::string_view::npos) return parts;
    s.remove_prefix(slash + 1);
  }
}

// Splits `name` (no tag, no digest) into registry and repository and validates both.
Status ParseName(std::string_view text, std::string_view name, ImageReference& ref) {
  std::vector<std::string_view> parts = SplitSlashes(name);
  for (std::string_view part : parts) {
    if (part == "." || part == "..") {
      return Invalid(text, "path component \"" + std::string(part) + "\" is not allowed");
    }
  }
  size_t first = 0;
  ref.registry = kDefaultRegistry;
  if (parts.size() > 1 && LooksLikeRegistry(parts[0])) {
    if (!IsRegistry(parts[0])) {
      return Invalid(text, "registry \"" + std::string(parts[0]) + "\" is not host[:port]");
    }
    if (parts[0] != "index.docker.io") ref.registry = parts[0];
    name.remove_prefix(parts[0].size() + 1);
    first = 1;
  }
  if (name.empty()) return Invalid(text, "empty repository name");
  for (size_t i = first; i < parts.size(); ++i) {
    RETURN_IF_ERROR(CheckRepositoryComponent(text, parts[i]));
  }
  ref.repository = name;
  if (ref.registry == kDefaultRegistry && parts.size() - first == 1) {
    ref.repository.insert(0, "library/");
  }
  return Status::Ok();
}

}  // namespace

std::string ImageReference::Name() const { return registry + "/" + repository; }

std::string ImageReference::ToString() const {
  std::string s = Name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

Result<ImageReference> ParseImageReference(std::string_view text) {
  if (text.empty()) return Invalid(text, "empty reference");
  ImageReference ref;
  std::string_view rest = text;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = rest.substr(at + 1);
    RETURN_IF_ERROR(CheckDigest(text, ref.digest));
    rest = rest.substr(0, at);
  }
  size_t colon = rest.rfind(':');
  size_t last_slash = rest.rfind('/');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    std::string_view tag = rest.substr(colon + 1);
    if (tag.empty()) return Invalid(text, "empty tag");
    if (!IsTag(tag)) {
      return Invalid(
          text, "tag \"" + std::string(tag) + "\" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    }
    ref.tag = tag;
    rest = rest.substr(0, colon);
  }
  RETURN_IF_ERROR(ParseName(text, rest, ref));
  if (ref.Name().size() > kMaxNameLength) {
    return Invalid(text, "name is longer than 255 characters");
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = kDefaultTag;
  return ref;
}

}  // namespace berth
