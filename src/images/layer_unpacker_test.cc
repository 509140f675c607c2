#include "images/layer_unpacker.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/files.h"
#include "images/test_tar.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

TarEntry Hardlink(std::string path, std::string target) {
  TarEntry e = File(std::move(path), "");
  e.hardlink = std::move(target);
  return e;
}

class LayerUnpackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "berth-unpack-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    fs::create_directories(tmp_ / "outside");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  // Unpacks a tar of `entries` into a fresh dest/ (0755, as the store makes it).
  Status Unpack(const std::vector<TarEntry>& entries, Compression compression = Compression::kGzip,
                UnpackBudget* budget = nullptr) {
    fs::remove_all(dest());
    fs::create_directories(dest());
    fs::permissions(dest(), fs::perms(0755));
    fs::path layer = tmp_ / "layer.tar";
    EXPECT_TRUE(WriteFileAtomic(layer, MakeTar(entries, compression)).ok());
    return UnpackLayer(layer, dest(), budget);
  }
  fs::path dest() const { return tmp_ / "dest"; }
  std::string Read(const fs::path& p) {
    Result<std::string> text = ReadFile(p);
    return text.ok() ? *text : "<missing>";
  }
  size_t CountOutside() const {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(tmp_)) n += e.path().filename() != "dest";
    return n;
  }

  fs::path tmp_;
};

// umoci writes the layer root as "/" and its entries rooted; other builders write "./" and
// "./etc". containerd and podman clean each path relative to the root and accept them all.
TEST_F(LayerUnpackerTest, CleansRootedAndDottedPathsLikeContainerd) {
  Status st = Unpack({Dir("/", 0700), Dir("./"), Dir("/usr"), File("/usr/a", "A"), Dir("./etc"),
                      File("./etc/b", "B"), File("x/../c", "C"), File("/../top", "T"),
                      File("./etc/./d//e", "E"), Hardlink("./etc/h", "/usr/a"),
                      Hardlink("/h2", "./etc/../usr/a")});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Read(dest() / "usr" / "a"), "A");
  EXPECT_EQ(Read(dest() / "etc" / "b"), "B");
  EXPECT_EQ(Read(dest() / "c"), "C");
  EXPECT_EQ(Read(dest() / "top"), "T");
  EXPECT_EQ(Read(dest() / "etc" / "d" / "e"), "E");
  EXPECT_FALSE(fs::exists(dest() / "x"));
  EXPECT_EQ(Read(dest() / "etc" / "h"), "A");
  EXPECT_EQ(fs::hard_link_count(dest() / "usr" / "a"), 3u);
  // The root entry is skipped: the layer directory keeps its own mode.
  EXPECT_EQ(fs::status(dest()).permissions(), fs::perms(0755));
  EXPECT_EQ(CountOutside(), 2u);  // layer.tar and outside/, nothing else
}

TEST_F(LayerUnpackerTest, RefusesWhatEscapesAfterCleaning) {
  for (const char* path : {"../x", "a/../../x", "./../x", "a/b/../../../x"}) {
    Status st = Unpack({File("ok"), File(path, "escaped")});
    ASSERT_FALSE(st.ok()) << path;
    EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
    EXPECT_NE(st.message().find("escapes the layer root"), std::string::npos) << st.ToString();
    EXPECT_FALSE(fs::exists(tmp_ / "x"));
  }
  ASSERT_TRUE(WriteFileAtomic(tmp_ / "outside" / "secret", "host data").ok());
  Status st = Unpack({Hardlink("h", "../outside/secret")});
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(fs::hard_link_count(tmp_ / "outside" / "secret"), 1u);
  EXPECT_FALSE(Unpack({Hardlink("h", "/")}).ok());
}

// Only what OCI layers use: libarchive's other decompressors (some run external programs) are
// not enabled.
TEST_F(LayerUnpackerTest, OnlyGzipZstdAndPlainTarAreRead) {
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    Status st = Unpack({File("f", "content")}, c);
    EXPECT_TRUE(st.ok()) << static_cast<int>(c) << ": " << st.ToString();
    EXPECT_EQ(Read(dest() / "f"), "content");
  }
  for (Compression c : {Compression::kBzip2, Compression::kXz}) {
    Status st = Unpack({File("f", "content")}, c);
    EXPECT_FALSE(st.ok()) << static_cast<int>(c);
    EXPECT_FALSE(fs::exists(dest() / "f")) << static_cast<int>(c);
  }
}

// umoci 0.4.7's `insert` ends a layer right after its last entry's data: no padding to 512
// bytes, no end-of-archive blocks. podman takes such a layer; so does berth, but a layer cut
// inside an entry's data is still refused.
TEST_F(LayerUnpackerTest, LayerEndingRightAfterItsLastDataIsRead) {
  std::string tar = MakeTar({File("a", "x"), Dir("d"), File("d/c", "c\n")}, Compression::kNone);
  tar.erase(tar.find_last_not_of('\0') + 1);
  ASSERT_EQ(tar.back(), '\n');
  fs::path layer = tmp_ / "cut.tar";
  ASSERT_TRUE(WriteFileAtomic(layer, tar).ok());
  fs::create_directories(dest());
  Status st = UnpackLayer(layer, dest());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Read(dest() / "a"), "x");
  EXPECT_EQ(Read(dest() / "d" / "c"), "c\n");

  tar.pop_back();  // now the last entry's data is short
  ASSERT_TRUE(WriteFileAtomic(layer, tar).ok());
  fs::remove_all(dest());
  fs::create_directories(dest());
  EXPECT_FALSE(UnpackLayer(layer, dest()).ok());
}

TEST_F(LayerUnpackerTest, BudgetStopsADecompressionBomb) {
  std::vector<TarEntry> bomb = {File("zeros", std::string(32 << 20, '\0'))};
  UnpackBudget small(4 << 20);
  Status st = Unpack(bomb, Compression::kGzip, &small);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("ImagePullMaxBytes"), std::string::npos) << st.ToString();
  struct stat on_disk {};
  ASSERT_EQ(::stat((dest() / "zeros").c_str(), &on_disk), 0);
  EXPECT_LE(on_disk.st_blocks * 512, int64_t{5} << 20);  // what reached the disk
  // Many empty entries cost the budget too.
  std::vector<TarEntry> many;
  for (int i = 0; i < 200; ++i) many.push_back(File("e" + std::to_string(i), ""));
  UnpackBudget tiny(64 << 10);
  EXPECT_FALSE(Unpack(many, Compression::kGzip, &tiny).ok());
  UnpackBudget enough(64 << 20);
  st = Unpack(bomb, Compression::kGzip, &enough);
  EXPECT_TRUE(st.ok()) << st.ToString();
}

// A failed unpack's message reaches a job's reason: it names the layer by its file name (the
// blob's digest), never by the host path of the staging dir it was unpacked from.
TEST_F(LayerUnpackerTest, AFailureNamesTheLayerNotItsHostPath) {
  Status st = Unpack({Symlink("evil", "/etc"), File("evil/pwned", "x")});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("layer.tar"), std::string::npos) << st.ToString();
  EXPECT_EQ(st.message().find(tmp_.string()), std::string::npos) << st.ToString();
  fs::path garbage = tmp_ / "garbage.tar";
  ASSERT_TRUE(WriteFileAtomic(garbage, std::string(4096, '\x7f')).ok());
  st = UnpackLayer(garbage, dest(), nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message().find(tmp_.string()), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace berth
