#!/usr/bin/env python3
"""P1 — durable submits: POST /api/jobs with wrk (64 connections) while dispatch is paused,
against GET /healthz on the same server. Every 202 means the job row and its queue message are
fsync'd, so the accepted rate is also checked against the rows found in the database.

Targets: >= 20,000 accepted jobs/s, p99 <= 10 ms, and >= 0.3x the healthz rate.
Env: P1_SECONDS (default 10; 3 with BENCH_QUICK=1), P1_CONNECTIONS (64), P1_THREADS (2);
P1_PERF=<file> records a call-graph profile of the daemon (`perf record --call-graph dwarf`,
299 Hz) during the POST run.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

JOB = {"image": "busybox", "command": ["/bin/true"]}


def fdatasync_ms(directory, n=200):
    """p50 and p99 of append 4 KiB + fdatasync in directory: the floor of one durable commit."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    lat = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t = time.perf_counter()
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    return c.percentile(lat, 50), c.percentile(lat, 99)


def cpu_seconds(pid):
    """User + system CPU seconds the process (all its threads) has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def context_switches(pid):
    """Voluntary + involuntary context switches of all the process's threads so far."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
        except FileNotFoundError:  # a thread that ended meanwhile
            pass
    return total


def main():
    c.set_scenario("P1")
    c.check_berth()
    c.require("wrk", "wrk")
    seconds = c.env_int("P1_SECONDS", 10, 3)
    conns = c.env_int("P1_CONNECTIONS", 64, 64)
    threads = c.env_int("P1_THREADS", 2, 2)
    work = c.make_workdir("p1")
    sync_p50, sync_p99 = fdatasync_ms(work)
    c.log(f"disk: fdatasync p50 {sync_p50:.2f} ms, p99 {sync_p99:.2f} ms")
    # MaxConcurrentJobs=1 bounds the noise should DispatchPaused be ignored by this build.
    srv = c.Server(work, {"DispatchPaused": "true", "MaxConcurrentJobs": "1"}).start()
    db = srv.db()
    body = json.dumps(JOB)
    headers = {"x-functions-key": srv.key, "Content-Type": "application/json"}

    c.log("warm-up")
    c.run_wrk(srv.url, "/healthz", 1, conns, threads)
    c.run_wrk(srv.url, "/api/jobs", 1, conns, threads, "POST", body, headers)

    c.log(f"GET /healthz, {conns} connections, {seconds}s")
    cpu0 = cpu_seconds(srv.pid)
    cs0 = context_switches(srv.pid)
    health = c.run_wrk(srv.url, "/healthz", seconds, conns, threads)
    cpu1 = cpu_seconds(srv.pid)
    cs1 = context_switches(srv.pid)
    before = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    c.log(f"POST /api/jobs, {conns} connections, {seconds}s")
    perf = None
    if os.environ.get("P1_PERF"):  # a call-graph profile of the daemon during the POST run
        perf = subprocess.Popen(["perf", "record", "--call-graph", "dwarf,32768", "-F", "299",
                                 "-q", "-o", os.environ["P1_PERF"],
                                 "-p", str(srv.pid)], stdout=subprocess.DEVNULL)
    cpu2 = cpu_seconds(srv.pid)
    cs2 = context_switches(srv.pid)
    post = c.run_wrk(srv.url, "/api/jobs", seconds, conns, threads, "POST", body, headers)
    cpu3 = cpu_seconds(srv.pid)
    cs3 = context_switches(srv.pid)
    if perf is not None:
        perf.send_signal(signal.SIGINT)
        perf.wait()
    after = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    rows_added = after - before
    # The daemon's CPU (all threads) per answered request: what one request costs it.
    health_cpu_us = (cpu1 - cpu0) * 1e6 / max(health["requests"], 1)
    post_cpu_us = (cpu3 - cpu2) * 1e6 / max(rows_added, 1)
    c.log(f"daemon CPU: {post_cpu_us:.0f} us per accepted job, {health_cpu_us:.0f} us per healthz")
    post_switches = (cs3 - cs2) / max(rows_added, 1)
    health_switches = (cs1 - cs0) / max(health["requests"], 1)
    c.log(f"daemon context switches: {post_switches:.2f} per accepted job, "
          f"{health_switches:.2f} per healthz")
    accepted_rps = rows_added / post["seconds"]
    counts = srv.state_counts(db)
    started = sum(v for k, v in counts.items() if k != "Queued")
    job_dirs = len(srv.job_ids())
    paused_ok = started == 0 and job_dirs == 0
    if not paused_ok:
        c.log(f"DispatchPaused had no effect: {started} jobs left Queued, {job_dirs} job dirs")
    daemon_rss = c.rss_kib(srv.pid)
    db.close()
    srv.cleanup()

    ratio = accepted_rps / health["ok_rps"]
    rows = [
        c.row("P1 accepted jobs/s (POST, 64 conn)", accepted_rps, health["ok_rps"],
              "≥ 20,000/s and ≥ 0.3× healthz", accepted_rps >= 20000 and ratio >= 0.3,
              unit="req/s", ratio=ratio, baseline_name="GET /healthz",
              note="" if paused_ok else "DispatchPaused not effective in this build"),
        c.row("P1 POST p99 latency", post["p99_ms"], health["p99_ms"], "≤ 10 ms",
              post["p99_ms"] <= 10, unit="ms", baseline_name="GET /healthz p99"),
        c.row("P1 daemon CPU per accepted job", post_cpu_us, health_cpu_us, "(info)", None,
              unit="µs", baseline_name="per GET /healthz"),
        # Context: with one fsync per commit and 64 requests in flight, the rate cannot exceed
        # 64 / commit time; this row shows what the disk under the data dir allows.
        c.row("P1 disk: fdatasync of 4 KiB, p50 (p99 in details)", sync_p50, None, "(info)",
              None, unit="ms", note=f"bound with 64 in flight: 64 jobs per fsync = {64000 / max(sync_p50, 1e-3):,.0f} jobs/s"),
    ]
    details = {
        "seconds": seconds, "connections": conns, "wrk_threads": threads,
        "fdatasync_p50_ms": sync_p50, "fdatasync_p99_ms": sync_p99,
        "post": post, "healthz": health,
        "rows_added": rows_added, "wrk_202s": post["requests"] - post["non2xx"],
        "dispatch_paused_effective": paused_ok, "jobs_started_anyway": started,
        "daemon_rss_kib_after": daemon_rss,
        "daemon_cpu_us_per_job": post_cpu_us, "daemon_cpu_us_per_healthz": health_cpu_us,
        "daemon_switches_per_job": post_switches, "daemon_switches_per_healthz": health_switches,
    }
    c.write_result("P1", rows, details)


if __name__ == "__main__":
    main()
