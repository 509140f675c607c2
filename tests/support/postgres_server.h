// PostgresServer: a real, private PostgreSQL 15 server for tests (Debian's postgresql-15). It is
// initialized as the `postgres` user (initdb refuses root) into a temp dir (on /dev/shm when
// there: a copy of an initdb'd template kept in /tmp), listens on a free loopback port and a
// private unix socket dir, and is stopped and removed on destruction.
// Tests only; not part of any library.
//
// Thread-compatible: one thread starts and stops it; CreateDatabase is thread-safe.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "common/status.h"

namespace berth {

struct PostgresServerOptions {
  // fsync and synchronous commit. Default off: tests need speed, not crash safety; benchmarks
  // turn it on to measure what a real deployment pays.
  bool durable = false;
};

class PostgresServer {
 public:
  // Starts a new server. Unavailable (with the server's log) when it does not come up.
  static Result<std::unique_ptr<PostgresServer>> Start(PostgresServerOptions options = {});
  // The server of this test process, started on first use and stopped at exit.
  static Result<PostgresServer*> Shared();
  ~PostgresServer();

  // A new empty database; returns the libpq conninfo that opens it.
  Result<std::string> CreateDatabase();
  // The conninfo of database `db` (over the unix socket).
  std::string Conninfo(const std::string& db) const;
  // The same as a postgresql:// URI over TCP (127.0.0.1).
  std::string Uri(const std::string& db) const;

  int port() const { return port_; }

 private:
  PostgresServer() = default;

  std::filesystem::path dir_;  // data/, sock/, log
  int port_ = 0;
  bool running_ = false;
  std::atomic<int> next_db_{0};
};

}  // namespace berth
