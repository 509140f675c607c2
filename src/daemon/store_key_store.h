// StoreKeyStore: the daemon's KeyStore when nodes share a store (StoreConnection: PostgreSQL).
// The keys are rows of the store (store/key_rows.h), so every node checks the same keys; this
// node keeps a copy in memory for Check (constant-time compares, no round trip per request) and
// reads the rows again every `refresh_interval`, so a key created, renewed or deleted on any
// node is honoured (or refused) here within that interval. A change made here is committed to
// the store before Put or Delete returns (before the API answers), and seen here at once.
//
// The first node to start generates the default host key and the master key; nodes starting
// together agree on one of each (a compare-and-set in the store). The FunctionKey setting pins
// the default key on this node as it does for FileKeyStore.
//
// With `mirror_dir` set, the default and master keys are also written to <mirror_dir>/function-key
// and <mirror_dir>/master-key (mode 0600, published atomically) and kept current, so `berth`
// commands run on this machine find them where they find a single node's keys.
//
// Thread-safe. The KeyRows must outlive the StoreKeyStore; the destructor stops the refresh.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/keys.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "store/key_rows.h"

namespace berth {

struct StoreKeyStoreOptions {
  std::string pinned_default_key;  // FunctionKey setting; "" = the store's "default" row
  std::vector<std::string> functions = {"jobs"};  // the functions that can have keys
  // Where to mirror the default and master keys as files; "" = nowhere.
  std::filesystem::path mirror_dir;
  // How often the rows are read again. Default 1 s: a key changed on another node works (or
  // stops working) here within about a second, for one small query per second per node.
  // 0 = never by itself (tests call Refresh).
  milliseconds refresh_interval{1000};
};

class StoreKeyStore final : public KeyStore {
 public:
  // Creates the default (unless pinned) and master rows when they are missing, reads every
  // row, writes the mirror files and starts the refresh. The store's error when it cannot.
  static Result<std::unique_ptr<StoreKeyStore>> Open(KeyRows& rows, StoreKeyStoreOptions opts);
  ~StoreKeyStore() override;

  StoreKeyStore(const StoreKeyStore&) = delete;
  StoreKeyStore& operator=(const StoreKeyStore&) = delete;

  // Reads every row now and updates the keys in memory (and the mirror files). On an error the
  // keys in memory stay as they were.
  Status Refresh();

  // The host's "default" key and the master key, as this node knows them.
  std::string default_key() const;
  std::string master_key() const;

  KeyAccess Check(std::string_view function, std::string_view presented) const override;
  Result<std::vector<NamedKey>> List(std::string_view function) const override;
  Result<PutKeyResult> Put(std::string_view function, std::string_view name,
                           std::string_view value) override;
  Status Delete(std::string_view function, std::string_view name) override;

 private:
  StoreKeyStore(KeyRows& rows, StoreKeyStoreOptions opts);
  // The keys as the store's rows say now (the pinned default applied).
  Result<KeySet> ReadRows();
  // Makes `keys` current and writes the mirror files whose key changed; the mirror's error.
  Status Install(KeySet keys) REQUIRES(write_mu_);
  // Install after a committed change: a mirror error is logged.
  void InstallCommitted(KeySet keys) REQUIRES(write_mu_);
  // Writes the mirror files whose key changed.
  Status Mirror(const KeySet& keys) REQUIRES(write_mu_);
  void RefreshLoop();

  KeyRows& rows_;
  const StoreKeyStoreOptions opts_;

  // Serializes the writers of keys_ (refreshes and changes), so a refresh that read the rows
  // before a change committed never puts the older keys back.
  Mutex write_mu_;  // taken before mu_
  std::string mirrored_default_ GUARDED_BY(write_mu_);
  std::string mirrored_master_ GUARDED_BY(write_mu_);

  mutable Mutex mu_;
  KeySet keys_ GUARDED_BY(mu_);

  Mutex stop_mu_;
  std::condition_variable_any stop_cv_;
  bool stopping_ GUARDED_BY(stop_mu_) = false;
  std::thread refresher_;  // last: starts after everything above exists
};

}  // namespace berth
