// SqliteStore's KeyRows (store/key_rows.h). Keys are read rarely (a node's refresh), so reads
// share the writer connection rather than a reader's.
#include "store/sqlite_connection.h"
#include "store/sqlite_store.h"

namespace berth {

using sqlite::Statement;

Result<std::vector<KeyRow>> SqliteStore::ListKeyRows() {
  MutexLock lock(write_mu_);
  ASSIGN_OR_RETURN(Statement st, writer_->Prepare("SELECT scope, name, value, updated_at FROM "
                                                  "keys ORDER BY scope, name",
                                                  "list keys"));
  std::vector<KeyRow> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    out.push_back({st.Text(0), st.Text(1), st.Text(2), FromUnixMillis(st.Int(3))});
  }
}

Result<bool> SqliteStore::PutKeyRow(std::string_view scope, std::string_view name,
                                    std::string_view value) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  bool created = false;
  RETURN_IF_ERROR(writer.InTransaction("put key", [&]() -> Status {
    ASSIGN_OR_RETURN(Statement up, writer.Prepare("UPDATE keys SET value=?3, updated_at=?4 WHERE "
                                                  "scope=?1 AND name=?2",
                                                  "put key: update"));
    up.Bind(1, scope).Bind(2, name).Bind(3, value).Bind(4, NowMillis());
    RETURN_IF_ERROR(up.Run());
    if (up.Changes() > 0) return Status::Ok();
    ASSIGN_OR_RETURN(Statement ins, writer.Prepare("INSERT INTO keys(scope, name, value, "
                                                   "updated_at) VALUES(?1, ?2, ?3, ?4)",
                                                   "put key: insert"));
    ins.Bind(1, scope).Bind(2, name).Bind(3, value).Bind(4, NowMillis());
    RETURN_IF_ERROR(ins.Run());
    created = true;
    return Status::Ok();
  }));
  return created;
}

Result<std::string> SqliteStore::InsertKeyRowIfAbsent(std::string_view scope, std::string_view name,
                                                      std::string_view value) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  std::string stored;
  // BEGIN IMMEDIATE takes the database's write lock: another process racing to create the row
  // waits, then finds it.
  RETURN_IF_ERROR(writer.InTransaction("insert key", [&]() -> Status {
    {
      ASSIGN_OR_RETURN(Statement ins, writer.Prepare("INSERT OR IGNORE INTO keys(scope, name, "
                                                     "value, updated_at) VALUES(?1, ?2, ?3, ?4)",
                                                     "insert key"));
      ins.Bind(1, scope).Bind(2, name).Bind(3, value).Bind(4, NowMillis());
      RETURN_IF_ERROR(ins.Run());
    }
    ASSIGN_OR_RETURN(Statement sel, writer.Prepare("SELECT value FROM keys WHERE scope=?1 AND "
                                                   "name=?2",
                                                   "insert key: read back"));
    sel.Bind(1, scope).Bind(2, name);
    ASSIGN_OR_RETURN(bool row, sel.Step());
    if (!row) return Status::Internal("sqlite: insert key: the row is not there");
    stored = sel.Text(0);
    return Status::Ok();
  }));
  return stored;
}

Status SqliteStore::DeleteKeyRow(std::string_view scope, std::string_view name) {
  MutexLock lock(write_mu_);
  SqliteConnection& writer = *writer_;
  return writer.InTransaction("delete key", [&]() -> Status {
    ASSIGN_OR_RETURN(Statement del,
                     writer.Prepare("DELETE FROM keys WHERE scope=?1 AND name=?2", "delete key"));
    del.Bind(1, scope).Bind(2, name);
    RETURN_IF_ERROR(del.Run());
    if (del.Changes() == 0) return Status::NotFound("no key named '" + std::string(name) + "'");
    return Status::Ok();
  });
}

}  // namespace berth
