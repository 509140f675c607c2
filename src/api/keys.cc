#include "api/keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>

#include "common/random.h"

namespace berth {
namespace {

constexpr size_t kMaxKeyNameLength = 128;
constexpr size_t kMinKeyValueLength = 16;
constexpr size_t kMaxKeyValueLength = 256;
constexpr size_t kGeneratedKeyBytes = 32;

bool IsNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool IsValueChar(char c) { return IsNameChar(c) || c == '~' || c == '='; }

std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out;
}

bool DigestsEqual(const KeyDigest& a, const KeyDigest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

KeyDigest DigestOfKey(std::string_view key) {
  // Fetched once: OpenSSL 3's one-shot SHA256() looks the algorithm up on every call.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  KeyDigest out{};
  unsigned int n = 0;
  if (kSha256 == nullptr ||
      EVP_Digest(key.data(), key.size(), out.data(), &n, kSha256, nullptr) != 1 ||
      n != out.size()) {
    std::abort();  // no SHA-256 in libcrypto: no key could be checked safely
  }
  return out;
}

KeyDigest KeySet::StoredDigest(const std::string& value) const {
  if (auto it = digests.find(value); it != digests.end()) return it->second;
  size_t stored = 1 + host.size();
  for (const auto& [function, keys] : functions) stored += keys.size();
  if (digests.size() >= 2 * stored + 8) digests.clear();  // keys were replaced or deleted
  return digests.emplace(value, DigestOfKey(value)).first->second;
}

Status ValidateKeyName(std::string_view name) {
  if (name.empty() || name.size() > kMaxKeyNameLength) {
    return Status::InvalidArgument("a key name must have 1 to 128 characters");
  }
  if (!std::all_of(name.begin(), name.end(), IsNameChar)) {
    return Status::InvalidArgument("key name '" + Printable(name) +
                                   "': only letters, digits, '.', '_' and '-' are allowed");
  }
  if (name.front() == '_') {
    return Status::InvalidArgument("key name '" + Printable(name) +
                                   "': names starting with '_' are reserved");
  }
  return Status::Ok();
}

Status ValidateKeyValue(std::string_view value) {
  if (value.size() < kMinKeyValueLength || value.size() > kMaxKeyValueLength) {
    return Status::InvalidArgument("a key value must have 16 to 256 characters");
  }
  if (!std::all_of(value.begin(), value.end(), IsValueChar)) {
    return Status::InvalidArgument(
        "a key value may hold only letters, digits and '.', '_', '~', '=', '-'");
  }
  return Status::Ok();
}

KeyAccess KeySet::Check(std::string_view function, std::string_view presented) const {
  if (presented.empty()) return KeyAccess::kNone;
  // The presented key is hashed once and its digest compared with every stored key's, in
  // constant time and with no early exit: the time does not tell which one matched, nor how
  // long a stored key is.
  const KeyDigest digest = DigestOfKey(presented);
  bool is_master = !master.empty() && DigestsEqual(digest, StoredDigest(master));
  bool is_function = false;
  for (const auto& [name, value] : host) is_function |= DigestsEqual(digest, StoredDigest(value));
  if (auto it = functions.find(function); it != functions.end()) {
    for (const auto& [name, value] : it->second)
      is_function |= DigestsEqual(digest, StoredDigest(value));
  }
  if (is_master) return KeyAccess::kMaster;
  return is_function ? KeyAccess::kFunction : KeyAccess::kNone;
}

Result<std::vector<NamedKey>> KeySet::List(std::string_view function) const {
  std::vector<NamedKey> out;
  if (function.empty()) {
    if (!master.empty()) out.push_back({std::string(kMasterKeyName), master});
    for (const auto& [name, value] : host) out.push_back({name, value});
  } else {
    auto it = functions.find(function);
    if (it == functions.end()) {
      return Status::NotFound("no function named '" + Printable(function) + "'");
    }
    for (const auto& [name, value] : it->second) out.push_back({name, value});
  }
  std::sort(out.begin(), out.end(),
            [](const NamedKey& a, const NamedKey& b) { return a.name < b.name; });
  return out;
}

Result<std::map<std::string, std::string, std::less<>>*> KeySet::KeysOf(std::string_view function) {
  if (function.empty()) return &host;
  auto it = functions.find(function);
  if (it == functions.end()) {
    return Status::NotFound("no function named '" + Printable(function) + "'");
  }
  return &it->second;
}

Result<PutKeyResult> KeySet::Put(std::string_view function, std::string_view name,
                                 std::string_view value) {
  bool is_master = function.empty() && name == kMasterKeyName;
  if (!is_master) RETURN_IF_ERROR(ValidateKeyName(name));
  if (!value.empty()) RETURN_IF_ERROR(ValidateKeyValue(value));
  std::string v = value.empty() ? RandomUrlSafeToken(kGeneratedKeyBytes) : std::string(value);
  if (is_master) {
    master = v;
    return PutKeyResult{{std::string(name), std::move(v)}, false};
  }
  if (function.empty() && name == kDefaultKeyName && default_pinned) {
    return Status::FailedPrecondition(
        "the default host key is pinned by the FunctionKey setting; change it there");
  }
  ASSIGN_OR_RETURN(auto* keys, KeysOf(function));
  auto [it, created] = keys->insert_or_assign(std::string(name), v);
  return PutKeyResult{{it->first, it->second}, created};
}

Status KeySet::Delete(std::string_view function, std::string_view name) {
  if (function.empty() && (name == kMasterKeyName || name == kDefaultKeyName)) {
    return Status::FailedPrecondition("the " + std::string(name) +
                                      " host key cannot be deleted; POST to it to renew it");
  }
  ASSIGN_OR_RETURN(auto* keys, KeysOf(function));
  auto it = keys->find(name);
  if (it == keys->end()) return Status::NotFound("no key named '" + Printable(name) + "'");
  keys->erase(it);
  return Status::Ok();
}

std::shared_ptr<MemoryKeyStore> MemoryKeyStore::WithHostKeys(
    const std::vector<std::string>& host_keys, std::string master) {
  KeySet set;
  set.master = std::move(master);
  for (size_t i = 0; i < host_keys.size(); ++i) {
    set.host[i == 0 ? std::string(kDefaultKeyName) : "key" + std::to_string(i)] = host_keys[i];
  }
  set.functions["jobs"];
  return std::make_shared<MemoryKeyStore>(std::move(set));
}

KeyAccess MemoryKeyStore::Check(std::string_view function, std::string_view presented) const {
  MutexLock lock(mu_);
  return keys_.Check(function, presented);
}

Result<std::vector<NamedKey>> MemoryKeyStore::List(std::string_view function) const {
  MutexLock lock(mu_);
  return keys_.List(function);
}

Result<PutKeyResult> MemoryKeyStore::Put(std::string_view function, std::string_view name,
                                         std::string_view value) {
  MutexLock lock(mu_);
  return keys_.Put(function, name, value);
}

Status MemoryKeyStore::Delete(std::string_view function, std::string_view name) {
  MutexLock lock(mu_);
  return keys_.Delete(function, name);
}

}  // namespace berth
