#include "store/pg_connection.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <utility>

namespace berth {
namespace {

// The one place a SQLSTATE becomes a Status.
Status StatusFromSqlState(std::string_view state, std::string msg) {
  if (state == "23505") return Status::AlreadyExists(std::move(msg));  // unique_violation
  if (state.starts_with("08") || state == "40001" || state == "40P01" || state == "57P01" ||
      state == "57P03" || state == "55P03") {
    // connection lost, serialization failure, deadlock, shutdown, lock not available
    return Status::Unavailable(std::move(msg));
  }
  if (state.starts_with("53")) return Status::ResourceExhausted(std::move(msg));
  if (state.starts_with("22")) return Status::InvalidArgument(std::move(msg));
  return Status::Internal(std::move(msg));
}

std::string Trimmed(const char* s) {
  std::string out = s == nullptr ? "" : s;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

PgRows::PgRows(pg_result* res) : res_(res) {}
PgRows::PgRows(PgRows&& o) noexcept : res_(std::exchange(o.res_, nullptr)) {}
PgRows& PgRows::operator=(PgRows&& o) noexcept {
  if (this != &o) {
    if (res_ != nullptr) PQclear(res_);
    res_ = std::exchange(o.res_, nullptr);
  }
  return *this;
}
PgRows::~PgRows() {
  if (res_ != nullptr) PQclear(res_);
}
int PgRows::size() const { return res_ == nullptr ? 0 : PQntuples(res_); }
int64_t PgRows::affected() const {
  const char* n = res_ == nullptr ? "" : PQcmdTuples(res_);
  return n[0] == '\0' ? 0 : std::strtoll(n, nullptr, 10);
}
bool PgRows::IsNull(int row, int col) const { return PQgetisnull(res_, row, col) != 0; }
std::string PgRows::Text(int row, int col) const {
  return std::string(PQgetvalue(res_, row, col), PQgetlength(res_, row, col));
}
int64_t PgRows::Int(int row, int col) const {
  return std::strtoll(PQgetvalue(res_, row, col), nullptr, 10);
}
std::optional<int64_t> PgRows::OptInt(int row, int col) const {
  return IsNull(row, col) ? std::nullopt : std::optional<int64_t>(Int(row, col));
}

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& conninfo) {
  // Defaults for a node that must notice a server it can no longer reach (a cut link, a dead
  // machine) instead of waiting minutes on TCP: connects give up after 10 s, unacknowledged
  // data after 10 s, and idle connections (the LISTEN one) are probed by keepalives. The
  // operator's conninfo comes after them, so its own values win.
  const char* keys[] = {"connect_timeout",     "tcp_user_timeout", "keepalives", "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "dbname",     nullptr};
  const char* values[] = {"10", "10000", "1", "10", "5", "3", conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Status::ResourceExhausted("postgres: connect: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = "postgres: connect: " + Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return Status::Unavailable(msg);
  }
  auto out = std::unique_ptr<PgConnection>(new PgConnection(conn, conninfo));
  // Messages below WARNING (a ROLLBACK outside a transaction) stay off stderr.
  RETURN_IF_ERROR(out->Exec("set client options", "SET client_min_messages TO warning").status());
  return out;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

Status PgConnection::Reset() {
  PQreset(conn_);
  if (!healthy()) {
    return Status::Unavailable("postgres: reconnect: " + Trimmed(PQerrorMessage(conn_)));
  }
  return Exec("set client options", "SET client_min_messages TO warning").status();
}

int PgConnection::socket() const { return PQsocket(conn_); }

Status PgConnection::ResultStatus(pg_result* res, std::string_view op) {
  ExecStatusType st = res == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_PIPELINE_SYNC) {
    return Status::Ok();
  }
  std::string msg = "postgres: " + std::string(op) + ": ";
  if (res == nullptr || !healthy()) {
    return Status::Unavailable(msg + Trimmed(PQerrorMessage(conn_)));
  }
  if (st == PGRES_PIPELINE_ABORTED) return Status::Unavailable(msg + "pipeline aborted");
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  std::string text = Trimmed(PQresultErrorMessage(res));
  if (state == nullptr) return Status::Internal(msg + text);
  return StatusFromSqlState(state, msg + text + " (SQLSTATE " + state + ")");
}

Result<PgRows> PgConnection::Exec(std::string_view op, const std::string& sql,
                                  const std::vector<PgParam>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const PgParam& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* res = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  PgRows rows(res);
  RETURN_IF_ERROR(ResultStatus(res, op));
  return rows;
}

Status PgConnection::ExecScript(std::string_view op, const std::string& sql) {
  // PQexec runs the whole script and returns the last result, or the error that stopped it.
  PGresult* res = PQexec(conn_, sql.c_str());
  PgRows rows(res);
  return ResultStatus(res, op);
}

void PgConnection::RollbackIfActive() {
  PGTransactionStatusType ts = PQtransactionStatus(conn_);
  if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
    PgRows ignored(PQexec(conn_, "ROLLBACK"));  // the caller already reports the first error
  }
}

Status PgConnection::InTransaction(std::string_view op, const std::function<Status()>& body) {
  RETURN_IF_ERROR(Exec(op, "BEGIN").status());
  Status st = body();
  if (st.ok()) st = Exec(op, "COMMIT").status();
  if (!st.ok()) RollbackIfActive();
  return st;
}

Result<std::vector<PgRows>> PgConnection::Pipeline(std::string_view op,
                                                   const std::vector<Piped>& statements) {
  std::string prefix = "postgres: " + std::string(op) + ": ";
  if (PQenterPipelineMode(conn_) != 1) {
    return Status::Internal(prefix +
                            "cannot enter pipeline mode: " + Trimmed(PQerrorMessage(conn_)));
  }
  Status st;
  size_t sent = 0;
  for (const Piped& s : statements) {
    std::vector<const char*> values;
    values.reserve(s.params.size());
    for (const PgParam& p : s.params) values.push_back(p ? p->c_str() : nullptr);
    if (PQsendQueryParams(conn_, s.sql.c_str(), static_cast<int>(values.size()), nullptr,
                          values.data(), nullptr, nullptr, 0) != 1) {
      st = Status::Unavailable(prefix + Trimmed(PQerrorMessage(conn_)));
      break;
    }
    ++sent;
  }
  bool synced = PQpipelineSync(conn_) == 1;
  if (!synced && st.ok()) st = Status::Unavailable(prefix + Trimmed(PQerrorMessage(conn_)));
  std::vector<PgRows> out;
  out.reserve(statements.size());
  // Each statement's results end with a NULL; the sync has its own result.
  for (size_t i = 0; i < sent; ++i) {
    PGresult* res = PQgetResult(conn_);
    if (res == nullptr) {
      if (st.ok()) st = Status::Unavailable(prefix + Trimmed(PQerrorMessage(conn_)));
      break;
    }
    Status rs = ResultStatus(res, op);
    if (st.ok() && !rs.ok()) st = rs;
    out.emplace_back(res);
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
  }
  if (synced) {
    while (PGresult* res = PQgetResult(conn_)) {
      bool done = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
      PQclear(res);
      if (done) break;
    }
  }
  PQexitPipelineMode(conn_);
  if (!st.ok()) {
    RollbackIfActive();
    return st;
  }
  return out;
}

Result<std::vector<std::string>> PgConnection::ConsumeNotifications() {
  if (PQconsumeInput(conn_) != 1) {
    return Status::Unavailable("postgres: notifications: " + Trimmed(PQerrorMessage(conn_)));
  }
  std::vector<std::string> out;
  while (PGnotify* n = PQnotifies(conn_)) {
    out.emplace_back(n->extra == nullptr ? "" : n->extra);
    PQfreemem(n);
  }
  return out;
}

Result<std::unique_ptr<PgPool>> PgPool::Open(const std::string& conninfo, int size) {
  if (size < 1) return Status::InvalidArgument("postgres: the pool needs at least 1 connection");
  auto pool = std::make_unique<PgPool>();
  MutexLock lock(pool->mu_);
  for (int i = 0; i < size; ++i) {
    ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, PgConnection::Connect(conninfo));
    pool->idle_.push_back(std::move(conn));
  }
  return pool;
}

PgPool::Lease::~Lease() {
  if (conn_ == nullptr) return;
  {
    MutexLock lock(pool_.mu_);
    pool_.idle_.push_back(std::move(conn_));
  }
  pool_.cv_.notify_one();
}

Result<PgPool::Lease> PgPool::Borrow() {
  std::unique_ptr<PgConnection> conn;
  {
    MutexLock lock(mu_);
    while (idle_.empty()) cv_.wait(lock);
    conn = std::move(idle_.back());
    idle_.pop_back();
  }
  Lease lease(*this, std::move(conn));
  if (!lease->healthy()) RETURN_IF_ERROR(lease->Reset());
  return lease;
}

}  // namespace berth
