#include "daemon/key_store.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/random.h"

namespace berth {
namespace {

using json = nlohmann::json;

constexpr mode_t kKeyFileMode = 0600;
constexpr size_t kGeneratedKeyBytes = 32;
constexpr char kDefaultKeyFile[] = "function-key";
constexpr char kMasterKeyFile[] = "master-key";
constexpr char kKeysFile[] = "keys.json";

std::string TrimmedLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// The key kept in `path`, generating and writing one when the file is missing or empty.
Result<std::string> LoadOrCreateKeyFile(const std::filesystem::path& path) {
  auto existing = ReadFile(path);
  if (existing.ok()) {
    std::string key = TrimmedLine(*existing);
    if (!key.empty()) {
      ::chmod(path.c_str(), kKeyFileMode);  // tighten a hand-made file; best effort
      return key;
    }
  } else if (!existing.status().IsNotFound()) {
    return existing.status();
  }
  std::string key = RandomUrlSafeToken(kGeneratedKeyBytes);
  RETURN_IF_ERROR(WriteFileAtomic(path, key + "\n", kKeyFileMode));
  return key;
}

// The key kept in `path`; "" when the file is missing or empty.
Result<std::string> ReadKeyFile(const std::filesystem::path& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    if (text.status().IsNotFound()) return std::string();
    return text.status();
  }
  return TrimmedLine(std::move(text).value());
}

// Reads a {name: value} object of keys.json into `out`.
Status ReadKeyObject(const json& j, const std::string& where,
                     std::map<std::string, std::string, std::less<>>& out) {
  if (!j.is_object()) return Status::InvalidArgument(where + ": must be an object");
  for (const auto& [name, value] : j.items()) {
    if (!value.is_string() || value.get<std::string>().empty()) {
      return Status::InvalidArgument(where + "." + name + ": must be a non-empty string");
    }
    out[name] = value.get<std::string>();
  }
  return Status::Ok();
}

Status LoadKeysJson(const std::filesystem::path& path, const std::vector<std::string>& functions,
                    KeySet& keys) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status().IsNotFound() ? Status::Ok() : text.status();
  ::chmod(path.c_str(), kKeyFileMode);
  json doc = json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::InvalidArgument(path.string() + ": not a JSON object");
  }
  if (doc.contains("host")) {
    std::string default_key = keys.host[std::string(kDefaultKeyName)];
    RETURN_IF_ERROR(ReadKeyObject(doc["host"], path.string() + ": host", keys.host));
    keys.host[std::string(kDefaultKeyName)] = default_key;  // the file named for it wins
  }
  if (doc.contains("functions")) {
    const json& fns = doc["functions"];
    if (!fns.is_object())
      return Status::InvalidArgument(path.string() + ": functions: not an object");
    for (const auto& f : functions) {
      if (!fns.contains(f)) continue;
      RETURN_IF_ERROR(ReadKeyObject(fns[f], path.string() + ": functions." + f, keys.functions[f]));
    }
  }
  return Status::Ok();
}

std::string KeysJson(const KeySet& keys) {
  json host = json::object();
  for (const auto& [name, value] : keys.host) {
    if (name != kDefaultKeyName) host[name] = value;
  }
  json fns = json::object();
  for (const auto& [f, named] : keys.functions) {
    fns[f] = json::object();
    for (const auto& [name, value] : named) fns[f][name] = value;
  }
  return json{{"host", host}, {"functions", fns}}.dump(2) + "\n";
}

}  // namespace

Result<std::unique_ptr<FileKeyStore>> FileKeyStore::Open(FileKeyStoreOptions opts) {
  KeySet keys;
  for (const auto& f : opts.functions) keys.functions[f];
  if (!opts.pinned_default_key.empty()) {
    keys.default_pinned = true;
    keys.host[std::string(kDefaultKeyName)] = opts.pinned_default_key;
  } else {
    ASSIGN_OR_RETURN(keys.host[std::string(kDefaultKeyName)],
                     LoadOrCreateKeyFile(opts.data_dir / kDefaultKeyFile));
  }
  ASSIGN_OR_RETURN(keys.master, LoadOrCreateKeyFile(opts.data_dir / kMasterKeyFile));
  RETURN_IF_ERROR(LoadKeysJson(opts.data_dir / kKeysFile, opts.functions, keys));
  return std::unique_ptr<FileKeyStore>(new FileKeyStore(std::move(opts), std::move(keys)));
}

Result<KeySet> FileKeyStore::ReadKeys(const std::filesystem::path& data_dir,
                                      const std::vector<std::string>& functions) {
  KeySet keys;
  for (const auto& f : functions) keys.functions[f];
  ASSIGN_OR_RETURN(std::string default_key, ReadKeyFile(data_dir / kDefaultKeyFile));
  ASSIGN_OR_RETURN(keys.master, ReadKeyFile(data_dir / kMasterKeyFile));
  keys.host[std::string(kDefaultKeyName)] = default_key;
  RETURN_IF_ERROR(LoadKeysJson(data_dir / kKeysFile, functions, keys));
  if (default_key.empty()) keys.host.erase(std::string(kDefaultKeyName));
  return keys;
}

FileKeyStore::FileKeyStore(FileKeyStoreOptions opts, KeySet keys)
    : opts_(std::move(opts)), keys_(std::move(keys)) {}

std::string FileKeyStore::default_key() const {
  MutexLock lock(mu_);
  auto it = keys_.host.find(kDefaultKeyName);
  return it == keys_.host.end() ? "" : it->second;
}

std::string FileKeyStore::master_key() const {
  MutexLock lock(mu_);
  return keys_.master;
}

KeyAccess FileKeyStore::Check(std::string_view function, std::string_view presented) const {
  MutexLock lock(mu_);
  return keys_.Check(function, presented);
}

Result<std::vector<NamedKey>> FileKeyStore::List(std::string_view function) const {
  MutexLock lock(mu_);
  return keys_.List(function);
}

Result<PutKeyResult> FileKeyStore::Put(std::string_view function, std::string_view name,
                                       std::string_view value) {
  MutexLock lock(mu_);
  KeySet next = keys_;
  ASSIGN_OR_RETURN(PutKeyResult put, next.Put(function, name, value));
  RETURN_IF_ERROR(Persist(next));
  keys_ = std::move(next);
  return put;
}

Status FileKeyStore::Delete(std::string_view function, std::string_view name) {
  MutexLock lock(mu_);
  KeySet next = keys_;
  RETURN_IF_ERROR(next.Delete(function, name));
  RETURN_IF_ERROR(Persist(next));
  keys_ = std::move(next);
  return Status::Ok();
}

Status FileKeyStore::Persist(const KeySet& next) const {
  if (next.master != keys_.master) {
    RETURN_IF_ERROR(
        WriteFileAtomic(opts_.data_dir / kMasterKeyFile, next.master + "\n", kKeyFileMode));
  }
  auto default_of = [](const KeySet& k) {
    auto it = k.host.find(kDefaultKeyName);
    return it == k.host.end() ? std::string() : it->second;
  };
  if (!next.default_pinned && default_of(next) != default_of(keys_)) {
    RETURN_IF_ERROR(
        WriteFileAtomic(opts_.data_dir / kDefaultKeyFile, default_of(next) + "\n", kKeyFileMode));
  }
  std::string now = KeysJson(keys_), then = KeysJson(next);
  if (now != then) RETURN_IF_ERROR(WriteFileAtomic(opts_.data_dir / kKeysFile, then, kKeyFileMode));
  return Status::Ok();
}

}  // namespace berth
