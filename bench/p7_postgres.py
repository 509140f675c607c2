#!/usr/bin/env python3
"""P7 — the PostgreSQL store against SQLite, same run, same machine.

1. Durable submits through the API: POST /api/jobs with wrk (64 connections, dispatch paused)
   against a daemon on SQLite (berth.db in its data dir) and one with StoreConnection on a
   private PostgreSQL 15 server (fsync on, synchronous_commit on: a 202 means committed).
   Accepted jobs are counted in each store, not taken from wrk.
2. The store alone (build/berth-store-bench, bench/store_cycles.cc): submits/s with 64 in
   flight, and claim -> Pending -> Running -> Succeeded cycles/s with 1, 2 and 4 workers (what a
   dispatcher with a fake runtime asks of the store per job), for both engines.

Target (issue 11): API submits on PostgreSQL >= the SQLite rate.
Env: P7_SECONDS (default 10; 3 with BENCH_QUICK=1), P7_CONNECTIONS (64), P7_JOBS (2000; 500).
"""
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"
JOB = {"image": "busybox", "command": ["/bin/true"]}
STORE_BENCH = os.environ.get("BERTH_STORE_BENCH",
                             os.path.join(c.ROOT, "build", "berth-store-bench"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_postgres(work):
    """A durable PostgreSQL 15 in work/pg (initdb as the postgres user); its URI."""
    pg = os.path.join(work, "pg")
    os.makedirs(pg)
    subprocess.run(["chown", "postgres:postgres", pg], check=True)
    subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/initdb", "-D", f"{pg}/data",
                    "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"],
                   check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    opts = f"-p {port} -k {pg} -c listen_addresses=127.0.0.1 -c max_connections=200"
    subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D", f"{pg}/data",
                    "-l", f"{pg}/log", "-w", "-o", opts, "start"],
                   check=True, stdout=subprocess.DEVNULL)
    c.on_cleanup(lambda: subprocess.run(
        ["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D", f"{pg}/data", "-m",
         "immediate", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/createdb", "-h", pg, "-p",
                    str(port), "berth"], check=True)
    return f"postgresql://postgres@127.0.0.1:{port}/berth", pg, port


def psql_count(pg, port):
    r = subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/psql", "-h", pg, "-p",
                        str(port), "-d", "berth", "-tAc", "SELECT COUNT(*) FROM jobs"],
                       capture_output=True, text=True, check=True)
    return int(r.stdout.strip())


def api_submits(work, name, values, count_jobs, seconds, conns, threads):
    srv = c.Server(work, dict(values, DispatchPaused="true", MaxConcurrentJobs="1"),
                   name=name).start()
    body = json.dumps(JOB)
    headers = {"x-functions-key": srv.key, "Content-Type": "application/json"}
    c.run_wrk(srv.url, "/api/jobs", 1, conns, threads, "POST", body, headers)  # warm-up
    before = count_jobs(srv)
    c.log(f"{name}: POST /api/jobs, {conns} connections, {seconds}s")
    post = c.run_wrk(srv.url, "/api/jobs", seconds, conns, threads, "POST", body, headers)
    added = count_jobs(srv) - before
    srv.cleanup()
    return added / post["seconds"], post


def main():
    c.set_scenario("P7")
    c.check_berth()
    c.require("wrk", "wrk")
    if not os.path.exists(f"{PG_BIN}/pg_ctl"):
        raise SystemExit("postgresql-15 is missing: scripts/install-deps.sh installs it")
    seconds = c.env_int("P7_SECONDS", 10, 3)
    conns = c.env_int("P7_CONNECTIONS", 64, 64)
    jobs = c.env_int("P7_JOBS", 2000, 500)
    work = c.make_workdir("p7")
    os.chmod(work, 0o755)  # the postgres user reaches its data dir below
    uri, pg, port = start_postgres(work)

    def sqlite_count(srv):
        db = srv.db()
        n = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        db.close()
        return n

    os.makedirs(os.path.join(work, "s"))
    os.makedirs(os.path.join(work, "p"))
    sqlite_rps, sqlite_post = api_submits(os.path.join(work, "s"), "sqlite", {}, sqlite_count,
                                          seconds, conns, 2)
    pg_rps, pg_post = api_submits(os.path.join(work, "p"), "postgres", {"StoreConnection": uri},
                                  lambda _srv: psql_count(pg, port), seconds, conns, 2)
    rows = [
        c.row("P7 API submits/s on PostgreSQL vs SQLite (POST, 64 conn)", pg_rps, sqlite_rps,
              "≥ 1× SQLite", pg_rps >= sqlite_rps, unit="jobs/s", baseline_name="SQLite"),
        c.row("P7 API POST p99 on PostgreSQL vs SQLite", pg_post["p99_ms"], sqlite_post["p99_ms"],
              "(info)", None, unit="ms", baseline_name="SQLite p99"),
    ]
    store = {}
    if os.access(STORE_BENCH, os.X_OK):
        c.log(f"store alone: {STORE_BENCH} {jobs}")
        r = subprocess.run([STORE_BENCH, str(jobs)], capture_output=True, text=True, timeout=1200)
        for line in r.stdout.splitlines():
            d = json.loads(line)
            store[(d["engine"], d["figure"])] = d["per_second"]
        if r.returncode != 0:
            c.log(f"store bench failed ({r.returncode}): {r.stderr[-500:]}")
        for (engine, figure), v in sorted(store.items()):
            if engine != "postgres":
                continue
            base = store.get(("sqlite", figure))
            rows.append(c.row(f"P7 store alone: {figure}, PostgreSQL vs SQLite", v, base,
                              "(info)", None, unit="/s", baseline_name="SQLite"))
    else:
        c.log(f"{STORE_BENCH} missing: build it (cmake --build build --target berth-store-bench)")
    details = {"seconds": seconds, "connections": conns, "store_bench_jobs": jobs,
               "sqlite_post": sqlite_post, "postgres_post": pg_post,
               "store": {f"{e}: {f}": v for (e, f), v in store.items()}}
    c.write_result("P7", rows, details)


if __name__ == "__main__":
    main()
