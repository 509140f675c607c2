#!/usr/bin/env python3
"""P2 — start latency: POST /api/jobs → the job's first log line visible through the API, for
N sequential jobs (each waits for the previous one to succeed); p50 and p99. The client reads
GET /api/jobs/{id}/logs every P2_POLL_MS until the job has output; P2_METHOD=follow follows the
log as `berth logs -f` does instead (GET /api/jobs/{id}/logs?follow=true, one connection per
job, timed to the first byte of output).

Baselines, same run, same image and command (`/bin/echo ready`):
  * `crun run` of the same bundle: the config.json berth generated for one of the jobs above, a
    rootfs that is an overlay of the same unpacked image layer, crun invoked the way berth's
    monitor invokes it (`crun --root STATE --log=file:LOG ...`, stdout+stderr to a pipe, in a
    private mount namespace with the hybrid host's cgroup2 mount hidden). Timed from spawn to
    the first line read from the pipe, and to exit.
  * `podman run --rm` (runc, cgroupfs, --network none, --pull never, local image), timed the
    same way.
hyperfine cross-checks the whole-run wall time of both baselines (details only).

Targets: berth p50 <= 1.5x crun run's p50; <= 0.1x podman's p50.
Env: P2_JOBS (200; 30 quick), P2_PODMAN_RUNS (= P2_JOBS), P2_METHOD (poll), P2_POLL_MS (0.5),
P2_HYPERFINE (1).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

COMMAND = ["/bin/echo", "ready"]
JOB = {"image": "busybox", "command": COMMAND}


def first_line_timing(argv, env=None):
    """Spawns argv; seconds until its first stdout line, and until it exits."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, env=env)
    line = p.stdout.readline()
    t1 = time.perf_counter()
    rest = p.stdout.read()
    rc = p.wait()
    t2 = time.perf_counter()
    if rc != 0 or not line:
        raise RuntimeError(f"{' '.join(argv[:6])}...: exit {rc}: {(line + rest)[-500:]!r}")
    return t1 - t0, t2 - t0


