#include "store/wal_coalescing_vfs.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "common/test_temp_dir.h"

namespace berth::sqlite {
namespace {

// A base VFS that counts the writes reaching SQLite's own (unix) VFS for WAL files, and can
// fail them as a full disk does. Its files are the unix VFS's, with xWrite swapped.
class CountingVfs {
 public:
  static constexpr const char* kName = "berth-test-counting";

  static CountingVfs& Get() {
    static CountingVfs* vfs = new CountingVfs();
    return *vfs;
  }
  std::atomic<int> wal_writes{0};
  std::atomic<int> longest_wal_write{0};
  std::atomic<bool> disk_full{false};

 private:
  CountingVfs() {
    unix_ = sqlite3_vfs_find(nullptr);
    vfs_ = *unix_;
    vfs_.zName = kName;
    vfs_.xOpen = [](sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out) {
      CountingVfs& self = Get();
      int rc = self.unix_->xOpen(self.unix_, name, f, flags, out);
      if (rc != SQLITE_OK || (flags & SQLITE_OPEN_WAL) == 0) return rc;
      if (self.unix_io_ == nullptr) {
        self.unix_io_ = f->pMethods;
        self.io_ = *f->pMethods;
        self.io_.xWrite = [](sqlite3_file* file, const void* buf, int n, sqlite3_int64 off) {
          CountingVfs& v = Get();
          if (v.disk_full.load()) return SQLITE_FULL;
          v.wal_writes.fetch_add(1);
          if (n > v.longest_wal_write.load()) v.longest_wal_write.store(n);
          return v.unix_io_->xWrite(file, buf, n, off);
        };
      }
      f->pMethods = &self.io_;
      return rc;
    };
    sqlite3_vfs_register(&vfs_, 0);
  }

  sqlite3_vfs* unix_ = nullptr;
  sqlite3_vfs vfs_{};
  const sqlite3_io_methods* unix_io_ = nullptr;
  sqlite3_io_methods io_{};
};

class WalCoalescingVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    counting_ = &CountingVfs::Get();
    counting_->disk_full = false;
    Result<std::string> name = WalCoalescingVfs(CountingVfs::kName);
    ASSERT_TRUE(name.ok()) << name.status().ToString();
    vfs_ = *name;
  }
  void TearDown() override {
    if (db_ != nullptr) sqlite3_close(db_);
  }

