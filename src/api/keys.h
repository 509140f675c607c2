// Keys: who may call what, in the function-key model. A function key belongs to one function
// (we have one, "jobs") and works for it alone; a host key (the "default" one and any an operator
// adds) works for every function; the master key `_master` works wherever a function key does
// and is the only key for the /admin routes. Keys are compared in constant time.
//
// KeyStore is the interface the API layer sees (the daemon's FileKeyStore persists keys in the
// data dir); KeySet is the key model itself as plain data, shared by the implementations;
// MemoryKeyStore keeps a KeySet in memory (tests, fuzzing). Implementations are thread-safe.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace berth {

inline constexpr std::string_view kMasterKeyName = "_master";
inline constexpr std::string_view kDefaultKeyName = "default";

// What a presented key grants.
enum class KeyAccess { kNone, kFunction, kMaster };

struct NamedKey {
  std::string name;
  std::string value;
};

// The answer to a Put: the key as stored, and whether it is new (else it replaced a value).
struct PutKeyResult {
  NamedKey key;
  bool created = false;
};

// A key name: 1..128 of [A-Za-z0-9._-], not starting with '_' (reserved, as `_master` is).
// InvalidArgument naming the problem otherwise.
Status ValidateKeyName(std::string_view name);

// A key value given by a caller: 16..256 of [A-Za-z0-9._~=-].
Status ValidateKeyValue(std::string_view value);

class KeyStore {
 public:
  virtual ~KeyStore() = default;

  // What `presented` grants for `function`: kMaster for the master key, kFunction for a host key
  // or one of `function`'s keys, kNone for anything else (the empty key included). Every key is
  // compared, so the time does not tell which one matched.
  virtual KeyAccess Check(std::string_view function, std::string_view presented) const = 0;

  // The keys of `function` ("" = the host's, `_master` included), sorted by name. NotFound for a
  // function that does not exist.
  virtual Result<std::vector<NamedKey>> List(std::string_view function) const = 0;

  // Creates or replaces key `name` of `function` ("" = host); an empty `value` generates a
  // random one (32 bytes, URL-safe base64). InvalidArgument for a bad name or value, NotFound for
  // an unknown function, FailedPrecondition for a key that is pinned by configuration.
  virtual Result<PutKeyResult> Put(std::string_view function, std::string_view name,
                                   std::string_view value) = 0;

  // Removes key `name` of `function`. NotFound when there is no such key; FailedPrecondition for
  // `_master` and the host's `default` key (they can be replaced, not removed).
  virtual Status Delete(std::string_view function, std::string_view name) = 0;
};

// SHA-256 of a key: what Check compares (equal length whatever the keys' lengths).
using KeyDigest = std::array<unsigned char, 32>;
KeyDigest DigestOfKey(std::string_view key);

// The key model as data. Not thread-safe (Check included); the stores lock around it.
struct KeySet {
  std::string master;                                    // `_master`
  std::map<std::string, std::string, std::less<>> host;  // name → value ("default", ...)
  std::map<std::string, std::map<std::string, std::string, std::less<>>, std::less<>>
      functions;                // function → name → value
  bool default_pinned = false;  // the host's "default" key is fixed by configuration

  KeyAccess Check(std::string_view function, std::string_view presented) const;
  Result<std::vector<NamedKey>> List(std::string_view function) const;
  Result<PutKeyResult> Put(std::string_view function, std::string_view name,
                           std::string_view value);
  Status Delete(std::string_view function, std::string_view name);

  // The keys of `function` (the host's when empty); NotFound for an unknown function.
  Result<std::map<std::string, std::string, std::less<>>*> KeysOf(std::string_view function);

  // Check's memo: stored key value -> its digest, so that a check hashes only the presented key.
  // Looked up by the stored values alone (its timing says nothing of the presented key); entries
  // of values no longer stored are dropped when it outgrows the keys.
  mutable std::map<std::string, KeyDigest, std::less<>> digests;

 private:
  KeyDigest StoredDigest(const std::string& value) const;
};

// A KeyStore in memory.
class MemoryKeyStore final : public KeyStore {
 public:
  explicit MemoryKeyStore(KeySet keys) : keys_(std::move(keys)) {}

  // A store whose host keys are `host_keys` (named "default", "key1", ...), with a "jobs"
  // function and master key `master` (none when empty).
  static std::shared_ptr<MemoryKeyStore> WithHostKeys(const std::vector<std::string>& host_keys,
                                                      std::string master = "");

  KeyAccess Check(std::string_view function, std::string_view presented) const override;
  Result<std::vector<NamedKey>> List(std::string_view function) const override;
  Result<PutKeyResult> Put(std::string_view function, std::string_view name,
                           std::string_view value) override;
  Status Delete(std::string_view function, std::string_view name) override;

 private:
  mutable Mutex mu_;
  KeySet keys_ GUARDED_BY(mu_);
};

}  // namespace berth