def crun_driver(args):
    """Runs inside a private mount namespace (see private_ns_prefix): mounts the overlay rootfs,
    runs crun N times, prints JSON timings."""
    bundle, lower, upper, work, state, n, warm = args
    n, warm = int(n), int(warm)
    rootfs = os.path.join(bundle, "rootfs")
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower},upperdir={upper},workdir={work}", rootfs], check=True)
    log_file = os.path.join(os.path.dirname(bundle), "crun.log")
    first, total = [], []
    for i in range(warm + n):
        argv = ["crun", "--root", state, f"--log=file:{log_file}", "run", "--bundle", bundle,
                f"bench-p2-{i}"]
        f, t = first_line_timing(argv)
        if i >= warm:
            first.append(f)
            total.append(t)
    hf = None
    if (os.environ.get("P2_HYPERFINE", "1") == "1" and not os.environ.get("P2_HYPERFINE_SKIP")
            and shutil.which("hyperfine")):
        out = os.path.join(os.path.dirname(bundle), "hyperfine-crun.json")
        cmd = f"crun --root {state} --log=file:{log_file} run --bundle {bundle} bench-p2-hf"
        r = subprocess.run(["hyperfine", "-N", "--warmup", "3", "--runs", str(max(10, n // 4)),
                            "--export-json", out, "--output", "null", cmd],
                           capture_output=True, text=True)
        if r.returncode == 0:
            with open(out) as fh:
                hf = json.load(fh)["results"][0]
    subprocess.run(["umount", rootfs])
    print(json.dumps({"first": first, "total": total, "hyperfine": hf}))


def stats(xs):
    ms = [x * 1000 for x in xs]
    return {"n": len(ms), "p50_ms": c.percentile(ms, 50), "p90_ms": c.percentile(ms, 90),
            "p99_ms": c.percentile(ms, 99), "min_ms": min(ms), "max_ms": max(ms),
            "mean_ms": sum(ms) / len(ms)}


def seccomp_rules(work):
    """berth's linux.seccomp rules for the job: what a daemon puts in the config when its
    runtime does not say it loads the program alone (a wrapper around crun that answers
    --version as another runtime)."""
    wrapper = os.path.join(work, "other-runtime")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\n[ "$1" = --version ] && { echo "other version 1.0.0"; exit 0; }\n'
                'exec crun "$@"\n')
    os.chmod(wrapper, 0o755)
    os.makedirs(os.path.join(work, "rules"))
    srv = c.Server(os.path.join(work, "rules"), {"Runtime": wrapper}, name="berth-rules").start()
    try:
        cfg, _ = srv.runtime_config(COMMAND, runtime="other-runtime")
    finally:
        srv.cleanup()
    if "seccomp" not in cfg["linux"]:
        raise RuntimeError("a daemon on another runtime wrote no linux.seccomp")
    return cfg["linux"]["seccomp"]


def follow_first_output(host, port, jid):
    """Follows the job's log as `berth logs -f` does (GET /api/jobs/{id}/logs?follow=true):
    returns when the first byte of the job's output arrives; reads the stream to its end (the
    job's end) before it returns."""
    s = socket.create_connection((host, port), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(f"GET /api/jobs/{jid}/logs?follow=true HTTP/1.1\r\nHost: {host}\r\n"
              "Connection: close\r\n\r\n".encode())
    buf, first = b"", None
    while True:
        data = s.recv(65536)
        if not data:
            break
        buf += data
        if first is None and has_output(buf):
            first = time.perf_counter()
    s.close()
    if first is None:
        raise RuntimeError(f"job {jid}: the log stream ended without output: {buf[-300:]!r}")
    return first


def has_output(raw):
    """Whether an HTTP answer read so far carries at least one byte of body (chunked or not)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        raise RuntimeError(f"follow answered {status}: {raw[-300:]!r}")
    if b"transfer-encoding: chunked" not in head.lower():
        return len(body) > 0
    while body:
        line, sep, rest = body.partition(b"\r\n")
        if not sep:
            return False
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return False
        if rest:
            return True
        body = rest
    return False


def poll_first_output(cli, path, t0, poll):
    """Reads the job's log every `poll` seconds until it has output; returns when it had."""
    while True:
        status, _, body = cli.request("GET", path)
        if status == 200 and body:
            return time.perf_counter()
        if time.perf_counter() - t0 > 60:
            raise RuntimeError(f"{path}: no log line after 60s")
        time.sleep(poll)


def measure_berth(srv, n, warm, poll, method):
    cli = srv.http()
    first, done = [], []
    for i in range(warm + n):
        t0 = time.perf_counter()
        jid = srv.submit(cli, JOB)
        path = f"/api/jobs/{jid}/logs"
        if method == "follow":
            t1 = follow_first_output(srv.host, srv.port, jid)
        else:
            t1 = poll_first_output(cli, path, t0, poll)
        while True:
            status, _, body = cli.request("GET", f"/api/jobs/{jid}")
            if status != 202:
                t2 = time.perf_counter()
                break
            if time.perf_counter() - t0 > 60:
                raise RuntimeError(f"job {jid}: not finished after 60s")
            time.sleep(poll)
        if status != 200:
            raise RuntimeError(f"job {jid} answered {status}: {body[:300]!r}")
        if i >= warm:
            first.append(t1 - t0)
            done.append(t2 - t0)
    # What one poll costs (the measurement's resolution is about poll + one GET).
    t = time.perf_counter()
    for _ in range(200):
        cli.request("GET", path)
    get_ms = (time.perf_counter() - t) / 200 * 1000
    cli.close()
    return first, done, jid, get_ms


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--crun-driver":
        return crun_driver(sys.argv[2:])
    c.set_scenario("P2")
    c.check_berth()
    c.require("crun", "crun")
    c.require("podman", "podman")
    n = c.env_int("P2_JOBS", 200, 30)
    n_podman = c.env_int("P2_PODMAN_RUNS", n, n)
    poll = float(os.environ.get("P2_POLL_MS", "0.5")) / 1000
    method = os.environ.get("P2_METHOD", "poll")
    if method not in ("follow", "poll"):
        raise RuntimeError(f"P2_METHOD must be follow or poll, not {method!r}")
    warm = 5
    work = c.make_workdir("p2")

    srv = c.Server(work, {}).start()
    c.log(f"berth: {n} sequential jobs (+{warm} warm-up)")
    c.log(f"berth: first line by {'following the log' if method == 'follow' else 'polling /logs'}")
    b_first, b_done, last_id, get_ms = measure_berth(srv, n, warm, poll, method)
    # The baseline bundle: the config.json berth hands crun for this job, rootfs = the same
    # layers. A second one swaps berth's precompiled seccomp program (the
    # run.oci.seccomp_bpf_data annotation) for the rules it was compiled from: crun then compiles
    # them on each run, as it does when run by hand.
    cfg, lower = srv.runtime_config(COMMAND)
    cfg["linux"]["cgroupsPath"] = "/berth-bench-p2-crun"
    base = os.path.join(work, "crun")
    state = os.path.join(base, "state")
    os.makedirs(state)
    c.on_cleanup(lambda: c.remove_cgroups(["berth-bench-p2-crun"]))
    c.on_cleanup(lambda: c.crun_cleanup(state))

    def crun_runs(name, config, runs):
        bundle = os.path.join(base, name, "bundle")
        for d in ("bundle/rootfs", "upper", "work"):
            os.makedirs(os.path.join(base, name, d))
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        c.log(f"crun run ({name}): {runs} runs (+{warm} warm-up)")
        r = subprocess.run(c.private_ns_prefix() + [
            sys.executable, os.path.abspath(__file__), "--crun-driver", bundle, lower,
            os.path.join(base, name, "upper"), os.path.join(base, name, "work"), state,
            str(runs), str(warm)], capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            raise RuntimeError(f"crun driver failed: {r.stderr[-2000:]}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    crun = crun_runs("same-bundle", cfg, n)
    compiling = None
    if "run.oci.seccomp_bpf_data" in cfg.get("annotations", {}):
        by_hand = json.loads(json.dumps(cfg))
        del by_hand["annotations"]["run.oci.seccomp_bpf_data"]
        by_hand["linux"]["seccomp"] = seccomp_rules(work)
        os.environ["P2_HYPERFINE_SKIP"] = "1"
        compiling = crun_runs("compiling", by_hand, max(10, n // 2))
        del os.environ["P2_HYPERFINE_SKIP"]
    srv.cleanup()

    c.log(f"podman run --rm: {n_podman} runs (+3 warm-up)")
    pm = c.Podman(work)
    pm.load_image()
    p_first, p_done = [], []
    for i in range(3 + n_podman):
        f, t = first_line_timing(pm.run_cmd("--rm", c.PODMAN_IMAGE, *COMMAND))
        if i >= 3:
            p_first.append(f)
            p_done.append(t)
    p_hf = None
    if os.environ.get("P2_HYPERFINE", "1") == "1" and shutil.which("hyperfine"):
        out = os.path.join(work, "hyperfine-podman.json")
        cmd = " ".join(pm.run_cmd("--rm", c.PODMAN_IMAGE, *COMMAND))
        hr = subprocess.run(["hyperfine", "-N", "--warmup", "2", "--runs", str(max(10, n_podman // 10)),
                             "--export-json", out, "--output", "null", cmd],
                            capture_output=True, text=True)
        if hr.returncode == 0:
            with open(out) as fh:
                p_hf = json.load(fh)["results"][0]
    pm.cleanup()

    bs, bd = stats(b_first), stats(b_done)
    cs, cd = stats(crun["first"]), stats(crun["total"])
    ps, pd = stats(p_first), stats(p_done)
    rows = [
        c.row("P2 start latency p50 (POST → first log line) vs crun run", bs["p50_ms"],
              cs["p50_ms"], "≤ 1.5× crun run", bs["p50_ms"] <= 1.5 * cs["p50_ms"], unit="ms",
              baseline_name="crun run, spawn → first line"),
        c.row("P2 start latency p50 vs podman run --rm", bs["p50_ms"], ps["p50_ms"],
              "≤ 0.1× podman", bs["p50_ms"] <= 0.1 * ps["p50_ms"], unit="ms",
              baseline_name="podman run --rm, spawn → first line"),
        c.row("P2 start latency p99 vs crun run", bs["p99_ms"], cs["p99_ms"], "≤ 2× crun run p99",
              bs["p99_ms"] <= 2 * cs["p99_ms"], unit="ms", baseline_name="crun run p99"),
        c.row("P2 POST → Succeeded p50 vs crun run exit", bd["p50_ms"], cd["p50_ms"], "(info)",
              None, unit="ms", baseline_name="crun run, spawn → exit"),
    ]
    if compiling:
        xs = stats(compiling["first"])
        rows.append(c.row("P2 start latency p50 vs crun run compiling the same filter itself",
                          bs["p50_ms"], xs["p50_ms"], "(info)", None, unit="ms",
                          baseline_name="crun run without berth's precompiled seccomp program"))
    details = {
        "jobs": n, "podman_runs": n_podman, "method": method, "poll_ms": poll * 1000, "get_roundtrip_ms": get_ms,
        "berth_first_line": bs, "berth_succeeded": bd,
        "crun_first_line": cs, "crun_exit": cd, "crun_hyperfine": crun.get("hyperfine"),
        "crun_compiling_filter_first_line": stats(compiling["first"]) if compiling else None,
        "podman_first_line": ps, "podman_exit": pd, "podman_hyperfine": p_hf,
        "command": COMMAND,
    }
    for k in ("crun_hyperfine", "podman_hyperfine"):
        if details[k]:
            details[k] = {x: details[k][x] for x in ("mean", "stddev", "median", "min", "max")}
    c.write_result("P2", rows, details)


if __name__ == "__main__":
    main()