  // Opens the test database through `vfs` in WAL mode with synchronous=FULL.
  void Open(const std::string& vfs) {
    ASSERT_EQ(sqlite3_open_v2(path().c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                              vfs.c_str()),
              SQLITE_OK);
    ASSERT_EQ(Exec(db_,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                   "CREATE TABLE IF NOT EXISTS t(k TEXT PRIMARY KEY, v BLOB)"),
              SQLITE_OK);
  }
  static int Exec(sqlite3* db, const std::string& sql) {
    return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  }
  // One value of a query on a connection of its own through SQLite's default VFS.
  std::string Query(const std::string& sql) { return Query(sql, path()); }
  static std::string Query(const std::string& sql, const std::string& db) {
    sqlite3* reader = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db.c_str(), &reader, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    std::string out;
    EXPECT_EQ(sqlite3_prepare_v2(reader, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(reader);
    return out;
  }
  // The same on a copy of the files as a killed process leaves them: the database and its WAL
  // (what the file system holds), without the shared-memory index, which the copy rebuilds from
  // the WAL's frames up to the last whole commit.
  std::string QueryCrashCopy(const std::string& sql) {
    std::filesystem::path copy = dir_.path() / ("crash" + std::to_string(++copies_));
    std::filesystem::create_directories(copy);
    std::filesystem::copy_file(path(), copy / "t.db");
    std::filesystem::copy_file(path() + "-wal", copy / "t.db-wal");
    return Query(sql, (copy / "t.db").string());
  }
  std::string path() const { return (dir_.path() / "t.db").string(); }
  int copies_ = 0;

  TestTempDir dir_;
  CountingVfs* counting_ = nullptr;
  std::string vfs_;
  sqlite3* db_ = nullptr;
};

constexpr const char* kFortyRows =
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) "
    "INSERT INTO t SELECT hex(randomblob(16)), randomblob(2000) FROM n";

TEST_F(WalCoalescingVfsTest, ACommitsFramesReachTheFileInAFewWrites) {
  Open(vfs_);
  int before = counting_->wal_writes.load();
  ASSERT_EQ(Exec(db_, kFortyRows), SQLITE_OK);
  int gathered = counting_->wal_writes.load() - before;
  sqlite3_close(db_);
  db_ = nullptr;

  // The same commit straight on the counting VFS: two writes per frame.
  std::filesystem::remove(path() + "-wal");
  Open(CountingVfs::kName);
  before = counting_->wal_writes.load();
  ASSERT_EQ(Exec(db_, kFortyRows), SQLITE_OK);
  int direct = counting_->wal_writes.load() - before;

  EXPECT_GE(direct, 2 * 20) << "a header and a page for each of 20+ pages (two rows a page)";
  EXPECT_LE(gathered, 2) << "about 100 KiB of frames: one write (pieces of 120 KiB)";
  EXPECT_EQ(Query("SELECT COUNT(*) FROM t"), "80");
}

// SQLite's unix VFS takes at most 128 KiB - 1 in one write: a longer run goes out in pieces.
TEST_F(WalCoalescingVfsTest, ALargeCommitIsWrittenWholeAndReadsBack) {
  Open(vfs_);
  ASSERT_EQ(Exec(db_,
                 "INSERT INTO t VALUES('big', zeroblob(3000000)); "
                 "INSERT INTO t VALUES('small', x'0102')"),
            SQLITE_OK);
  EXPECT_LT(counting_->longest_wal_write.load(), 128 << 10);
  EXPECT_EQ(Query("SELECT length(v) FROM t WHERE k = 'big'"), "3000000");
  EXPECT_EQ(Query("SELECT hex(v) FROM t WHERE k = 'small'"), "0102");
  EXPECT_EQ(Query("PRAGMA integrity_check"), "ok");
}

// A gathered write that fails surfaces at the commit's sync as the commit's error; what was
// committed before stays, and the database takes commits again once the disk has room.
TEST_F(WalCoalescingVfsTest, AFailedWriteFailsItsCommitAndNothingElse) {
  Open(vfs_);
  ASSERT_EQ(Exec(db_, "INSERT INTO t VALUES('kept', x'01')"), SQLITE_OK);
  counting_->disk_full = true;
  int rc = Exec(db_, "INSERT INTO t VALUES('lost', x'02')");
  counting_->disk_full = false;
  EXPECT_EQ(rc & 0xff, SQLITE_FULL) << sqlite3_errmsg(db_);
  ASSERT_EQ(Exec(db_, "INSERT INTO t VALUES('later', x'03')"), SQLITE_OK) << sqlite3_errmsg(db_);
  EXPECT_EQ(Query("SELECT group_concat(k) FROM (SELECT k FROM t ORDER BY k)"), "kept,later");
  EXPECT_EQ(Query("PRAGMA integrity_check"), "ok");
}

// synchronous=NORMAL: a commit has no sync of its own. Its frames must still reach the file
// system before SQLite publishes it: another connection sees it at once, and a crash of the
// process (what the file system holds, without the shared-memory index) keeps it.
TEST_F(WalCoalescingVfsTest, ACommitWithoutASyncIsInTheFileWhenItIsDone) {
  Open(vfs_);
  ASSERT_EQ(Exec(db_, "PRAGMA synchronous=NORMAL"), SQLITE_OK);
  int before = counting_->wal_writes.load();
  ASSERT_EQ(Exec(db_, kFortyRows), SQLITE_OK);
  EXPECT_LE(counting_->wal_writes.load() - before, 2) << "still gathered into one run";
  ASSERT_EQ(Exec(db_, "INSERT INTO t VALUES('one', x'01')"), SQLITE_OK);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM t"), "41");
  EXPECT_EQ(Query("SELECT hex(v) FROM t WHERE k = 'one'"), "01");

  EXPECT_EQ(QueryCrashCopy("SELECT COUNT(*) FROM t"), "41")
      << "every unsynced commit recovered from the WAL";
}

// A transaction larger than the page cache writes frames before its commit and, when it changes
// a page it already wrote, writes that frame again; the commit that ends it is still whole in
// the file, unsynced.
TEST_F(WalCoalescingVfsTest, ASpilledTransactionWithoutASyncIsWholeInTheFile) {
  Open(vfs_);
  ASSERT_EQ(Exec(db_, "PRAGMA synchronous=NORMAL; PRAGMA cache_size=4"), SQLITE_OK);
  ASSERT_EQ(Exec(db_, std::string("BEGIN; ") + kFortyRows + "; UPDATE t SET v = zeroblob(1500); " +
                          kFortyRows + "; UPDATE t SET v = x'07' WHERE rowid % 3 = 0; COMMIT"),
            SQLITE_OK)
      << sqlite3_errmsg(db_);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM t"), "80");
  EXPECT_EQ(Query("SELECT COUNT(*) FROM t WHERE v = x'07'"), "26");
  EXPECT_EQ(Query("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(QueryCrashCopy("SELECT COUNT(*) FROM t"), "80");
  EXPECT_EQ(QueryCrashCopy("SELECT COUNT(*) FROM t WHERE v = x'07'"), "26");
}

TEST(WalCoalescingVfs, AnUnknownBaseIsAnError) {
  EXPECT_EQ(WalCoalescingVfs("no-such-vfs").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace berth::sqlite
