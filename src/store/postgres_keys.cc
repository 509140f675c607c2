// PostgresStore's KeyRows (store/key_rows.h): the `keys` table every node shares.
#include "store/postgres_store.h"

namespace berth {

Result<std::vector<KeyRow>> PostgresStore::ListKeyRows() {
  ASSIGN_OR_RETURN(PgPool::Lease c, pool_->Borrow());
  ASSIGN_OR_RETURN(PgRows r, c->Exec("list keys",
                                     "SELECT scope, name, value, updated_at FROM keys "
                                     "ORDER BY scope, name"));
  std::vector<KeyRow> out;
  out.reserve(r.size());
  for (int i = 0; i < r.size(); ++i) {
    out.push_back({r.Text(i, 0), r.Text(i, 1), r.Text(i, 2), FromUnixMillis(r.Int(i, 3))});
  }
  return out;
}

Result<bool> PostgresStore::PutKeyRow(std::string_view scope, std::string_view name,
                                      std::string_view value) {
  bool created = false;
  RETURN_IF_ERROR(Write("put key", [&](PgConnection& c) -> Status {
    // xmax is 0 in the row version an INSERT made, and set when ON CONFLICT updated a row.
    ASSIGN_OR_RETURN(PgRows r, c.Exec("put key",
                                      "INSERT INTO keys(scope, name, value, updated_at) "
                                      "VALUES($1, $2, $3, $4) ON CONFLICT (scope, name) DO "
                                      "UPDATE SET value=EXCLUDED.value, "
                                      "updated_at=EXCLUDED.updated_at RETURNING (xmax = 0)",
                                      PgParams(scope, name, value, NowMillis())));
    created = !r.empty() && r.Text(0, 0) == "t";
    return Status::Ok();
  }));
  return created;
}

Result<std::string> PostgresStore::InsertKeyRowIfAbsent(std::string_view scope,
                                                        std::string_view name,
                                                        std::string_view value) {
  std::string stored;
  RETURN_IF_ERROR(Write("insert key", [&](PgConnection& c) -> Status {
    // ON CONFLICT waits for a racing insert to commit; the SELECT (a new snapshot under READ
    // COMMITTED) then sees whichever row won.
    RETURN_IF_ERROR(c.Exec("insert key",
                           "INSERT INTO keys(scope, name, value, updated_at) "
                           "VALUES($1, $2, $3, $4) ON CONFLICT (scope, name) DO NOTHING",
                           PgParams(scope, name, value, NowMillis()))
                        .status());
    ASSIGN_OR_RETURN(PgRows r, c.Exec("insert key: read back",
                                      "SELECT value FROM keys WHERE scope=$1 AND name=$2",
                                      PgParams(scope, name)));
    if (r.empty()) return Status::Internal("postgres: insert key: the row is not there");
    stored = r.Text(0, 0);
    return Status::Ok();
  }));
  return stored;
}

Status PostgresStore::DeleteKeyRow(std::string_view scope, std::string_view name) {
  return Write("delete key", [&](PgConnection& c) -> Status {
    ASSIGN_OR_RETURN(PgRows r, c.Exec("delete key", "DELETE FROM keys WHERE scope=$1 AND name=$2",
                                      PgParams(scope, name)));
    if (r.affected() == 0) return Status::NotFound("no key named '" + std::string(name) + "'");
    return Status::Ok();
  });
}

}  // namespace berth
