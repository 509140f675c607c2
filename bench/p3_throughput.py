#!/usr/bin/env python3
"""P3 — throughput: N trivial jobs (`/bin/true`) submitted at once (16 client connections),
timed from the first POST until the database shows all N Succeeded.

Baseline, same run: the same N `crun run`s of the same bundle (berth's config.json for one of
the jobs, overlay rootfs of the same image layer, one bundle per lane) in a shell loop with 2 in
parallel, inside a private mount namespace with the hybrid host's cgroup2 mount hidden.

Target: berth's jobs/s >= 0.8x the loop's (issue 9, raised from 0.5x).
Env: P3_JOBS (1000; 100 quick), P3_CLIENTS (16), P3_MAX_CONCURRENT (unset: berth's default).
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

JOB = {"image": "busybox", "command": ["/bin/true"]}

LOOP = r'''
set -e
N=$1; STATE=$2; LOG=$3; BASE=$4; LOWER=$5
for lane in 0 1; do
  mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$BASE/upper$lane,workdir=$BASE/work$lane" "$BASE/bundle$lane/rootfs"
done
lane() {
  i=$1
  while [ "$i" -lt "$N" ]; do
    crun --root "$STATE" --log=file:"$LOG" run --bundle "$BASE/bundle$2" "bench-p3-$i" >/dev/null 2>&1 </dev/null || echo "fail $i"
    i=$((i + 2))
  done
}
start=$(date +%s%N)
lane 0 0 &
lane 1 1 &
wait
end=$(date +%s%N)
echo "elapsed_us $(( (end - start) / 1000 ))"
'''


def submit_all(srv, n, clients):
    ids, errors = [], []
    lock = threading.Lock()
    counter = iter(range(n))

    def worker():
        cli = srv.http()
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            try:
                jid = srv.submit(cli, JOB)
                with lock:
                    ids.append(jid)
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append(repr(e))
        cli.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} submits failed: {errors[:3]}")
    return ids


def main():
    c.set_scenario("P3")
    c.check_berth()
    c.require("crun", "crun")
    n = c.env_int("P3_JOBS", 1000, 100)
    clients = c.env_int("P3_CLIENTS", 16, 16)
    values = {}
    if os.environ.get("P3_MAX_CONCURRENT"):
        values["MaxConcurrentJobs"] = os.environ["P3_MAX_CONCURRENT"]
    work = c.make_workdir("p3")
    srv = c.Server(work, values).start()
    db = srv.db()

    # Warm-up: one job end to end (image resolved, caches hot); not counted.
    cli = srv.http()
    srv.submit(cli, JOB)
    cli.close()
    srv.wait_states(db, "Succeeded", 1, 60)

    c.log(f"berth: {n} jobs at once over {clients} connections")
    t0 = time.monotonic()
    submit_all(srv, n, clients)
    t_submitted = time.monotonic() - t0
    elapsed, counts = srv.wait_states(db, "Succeeded", n + 1, 1800)
    elapsed = time.monotonic() - t0
    berth_rate = n / elapsed
    c.log(f"berth: {n} Succeeded in {elapsed:.2f}s (submits took {t_submitted:.2f}s)")
    # Where did the time go, per job: created → started → finished (the store's timestamps).
    q = db.execute("SELECT AVG(started_at - created_at), AVG(finished_at - started_at), "
                   "MAX(finished_at) - MIN(created_at) FROM jobs").fetchone()
    db.close()
    daemon_rss = c.rss_kib(srv.pid)
    cfg, lower = srv.runtime_config(JOB["command"])
    max_concurrent = values.get("MaxConcurrentJobs", "16 (default)")

    base = os.path.join(work, "crun")
    for lane in (0, 1):
        for d in (f"bundle{lane}/rootfs", f"upper{lane}", f"work{lane}"):
            os.makedirs(os.path.join(base, d))
        cfg["linux"]["cgroupsPath"] = f"/berth-bench-p3-lane{lane}"
        with open(os.path.join(base, f"bundle{lane}", "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
    os.makedirs(os.path.join(base, "state"))
    c.on_cleanup(lambda: c.remove_cgroups(["berth-bench-p3-lane0", "berth-bench-p3-lane1"]))
    c.on_cleanup(lambda: c.crun_cleanup(os.path.join(base, "state")))
    srv.cleanup()

    c.log(f"crun run: {n} runs, 2 in parallel")
    r = subprocess.run(c.private_ns_prefix() + [
        "sh", "-c", LOOP, "sh", str(n), os.path.join(base, "state"), os.path.join(base, "crun.log"),
        base, lower], capture_output=True, text=True, timeout=1800)
    fails = [line for line in r.stdout.splitlines() if line.startswith("fail")]
    el = [line for line in r.stdout.splitlines() if line.startswith("elapsed_us")]
    if r.returncode != 0 or not el:
        raise RuntimeError(f"crun loop failed: {r.stdout[-1000:]} {r.stderr[-1000:]}")
    if fails:
        raise RuntimeError(f"{len(fails)} crun runs failed, e.g. {fails[:3]}; {r.stderr[-1000:]}")
    crun_elapsed = int(el[0].split()[1]) / 1e6
    crun_rate = n / crun_elapsed
    c.log(f"crun run: {n} in {crun_elapsed:.2f}s")

    ratio = berth_rate / crun_rate
    rows = [
        c.row(f"P3 throughput, {n} trivial jobs at once", berth_rate, crun_rate, "≥ 0.8× loop",
              ratio >= 0.8, unit="jobs/s", ratio=ratio,
              baseline_name="crun run loop, 2 in parallel"),
    ]
    details = {
        "jobs": n, "clients": clients, "max_concurrent_jobs": max_concurrent,
        "berth_seconds": elapsed, "berth_submit_seconds": t_submitted,
        "crun_seconds": crun_elapsed,
        "avg_queue_wait_ms": q[0], "avg_run_ms": q[1], "store_span_ms": q[2],
        "daemon_rss_kib_after": daemon_rss,
    }
    c.write_result("P3", rows, details)


if __name__ == "__main__":
    main()
