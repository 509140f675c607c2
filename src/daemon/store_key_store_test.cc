// StoreKeyStore over the keys of a real store: the KeyStore contract on both engines (SQLite,
// and a real PostgreSQL 15 server), and two nodes sharing one PostgreSQL database.
#include "daemon/store_key_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "common/files.h"
#include "tests/support/postgres_server.h"
#include "tests/support/test_stores.h"

namespace berth {
namespace {

class ScopedDir {
 public:
  ScopedDir() {
    std::string tmpl = "/tmp/berth-store-keys-XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~ScopedDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string FileText(const std::filesystem::path& p) {
  auto text = ReadFile(p);
  return text.ok() ? *text : "";
}

mode_t Mode(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

StoreKeyStoreOptions NoThread(std::filesystem::path mirror = {}, std::string pinned = "") {
  StoreKeyStoreOptions opts;
  opts.refresh_interval = milliseconds(0);
  opts.mirror_dir = std::move(mirror);
  opts.pinned_default_key = std::move(pinned);
  return opts;
}

// The KeyStore contract, one node, on each engine.
class StoreKeyStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<TestStores>(GetParam());
    Status st = engine_->Open(clock_);
    ASSERT_TRUE(st.ok()) << st.ToString();
    rows_ = dynamic_cast<KeyRows*>(engine_->store());
    ASSERT_NE(rows_, nullptr);
  }
  std::unique_ptr<StoreKeyStore> Open(StoreKeyStoreOptions opts) {
    auto keys = StoreKeyStore::Open(*rows_, std::move(opts));
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    return keys.ok() ? std::move(keys).value() : nullptr;
  }

  FakeClock clock_;
  std::unique_ptr<TestStores> engine_;
  KeyRows* rows_ = nullptr;
  ScopedDir dir_;
};

TEST_P(StoreKeyStoreTest, FirstOpenGeneratesDefaultAndMasterInTheStoreAndMirrorsThem) {
  auto keys = Open(NoThread(dir_.path()));
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->default_key().size(), 43u);
  EXPECT_EQ(keys->master_key().size(), 43u);
  EXPECT_NE(keys->default_key(), keys->master_key());
  EXPECT_EQ(keys->Check("jobs", keys->default_key()), KeyAccess::kFunction);
  EXPECT_EQ(keys->Check("jobs", keys->master_key()), KeyAccess::kMaster);
  EXPECT_EQ(keys->Check("jobs", "not-a-key-0123456789"), KeyAccess::kNone);
  EXPECT_EQ(keys->Check("jobs", ""), KeyAccess::kNone);
  // In the store: what another node (or a restart) finds.
  auto rows = rows_->ListKeyRows();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].name, "_master");
  EXPECT_EQ((*rows)[0].value, keys->master_key());
  EXPECT_EQ((*rows)[1].name, "default");
  EXPECT_EQ((*rows)[1].value, keys->default_key());
  // Mirrored for the CLI, private.
  EXPECT_EQ(FileText(dir_.path() / "function-key"), keys->default_key() + "\n");
  EXPECT_EQ(FileText(dir_.path() / "master-key"), keys->master_key() + "\n");
  EXPECT_EQ(Mode(dir_.path() / "function-key"), 0600u);
  EXPECT_EQ(Mode(dir_.path() / "master-key"), 0600u);
  // A restart finds the same keys.
  std::string default_key = keys->default_key(), master = keys->master_key();
  keys.reset();
  auto again = Open(NoThread());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->default_key(), default_key);
  EXPECT_EQ(again->master_key(), master);
}

TEST_P(StoreKeyStoreTest, PutListDeleteFollowTheKeyModel) {
  auto keys = Open(NoThread());
  ASSERT_TRUE(keys);
  auto created = keys->Put("jobs", "ci", "ci-key-0123456789abc");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(created->created);
  auto replaced = keys->Put("jobs", "ci", "ci-key-renewed-012345");
  ASSERT_TRUE(replaced.ok());
  EXPECT_FALSE(replaced->created);
  auto generated = keys->Put("", "ops", "");
  ASSERT_TRUE(generated.ok());
  EXPECT_EQ(generated->key.value.size(), 43u);
  EXPECT_EQ(keys->Check("jobs", "ci-key-renewed-012345"), KeyAccess::kFunction);
  EXPECT_EQ(keys->Check("jobs", "ci-key-0123456789abc"), KeyAccess::kNone);
  EXPECT_EQ(keys->Check("jobs", generated->key.value), KeyAccess::kFunction);
  auto listed = keys->List("jobs");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "ci");
  auto host = keys->List("");
  ASSERT_TRUE(host.ok());
  ASSERT_EQ(host->size(), 3u);  // _master, default, ops
  EXPECT_EQ((*host)[0].name, "_master");

  EXPECT_EQ(keys->Put("jobs", "_x", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(keys->Put("jobs", "ci", "short").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(keys->Put("nope", "ci", "").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(keys->Delete("", "_master").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(keys->Delete("", "default").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(keys->Delete("jobs", "missing").code(), StatusCode::kNotFound);
  ASSERT_TRUE(keys->Delete("jobs", "ci").ok());
  EXPECT_EQ(keys->Check("jobs", "ci-key-renewed-012345"), KeyAccess::kNone);

  // Committed: a new node (or a restart) sees exactly this.
  auto other = Open(NoThread());
  ASSERT_TRUE(other);
  EXPECT_EQ(other->Check("jobs", generated->key.value), KeyAccess::kFunction);
  EXPECT_EQ(other->Check("jobs", "ci-key-renewed-012345"), KeyAccess::kNone);
}

TEST_P(StoreKeyStoreTest, RenewingTheMasterKeyReplacesItAndItsMirror) {
  auto keys = Open(NoThread(dir_.path()));
  ASSERT_TRUE(keys);
  std::string old_master = keys->master_key();
  auto renewed = keys->Put("", "_master", "");
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_FALSE(renewed->created);
  EXPECT_NE(keys->master_key(), old_master);
  EXPECT_EQ(keys->Check("jobs", old_master), KeyAccess::kNone);
  EXPECT_EQ(keys->Check("jobs", renewed->key.value), KeyAccess::kMaster);
  EXPECT_EQ(FileText(dir_.path() / "master-key"), renewed->key.value + "\n");
}

TEST_P(StoreKeyStoreTest, APinnedDefaultKeyIsUsedNotStoredNotMirroredAndCannotBeChanged) {
  auto keys = Open(NoThread(dir_.path(), "pinned-by-setting-0123"));
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->default_key(), "pinned-by-setting-0123");
  EXPECT_EQ(keys->Check("jobs", "pinned-by-setting-0123"), KeyAccess::kFunction);
  EXPECT_EQ(keys->Put("", "default", "").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "function-key"));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "master-key"));
  auto rows = rows_->ListKeyRows();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].name, "_master");
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreKeyStoreTest, ::testing::Values("Sqlite", "Postgres"),
                         EngineName);

