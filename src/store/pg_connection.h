// PgConnection: one libpq connection (PGconn) with typed helpers for PostgresStore: text
// parameters in, rows of text out, SQLSTATEs turned into a Status in one place, transactions,
// and a pipeline that sends many statements in one flush. PgPool: a fixed set of them.
//
// A PgConnection is not thread-safe: its owner serializes use (PgPool hands each to one borrower
// at a time). PgPool is thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

struct pg_conn;
struct pg_result;

namespace berth {

// One statement parameter: text, or NULL.
using PgParam = std::optional<std::string>;

// Parameter helpers: PgParams(id, int64_t{5}, std::nullopt, ...).
inline PgParam ToPgParam(std::string_view v) { return std::string(v); }
inline PgParam ToPgParam(const std::string& v) { return v; }
inline PgParam ToPgParam(const char* v) { return std::string(v); }
inline PgParam ToPgParam(int64_t v) { return std::to_string(v); }
inline PgParam ToPgParam(int v) { return std::to_string(v); }
inline PgParam ToPgParam(std::nullopt_t) { return std::nullopt; }
inline PgParam ToPgParam(const std::optional<int64_t>& v) {
  return v ? PgParam(std::to_string(*v)) : std::nullopt;
}
inline PgParam ToPgParam(const std::optional<std::string>& v) { return v; }
template <typename... T>
std::vector<PgParam> PgParams(const T&... v) {
  return {ToPgParam(v)...};
}

// The rows of one statement's result, as text. Owns the PGresult.
class PgRows {
 public:
  PgRows() = default;
  explicit PgRows(pg_result* res);
  PgRows(PgRows&& o) noexcept;
  PgRows& operator=(PgRows&& o) noexcept;
  ~PgRows();

  int size() const;
  bool empty() const { return size() == 0; }
  // Rows an INSERT/UPDATE/DELETE changed.
  int64_t affected() const;
  bool IsNull(int row, int col) const;
  std::string Text(int row, int col) const;
  int64_t Int(int row, int col) const;
  std::optional<int64_t> OptInt(int row, int col) const;

 private:
  pg_result* res_ = nullptr;
};

class PgConnection {
 public:
  // Connects with a libpq conninfo string or URI. Unavailable when the server cannot be
  // reached or refuses the login.
  static Result<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one statement with text parameters ($1, $2, ...). `op` names it in errors.
  Result<PgRows> Exec(std::string_view op, const std::string& sql,
                      const std::vector<PgParam>& params = {});
  // Runs a script of several statements without parameters (schema, migrations).
  Status ExecScript(std::string_view op, const std::string& sql);

  // Runs `body` in BEGIN ... COMMIT; rolls back when the body or the commit fails.
  Status InTransaction(std::string_view op, const std::function<Status()>& body);

  // One statement of a pipeline.
  struct Piped {
    std::string sql;
    std::vector<PgParam> params;
  };
  // Sends every statement in pipeline mode, then one sync, in one flush; returns each result.
  // The first error ends the pipeline (later statements are skipped by the server) and is
  // returned; in an explicit transaction (`statements` start with BEGIN) nothing is committed.
  Result<std::vector<PgRows>> Pipeline(std::string_view op, const std::vector<Piped>& statements);

  // False once the connection broke (the server went away); the pool then reconnects it.
  bool healthy() const;
  // Reconnects a broken connection.
  Status Reset();

  // The socket, for waiting on notifications.
  int socket() const;
  // Reads what the server sent and returns the notifications' payloads (LISTEN).
  Result<std::vector<std::string>> ConsumeNotifications();

  const std::string& conninfo() const { return conninfo_; }

 private:
  PgConnection(pg_conn* conn, std::string conninfo) : conn_(conn), conninfo_(std::move(conninfo)) {}
  Status ResultStatus(pg_result* res, std::string_view op);
  void RollbackIfActive();

  pg_conn* conn_;
  std::string conninfo_;
};

// A fixed number of connections to one server, each lent to one borrower at a time.
class PgPool {
 public:
  // Opens `size` connections.
  static Result<std::unique_ptr<PgPool>> Open(const std::string& conninfo, int size);

  // A borrowed connection, returned to the pool on destruction.
  class Lease {
   public:
    Lease(PgPool& pool, std::unique_ptr<PgConnection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& o) noexcept = default;
    ~Lease();
    PgConnection* operator->() { return conn_.get(); }
    PgConnection& operator*() { return *conn_; }

   private:
    PgPool& pool_;
    std::unique_ptr<PgConnection> conn_;
  };

  // Borrows a connection, waiting while all are lent; a broken one is reconnected first
  // (Unavailable when that fails).
  Result<Lease> Borrow();

 private:
  Mutex mu_;
  std::condition_variable_any cv_;
  std::vector<std::unique_ptr<PgConnection>> idle_ GUARDED_BY(mu_);
};

}  // namespace berth
