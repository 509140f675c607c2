// The SQLite plumbing SqliteStore's files share (sqlite_store.cc, and the members kept in their
// own files: sqlite_keys.cc, ...): SQLite result codes turned into a Status in one place, a
// borrowed prepared Statement, and SqliteConnection (a sqlite3 handle with its statement cache
// and transactions). Internal to the store layer.
//
// Not thread-safe: a SqliteConnection's owner serializes its use.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/clock.h"
#include "common/status.h"
#include "store/sqlite_library.h"

namespace berth {
namespace sqlite {

// The one place SQLite result codes become a Status.
inline Status SqliteStatus(sqlite3* db, int rc, std::string_view op) {
  std::string msg = "sqlite: " + std::string(op) + ": " +
                    (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) + " (code " +
                    std::to_string(rc) + ")";
  switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return Status::ResourceExhausted(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(msg);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        return Status::AlreadyExists(msg);
      }
      return Status::Internal(msg);
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
      return Status::IoError(msg);
    default:
      return Status::Internal(msg);
  }
}

// A borrowed prepared statement: bindings in, rows out; reset when it goes out of scope so the
// connection's read snapshot is released and the statement can be reused.
class Statement {
 public:
  Statement(sqlite3_stmt* stmt, std::string_view op) : stmt_(stmt), op_(op) {}
  Statement(Statement&& o) noexcept
      : stmt_(std::exchange(o.stmt_, nullptr)), op_(o.op_), bind_rc_(o.bind_rc_) {}
  Statement& operator=(Statement&&) = delete;
  ~Statement() {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  Statement& Bind(int i, int64_t v) { return Check(sqlite3_bind_int64(stmt_, i, v)); }
  Statement& Bind(int i, std::string_view v) {
    return Check(
        sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Statement& Bind(int i, std::optional<int64_t> v) {
    return v ? Bind(i, *v) : Check(sqlite3_bind_null(stmt_, i));
  }
  Statement& BindNull(int i) { return Check(sqlite3_bind_null(stmt_, i)); }

  // True when a row is ready to read, false when the statement is done.
  Result<bool> Step() {
    if (bind_rc_ != SQLITE_OK) return SqliteStatus(Db(), bind_rc_, op_);
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteStatus(Db(), rc, op_);
  }
  // Steps until done, ignoring rows.
  Status Run() {
    for (;;) {
      ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return Status::Ok();
    }
  }
  // Rows changed by the last Run of a write statement.
  int Changes() const { return sqlite3_changes(Db()); }

  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<int64_t> OptInt(int col) const {
    return IsNull(col) ? std::nullopt : std::optional<int64_t>(Int(col));
  }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(stmt_, col));
  }

 private:
  sqlite3* Db() const { return sqlite3_db_handle(stmt_); }
  Statement& Check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }

  sqlite3_stmt* stmt_;
  std::string_view op_;  // a string literal naming the operation, for errors
  int bind_rc_ = SQLITE_OK;
};

inline std::optional<int64_t> OptMillis(const std::optional<TimePoint>& t) {
  return t ? std::optional<int64_t>(ToUnixMillis(*t)) : std::nullopt;
}

inline std::optional<TimePoint> OptTime(const std::optional<int64_t>& ms) {
  return ms ? std::optional<TimePoint>(FromUnixMillis(*ms)) : std::nullopt;
}

}  // namespace sqlite

// One sqlite3 handle and its cache of prepared statements. Not thread-safe: its owner serializes
// use (write_mu_ for the writer, the reader pool for readers).
class SqliteConnection {
 public:
  static Result<std::unique_ptr<SqliteConnection>> Open(const std::filesystem::path& path,
                                                        int flags, milliseconds busy_timeout,
                                                        const std::string& vfs) {
    sqlite::ConfigureLibrary();
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX,
                             vfs.empty() ? nullptr : vfs.c_str());
    auto conn = std::unique_ptr<SqliteConnection>(new SqliteConnection(db));
    if (rc != SQLITE_OK) return sqlite::SqliteStatus(db, rc, "open " + path.string());
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
    return conn;
  }

  ~SqliteConnection() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  // The cached statement for `sql`, prepared on first use. `op` names the operation in errors.
  Result<sqlite::Statement> Prepare(const std::string& sql, std::string_view op) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      sqlite3_stmt* stmt = nullptr;
      int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      if (rc != SQLITE_OK) return sqlite::SqliteStatus(db_, rc, op);
      it = cache_.emplace(sql, stmt).first;
    }
    return sqlite::Statement(it->second, op);
  }

  // Prepares and runs a statement that returns no rows we need.
  Status Run(const std::string& sql, std::string_view op) {
    ASSIGN_OR_RETURN(sqlite::Statement st, Prepare(sql, op));
    return st.Run();
  }

  sqlite3* db() { return db_; }  // for the LogArchive half (sqlite_log_archive.cc)

  // Runs a script of several statements (schema, pragmas), unprepared.
  Status Exec(const char* sql, std::string_view op) {
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::Ok() : sqlite::SqliteStatus(db_, rc, op);
  }

  // Runs `body` in BEGIN IMMEDIATE ... COMMIT; rolls back when the body or the commit fails.
  Status InTransaction(std::string_view op, const std::function<Status()>& body) {
    RETURN_IF_ERROR(Run("BEGIN IMMEDIATE", op));
    Status st = body();
    if (st.ok()) st = Run("COMMIT", op);
    if (!st.ok()) RollbackIfActive();
    return st;
  }

  // Rolls back the open transaction, if SQLite has not already done so.
  void RollbackIfActive() {
    if (sqlite3_get_autocommit(db_) == 0) {
      Status ignored = Run("ROLLBACK", "rollback");
      (void)ignored;  // nothing better to do; the caller already reports the first error
    }
  }

 private:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace berth
