// FileKeyStore: the daemon's KeyStore, kept in the data dir. Three files, each mode 0600 and
// published atomically (temp file, fsync, rename):
//
//   <data>/function-key   the host key "default" (what the README's `cat .berth/function-key`
//                         reads); not used when the FunctionKey setting pins the key
//   <data>/master-key     the master key `_master`
//   <data>/keys.json      every other key: {"host": {name: value}, "functions": {fn: {name:
//   value}}}
//
// The first start generates the default and master keys. A change is on disk before it is
// visible (and before the API answers). One process owns a data dir's keys (the `berth keys`
// CLI goes through the server's admin API). Thread-safe.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "api/keys.h"
#include "common/mutex.h"
#include "common/status.h"

namespace berth {

struct FileKeyStoreOptions {
  std::filesystem::path data_dir;  // where the key files live (must exist)
  std::string pinned_default_key;  // FunctionKey setting; "" = kept in <data>/function-key
  std::vector<std::string> functions = {"jobs"};  // the functions that can have keys
};

class FileKeyStore final : public KeyStore {
 public:
  // Loads the keys, generating the default and master keys when their files are missing or
  // empty. InvalidArgument for a malformed keys.json; IoError when a file cannot be written.
  static Result<std::unique_ptr<FileKeyStore>> Open(FileKeyStoreOptions opts);

  // The keys kept in `data_dir` as they are, for copying them elsewhere: nothing is generated
  // or written, and a missing file is a missing key. InvalidArgument for a malformed keys.json.
  static Result<KeySet> ReadKeys(const std::filesystem::path& data_dir,
                                 const std::vector<std::string>& functions = {"jobs"});

  // The host's "default" key and the master key, as they are now.
  std::string default_key() const;
  std::string master_key() const;

  KeyAccess Check(std::string_view function, std::string_view presented) const override;
  Result<std::vector<NamedKey>> List(std::string_view function) const override;
  Result<PutKeyResult> Put(std::string_view function, std::string_view name,
                           std::string_view value) override;
  Status Delete(std::string_view function, std::string_view name) override;

 private:
  FileKeyStore(FileKeyStoreOptions opts, KeySet keys);
  // Writes the files of `next` that differ from keys_. Caller holds mu_.
  Status Persist(const KeySet& next) const REQUIRES(mu_);

  const FileKeyStoreOptions opts_;
  mutable Mutex mu_;
  KeySet keys_ GUARDED_BY(mu_);
};

}  // namespace berth
