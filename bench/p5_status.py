#!/usr/bin/env python3
"""P5 — status reads: GET /api/jobs/{id} of a finished job with wrk (64 connections), against
GET /healthz on the same server.

Target: >= 0.9x the healthz rate (issue 9, raised from 0.5x).
Env: P5_SECONDS (10; 3 quick), P5_CONNECTIONS (64), P5_THREADS (2).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

# A finished job with a few lines of log, as a status poll would typically see.
JOB = {"image": "busybox", "command": ["/bin/sh", "-c", "for i in 1 2 3 4 5; do echo line $i; done"]}


def main():
    c.set_scenario("P5")
    c.check_berth()
    c.require("wrk", "wrk")
    seconds = c.env_int("P5_SECONDS", 10, 3)
    conns = c.env_int("P5_CONNECTIONS", 64, 64)
    threads = c.env_int("P5_THREADS", 2, 2)
    work = c.make_workdir("p5")
    srv = c.Server(work, {}).start()
    db = srv.db()
    cli = srv.http()
    jid = srv.submit(cli, JOB)
    srv.wait_states(db, "Succeeded", 1, 60)
    status, _, body = cli.request("GET", f"/api/jobs/{jid}")
    cli.close()
    db.close()
    if status != 200:
        raise RuntimeError(f"status of the finished job answered {status}: {body[:300]!r}")
    path = f"/api/jobs/{jid}"

    c.log("warm-up")
    c.run_wrk(srv.url, "/healthz", 1, conns, threads)
    c.run_wrk(srv.url, path, 1, conns, threads)
    c.log(f"GET /healthz, {conns} connections, {seconds}s")
    health = c.run_wrk(srv.url, "/healthz", seconds, conns, threads)
    c.log(f"GET {path}, {conns} connections, {seconds}s")
    st = c.run_wrk(srv.url, path, seconds, conns, threads)
    srv.cleanup()
    if st["non2xx"] or st["socket_errors"]:
        c.log(f"status reads: {st['non2xx']} non-2xx, {st['socket_errors']} socket errors")

    ratio = st["ok_rps"] / health["ok_rps"]
    rows = [
        c.row("P5 status reads/s (GET /api/jobs/{id}, finished)", st["ok_rps"], health["ok_rps"],
              "≥ 0.9× healthz", ratio >= 0.9, unit="req/s", ratio=ratio,
              baseline_name="GET /healthz"),
        c.row("P5 status read p99 latency", st["p99_ms"], health["p99_ms"], "(info)", None,
              unit="ms", baseline_name="GET /healthz p99"),
    ]
    details = {"seconds": seconds, "connections": conns, "wrk_threads": threads,
               "status": st, "healthz": health, "response_bytes": len(body)}
    c.write_result("P5", rows, details)


if __name__ == "__main__":
    main()