// Two nodes: two PostgresStores (each with its own connections) on one database.
class TwoNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<PostgresServer*> server = PostgresServer::Shared();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    Result<std::string> db = (*server)->CreateDatabase();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    for (auto* node : {&a_, &b_}) {
      auto store = PostgresStore::Open(*db, clock_);
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      *node = std::move(store).value();
    }
  }

  SystemClock clock_;
  std::unique_ptr<PostgresStore> a_, b_;
};

TEST_F(TwoNodesTest, NodesStartingTogetherAgreeOnOneDefaultAndOneMasterKey) {
  Result<std::unique_ptr<StoreKeyStore>> ka = Status::Internal("not run");
  Result<std::unique_ptr<StoreKeyStore>> kb = Status::Internal("not run");
  std::thread ta([&] { ka = StoreKeyStore::Open(*a_, NoThread()); });
  std::thread tb([&] { kb = StoreKeyStore::Open(*b_, NoThread()); });
  ta.join();
  tb.join();
  ASSERT_TRUE(ka.ok()) << ka.status().ToString();
  ASSERT_TRUE(kb.ok()) << kb.status().ToString();
  EXPECT_EQ((*ka)->default_key(), (*kb)->default_key());
  EXPECT_EQ((*ka)->master_key(), (*kb)->master_key());
}

TEST_F(TwoNodesTest, AKeyChangedOnOneNodeIsHonouredOnTheOtherAfterItsRefresh) {
  auto ka = StoreKeyStore::Open(*a_, NoThread());
  auto kb = StoreKeyStore::Open(*b_, NoThread());
  ASSERT_TRUE(ka.ok() && kb.ok());
  auto put = (*ka)->Put("jobs", "ci", "ci-key-0123456789abc");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ((*kb)->Check("jobs", "ci-key-0123456789abc"), KeyAccess::kNone);  // not yet read
  ASSERT_TRUE((*kb)->Refresh().ok());
  EXPECT_EQ((*kb)->Check("jobs", "ci-key-0123456789abc"), KeyAccess::kFunction);
  // A change starts from the store as it is: b deletes the key a made without a refresh first.
  ASSERT_TRUE((*ka)->Put("jobs", "nightly", "nightly-key-0123456789").ok());
  ASSERT_TRUE((*kb)->Delete("jobs", "nightly").ok());
  ASSERT_TRUE((*ka)->Refresh().ok());
  EXPECT_EQ((*ka)->Check("jobs", "nightly-key-0123456789"), KeyAccess::kNone);
  // A renewed default key: the old one stops working on the other node, the new one works.
  std::string old_default = (*ka)->default_key();
  auto renewed = (*kb)->Put("", "default", "");
  ASSERT_TRUE(renewed.ok());
  ASSERT_TRUE((*ka)->Refresh().ok());
  EXPECT_EQ((*ka)->Check("jobs", old_default), KeyAccess::kNone);
  EXPECT_EQ((*ka)->Check("jobs", renewed->key.value), KeyAccess::kFunction);
}

TEST_F(TwoNodesTest, TheRefreshThreadBringsAnotherNodesChangeAndItsMirror) {
  ScopedDir mirror_b;
  StoreKeyStoreOptions fast;
  fast.refresh_interval = milliseconds(50);
  fast.mirror_dir = mirror_b.path();
  auto ka = StoreKeyStore::Open(*a_, NoThread());
  auto kb = StoreKeyStore::Open(*b_, fast);
  ASSERT_TRUE(ka.ok() && kb.ok());
  auto put = (*ka)->Put("", "ops", "ops-key-0123456789abc");
  ASSERT_TRUE(put.ok());
  auto renewed = (*ka)->Put("", "_master", "");
  ASSERT_TRUE(renewed.ok());
  // Waits for something to happen (bounded), never for nothing to happen.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline &&
         ((*kb)->Check("jobs", "ops-key-0123456789abc") != KeyAccess::kFunction ||
          FileText(mirror_b.path() / "master-key") != renewed->key.value + "\n")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ((*kb)->Check("jobs", "ops-key-0123456789abc"), KeyAccess::kFunction);
  EXPECT_EQ((*kb)->Check("jobs", renewed->key.value), KeyAccess::kMaster);
  EXPECT_EQ(FileText(mirror_b.path() / "master-key"), renewed->key.value + "\n");
}

}  // namespace
}  // namespace berth
