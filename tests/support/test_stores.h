// TestStores: one store of a named engine for tests that run against both ("Sqlite": a file in
// a temp dir; "Postgres": a fresh database on the test process's PostgreSQL server), seen
// through both of its interfaces. Tests only; not part of any library.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "tests/support/postgres_server.h"

namespace berth {

class TestStores {
 public:
  explicit TestStores(std::string engine) : engine_(std::move(engine)) {}
  ~TestStores() {
    Close();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  TestStores(const TestStores&) = delete;
  TestStores& operator=(const TestStores&) = delete;

  // Opens the store; after Close, opens it again over the same data.
  Status Open(Clock& clock) {
    if (engine_ == "Sqlite") {
      if (dir_.empty()) {
        std::string tmpl = "/tmp/berth-test-store-XXXXXX";
        if (mkdtemp(tmpl.data()) == nullptr) return Status::IoError("mkdtemp failed");
        dir_ = tmpl;
      }
      ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> s, SqliteStore::Open(dir_ / "berth.db", clock));
      triggers_ = s.get();
      store_ = std::move(s);
      return Status::Ok();
    }
    if (engine_ == "Postgres") {
      if (conninfo_.empty()) {
        ASSIGN_OR_RETURN(PostgresServer * server, PostgresServer::Shared());
        ASSIGN_OR_RETURN(conninfo_, server->CreateDatabase());
      }
      ASSIGN_OR_RETURN(std::unique_ptr<PostgresStore> s, PostgresStore::Open(conninfo_, clock));
      triggers_ = s.get();
      store_ = std::move(s);
      return Status::Ok();
    }
    return Status::InvalidArgument("no store engine '" + engine_ + "'");
  }
  void Close() {
    triggers_ = nullptr;
    store_.reset();
  }

  Store* store() { return store_.get(); }
  TriggerStore* triggers() { return triggers_; }

 private:
  std::string engine_;
  std::filesystem::path dir_;
  std::string conninfo_;
  std::unique_ptr<Store> store_;
  TriggerStore* triggers_ = nullptr;
};

// Names parameterized tests after the engine.
inline std::string EngineName(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

}  // namespace berth
