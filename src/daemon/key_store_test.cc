#include "daemon/key_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/files.h"

namespace berth {
namespace {

class FileKeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-keys-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<FileKeyStore> Open(std::string pinned = "") {
    FileKeyStoreOptions opts;
    opts.data_dir = dir_;
    opts.pinned_default_key = std::move(pinned);
    auto store = FileKeyStore::Open(opts);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  mode_t Mode(const char* name) {
    struct stat st {};
    EXPECT_EQ(::stat((dir_ / name).c_str(), &st), 0) << name;
    return st.st_mode & 0777;
  }

  std::string FileText(const char* name) {
    auto text = ReadFile(dir_ / name);
    return text.ok() ? *text : "";
  }

  std::filesystem::path dir_;
};

TEST_F(FileKeyStoreTest, FirstOpenGeneratesDefaultAndMasterKeysMode0600) {
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->default_key().size(), 43u);
  EXPECT_EQ(store->master_key().size(), 43u);
  EXPECT_NE(store->default_key(), store->master_key());
  EXPECT_EQ(FileText("function-key"), store->default_key() + "\n");
  EXPECT_EQ(FileText("master-key"), store->master_key() + "\n");
  EXPECT_EQ(Mode("function-key"), 0600u);
  EXPECT_EQ(Mode("master-key"), 0600u);
  EXPECT_EQ(store->Check("jobs", store->default_key()), KeyAccess::kFunction);
  EXPECT_EQ(store->Check("jobs", store->master_key()), KeyAccess::kMaster);
}

TEST_F(FileKeyStoreTest, AnExistingFunctionKeyFileIsTheDefaultKey) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "function-key", "from-an-older-berth\n", 0644).ok());
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->default_key(), "from-an-older-berth");
  EXPECT_EQ(Mode("function-key"), 0600u);  // tightened
}

TEST_F(FileKeyStoreTest, PinnedDefaultKeyIsUsedAndNotWritten) {
  auto store = Open("pinned-by-setting-0123");
  ASSERT_TRUE(store);
  EXPECT_EQ(store->default_key(), "pinned-by-setting-0123");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "function-key"));
  EXPECT_EQ(store->Put("", "default", "").status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(FileKeyStoreTest, ChangesSurviveAReopen) {
  std::string master, renewed_default;
  {
    auto store = Open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Put("jobs", "ci", "ci-key-0123456789abc").ok());
    ASSERT_TRUE(store->Put("", "ops", "ops-key-0123456789abc").ok());
    auto renewed = store->Put("", "default", "");
    ASSERT_TRUE(renewed.ok());
    EXPECT_FALSE(renewed->created);
    renewed_default = renewed->key.value;
    auto m = store->Put("", "_master", "master-key-0123456789");
    ASSERT_TRUE(m.ok());
    master = m->key.value;
    ASSERT_TRUE(store->Put("jobs", "gone", "gone-key-0123456789ab").ok());
    ASSERT_TRUE(store->Delete("jobs", "gone").ok());
  }
  EXPECT_EQ(Mode("keys.json"), 0600u);
  EXPECT_EQ(FileText("function-key"), renewed_default + "\n");
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->master_key(), "master-key-0123456789");
  EXPECT_EQ(store->default_key(), renewed_default);
  EXPECT_EQ(store->Check("jobs", "ci-key-0123456789abc"), KeyAccess::kFunction);
  EXPECT_EQ(store->Check("jobs", "ops-key-0123456789abc"), KeyAccess::kFunction);
  EXPECT_EQ(store->Check("jobs", "gone-key-0123456789ab"), KeyAccess::kNone);
  auto listed = store->List("jobs");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "ci");
}

TEST_F(FileKeyStoreTest, MalformedKeysJsonStopsTheOpen) {
  ASSERT_TRUE(WriteFileAtomic(dir_ / "keys.json", "{\"functions\": 5}", 0600).ok());
  FileKeyStoreOptions opts;
  opts.data_dir = dir_;
  auto store = FileKeyStore::Open(opts);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(store.status().message().find("keys.json"), std::string::npos);
}

TEST_F(FileKeyStoreTest, FailedWriteLeavesTheKeysAsTheyWere) {
  auto store = Open();
  ASSERT_TRUE(store);
  std::filesystem::create_directory(dir_ / "keys.json");  // a rename over it fails, even as root
  auto put = store->Put("jobs", "ci", "ci-key-0123456789abc");
  EXPECT_FALSE(put.ok());
  EXPECT_EQ(store->Check("jobs", "ci-key-0123456789abc"), KeyAccess::kNone);
}

}  // namespace
}  // namespace berth
