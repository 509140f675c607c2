#include "daemon/store_key_store.h"

#include <chrono>

#include "common/files.h"
#include "common/log.h"
#include "common/random.h"

namespace berth {
namespace {

constexpr mode_t kKeyFileMode = 0600;
constexpr size_t kGeneratedKeyBytes = 32;
constexpr char kDefaultKeyFile[] = "function-key";
constexpr char kMasterKeyFile[] = "master-key";

std::string DefaultOf(const KeySet& keys) {
  auto it = keys.host.find(kDefaultKeyName);
  return it == keys.host.end() ? std::string() : it->second;
}

}  // namespace

Result<std::unique_ptr<StoreKeyStore>> StoreKeyStore::Open(KeyRows& rows,
                                                           StoreKeyStoreOptions opts) {
  if (opts.pinned_default_key.empty()) {
    RETURN_IF_ERROR(
        rows.InsertKeyRowIfAbsent("", kDefaultKeyName, RandomUrlSafeToken(kGeneratedKeyBytes))
            .status()
            .WithContext("keys: create the default key"));
  }
  RETURN_IF_ERROR(
      rows.InsertKeyRowIfAbsent("", kMasterKeyName, RandomUrlSafeToken(kGeneratedKeyBytes))
          .status()
          .WithContext("keys: create the master key"));
  std::unique_ptr<StoreKeyStore> store(new StoreKeyStore(rows, std::move(opts)));
  RETURN_IF_ERROR(store->Refresh());
  if (store->opts_.refresh_interval > milliseconds(0)) {
    store->refresher_ = std::thread([s = store.get()] { s->RefreshLoop(); });
  }
  return store;
}

StoreKeyStore::StoreKeyStore(KeyRows& rows, StoreKeyStoreOptions opts)
    : rows_(rows), opts_(std::move(opts)) {}

StoreKeyStore::~StoreKeyStore() {
  {
    MutexLock lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

void StoreKeyStore::RefreshLoop() {
  bool failing = false;
  MutexLock lock(stop_mu_);
  for (;;) {
    auto until = std::chrono::steady_clock::now() + opts_.refresh_interval;
    while (!stopping_ && stop_cv_.wait_until(lock, until) != std::cv_status::timeout) {
    }
    if (stopping_) return;
    lock.unlock();
    Status st = Refresh();
    // One line when the store stops answering and one when it answers again, not one a second.
    if (!st.ok() && !failing) {
      LogWarn("keys: cannot read the keys from the store (the ones known stay in use): " +
              st.ToString());
    } else if (st.ok() && failing) {
      LogInfo("keys: read from the store again");
    }
    failing = !st.ok();
    lock.lock();
  }
}

Status StoreKeyStore::Refresh() {
  MutexLock lock(write_mu_);
  ASSIGN_OR_RETURN(KeySet keys, ReadRows());
  return Install(std::move(keys));
}

Result<KeySet> StoreKeyStore::ReadRows() {
  ASSIGN_OR_RETURN(std::vector<KeyRow> rows, rows_.ListKeyRows());
  KeySet keys;
  for (const auto& f : opts_.functions) keys.functions[f];
  for (KeyRow& row : rows) {
    if (row.scope.empty() && row.name == kMasterKeyName) {
      keys.master = std::move(row.value);
    } else if (row.scope.empty()) {
      keys.host[row.name] = std::move(row.value);
    } else if (auto it = keys.functions.find(row.scope); it != keys.functions.end()) {
      it->second[row.name] = std::move(row.value);
    }  // a function this node does not know: not its business
  }
  if (!opts_.pinned_default_key.empty()) {
    keys.default_pinned = true;
    keys.host[std::string(kDefaultKeyName)] = opts_.pinned_default_key;
  }
  return keys;
}

Status StoreKeyStore::Install(KeySet keys) {
  Status mirrored = Mirror(keys);
  MutexLock lock(mu_);
  keys_ = std::move(keys);
  return mirrored;
}

Status StoreKeyStore::Mirror(const KeySet& keys) {
  if (opts_.mirror_dir.empty()) return Status::Ok();
  std::string default_key = DefaultOf(keys);
  if (!keys.default_pinned && !default_key.empty() && default_key != mirrored_default_) {
    RETURN_IF_ERROR(
        WriteFileAtomic(opts_.mirror_dir / kDefaultKeyFile, default_key + "\n", kKeyFileMode));
    mirrored_default_ = default_key;
  }
  if (!keys.master.empty() && keys.master != mirrored_master_) {
    RETURN_IF_ERROR(
        WriteFileAtomic(opts_.mirror_dir / kMasterKeyFile, keys.master + "\n", kKeyFileMode));
    mirrored_master_ = keys.master;
  }
  return Status::Ok();
}

std::string StoreKeyStore::default_key() const {
  MutexLock lock(mu_);
  return DefaultOf(keys_);
}

std::string StoreKeyStore::master_key() const {
  MutexLock lock(mu_);
  return keys_.master;
}

KeyAccess StoreKeyStore::Check(std::string_view function, std::string_view presented) const {
  MutexLock lock(mu_);
  return keys_.Check(function, presented);
}

Result<std::vector<NamedKey>> StoreKeyStore::List(std::string_view function) const {
  MutexLock lock(mu_);
  return keys_.List(function);
}

Result<PutKeyResult> StoreKeyStore::Put(std::string_view function, std::string_view name,
                                        std::string_view value) {
  MutexLock lock(write_mu_);
  // Start from the store's keys as they are now, not as this node last saw them.
  ASSIGN_OR_RETURN(KeySet next, ReadRows());
  // The key model checks the name, the value and the function, and generates an empty value.
  ASSIGN_OR_RETURN(PutKeyResult put, next.Put(function, name, value));
  ASSIGN_OR_RETURN(bool created, rows_.PutKeyRow(function, put.key.name, put.key.value));
  if (!(function.empty() && name == kMasterKeyName)) put.created = created;
  InstallCommitted(std::move(next));
  return put;
}

Status StoreKeyStore::Delete(std::string_view function, std::string_view name) {
  MutexLock lock(write_mu_);
  ASSIGN_OR_RETURN(KeySet next, ReadRows());
  RETURN_IF_ERROR(next.Delete(function, name));  // NotFound, or a key that cannot go
  RETURN_IF_ERROR(rows_.DeleteKeyRow(function, name));
  InstallCommitted(std::move(next));
  return Status::Ok();
}

void StoreKeyStore::InstallCommitted(KeySet keys) {
  // The change is committed: a mirror file that cannot be written is logged, not an error of
  // the change (the next refresh tries it again).
  if (Status st = Install(std::move(keys)); !st.ok()) LogWarn("keys: " + st.ToString());
}

}  // namespace berth
