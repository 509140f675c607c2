#include "tests/support/postgres_server.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/unique_fd.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

constexpr const char* kBin = "/usr/lib/postgresql/15/bin";

// Runs a shell command; its exit status (-1 when it could not run).
int Run(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

std::string AsPostgres(const std::string& cmd) { return "runuser -u postgres -- " + cmd; }

Result<int> FreePort() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus("socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoStatus("bind", errno);
  }
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoStatus("getsockname", errno);
  }
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string ReadText(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An initialized data dir, made once per machine (initdb takes a second or more; a copy of its
// result takes a few milliseconds) and published by rename.
Result<fs::path> TemplateDataDir() {
  const fs::path tmpl = "/tmp/berth-test-pg15-template-v2";
  if (fs::exists(tmpl / "PG_VERSION")) return tmpl;
  std::string work = tmpl.string() + ".tmp." + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(work, ec);
  fs::create_directories(work, ec);
  if (ec) return Status::IoError("create " + work + ": " + ec.message());
  if (Run("chown postgres:postgres " + work) != 0) {
    return Status::FailedPrecondition("chown postgres " + work +
                                      " failed (is postgresql-15 installed?)");
  }
  std::string cmd = AsPostgres(
      std::string(kBin) + "/initdb -D " + work +
      " -A trust -U postgres -E UTF8 --locale=C --no-sync --wal-segsize=1 >" + work + ".log 2>&1");
  if (Run(cmd) != 0) {
    std::string log = ReadText(work + ".log");
    fs::remove_all(work, ec);
    return Status::Unavailable("initdb failed: " + log);
  }
  fs::remove(work + ".log", ec);
  fs::rename(work, tmpl, ec);
  if (ec) fs::remove_all(work, ec);  // another process published it first
  if (!fs::exists(tmpl / "PG_VERSION")) return Status::IoError("no template data dir");
  return tmpl;
}

}  // namespace

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start(PostgresServerOptions options) {
  if (!fs::exists(std::string(kBin) + "/pg_ctl")) {
    return Status::FailedPrecondition(std::string(kBin) +
                                      "/pg_ctl missing: apt-get install postgresql-15");
  }
  ASSIGN_OR_RETURN(fs::path tmpl, TemplateDataDir());
  // In memory when there is a tmpfs: a copy of the data dir to a busy disk can take seconds.
  std::string dir =
      fs::is_directory("/dev/shm") ? "/dev/shm/berth-pg-XXXXXX" : "/tmp/berth-pg-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) return ErrnoStatus("mkdtemp", errno);
  auto server = std::unique_ptr<PostgresServer>(new PostgresServer());
  server->dir_ = dir;
  std::error_code ec;
  fs::create_directories(server->dir_ / "sock", ec);
  if (Run("cp -a " + tmpl.string() + " " + dir + "/data && chown -R postgres:postgres " + dir) !=
      0) {
    return Status::IoError("copy the template data dir into " + dir);
  }
  ASSIGN_OR_RETURN(server->port_, FreePort());
  std::string durability =
      options.durable ? "" : " -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
  std::string cmd = AsPostgres(std::string(kBin) + "/pg_ctl -D " + dir + "/data -l " + dir +
                               "/log -w -t 60 -o \"-p " + std::to_string(server->port_) + " -k " +
                               dir + "/sock -c listen_addresses=127.0.0.1 -c max_connections=200" +
                               durability + "\" start >/dev/null 2>&1");
  if (Run(cmd) != 0) {
    return Status::Unavailable("pg_ctl start failed: " + ReadText(server->dir_ / "log"));
  }
  server->running_ = true;
  return server;
}

Result<PostgresServer*> PostgresServer::Shared() {
  static Result<std::unique_ptr<PostgresServer>>* shared =
      new Result<std::unique_ptr<PostgresServer>>(Start());
  static bool registered = [] {
    std::atexit([] {
      if (shared->ok()) shared->value().reset();
    });
    return true;
  }();
  (void)registered;
  if (!shared->ok()) return shared->status();
  return shared->value().get();
}

PostgresServer::~PostgresServer() {
  if (running_) {
    Run(AsPostgres(std::string(kBin) + "/pg_ctl -D " + dir_.string() +
                   "/data -m immediate -w stop >/dev/null 2>&1"));
  }
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

std::string PostgresServer::Conninfo(const std::string& db) const {
  return "host=" + (dir_ / "sock").string() + " port=" + std::to_string(port_) +
         " user=postgres dbname=" + db;
}

std::string PostgresServer::Uri(const std::string& db) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

Result<std::string> PostgresServer::CreateDatabase() {
  std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(next_db_++);
  PGconn* conn = PQconnectdb(Conninfo("postgres").c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    PQfinish(conn);
    return Status::Unavailable("connect to the test server: " + msg);
  }
  PGresult* res = PQexec(conn, ("CREATE DATABASE " + name + " STRATEGY FILE_COPY").c_str());
  bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
  std::string msg = PQerrorMessage(conn);
  PQclear(res);
  PQfinish(conn);
  if (!ok) return Status::Internal("CREATE DATABASE " + name + ": " + msg);
  return Conninfo(name);
}

}  // namespace berth
