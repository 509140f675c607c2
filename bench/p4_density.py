#!/usr/bin/env python3
"""P4 — density: N concurrently running `sleep` jobs (MaxConcurrentJobs = N).

Figure: host memory per running job = drop of MemAvailable / N. MemAvailable is sampled with
the anonymous memory (RssAnon) of every process outside the benchmark's cgroups added back, so
compilers and other work starting or ending on a shared machine do not count (median of 5
samples); the drop is taken from the mean of "before submitting" and "after every job was
stopped and cleaned up" (cancels a steady drift) to "all N report Running, plus 3 s of
settling". The raw MemAvailable figures are in the details. Cross-checks: the memory charged
to memory cgroups per job (with and without the file page cache; split into anon, kernel,
file and shmem in the details); and the daemon's RSS
with all N running. Baseline: M `podman run -d` sleeping containers (runc, cgroupfs, conmon),
measured the same way.

Targets: per-job memory <= 0.5x podman's per container; daemon RSS <= 100 MiB.
Env: P4_JOBS (1000; 100 quick), P4_PODMAN (100; 20 quick), P4_SETTLE_S (3).
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

SLEEP = ["/bin/sleep", "3600"]
JOB = {"image": "busybox", "command": SLEEP}


def container_pids(data):
    out = []
    jobs = os.path.join(data, "jobs")
    for j in os.listdir(jobs):
        out.append(c.container_pid(data, j))
    return [p for p in out if p > 0 and c.alive(p)]


def children_of(parents):
    parents = set(parents)
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid in parents:
            out.append(int(name))
    return out


def cgroup_memory_kib(names):
    """Sum of memory.usage_in_bytes of the jobs' v1 memory cgroups (0 when not v1)."""
    total = 0
    for name in names:
        try:
            with open(f"/sys/fs/cgroup/memory/{name}/memory.usage_in_bytes") as f:
                total += int(f.read())
        except (OSError, ValueError):
            pass
    return total // 1024


def memcg_parts_kib(path):
    """What a v1 memory cgroup (with its children) is charged, in KiB, split: "anon" (process
    memory), "kernel" (kmem: page tables, kernel stacks, namespaces, mounts, inodes...),
    "file" (page cache of files, reclaimable; tmpfs/shmem is counted in "shmem", not here),
    "shmem" and "usage" (the total). Zeros when the cgroup or a file is missing."""
    parts = {"usage": 0, "anon": 0, "kernel": 0, "file": 0, "shmem": 0}
    try:
        stat = {}
        with open(os.path.join(path, "memory.stat")) as f:
            for line in f:
                k, v = line.split()
                stat[k] = int(v)
        with open(os.path.join(path, "memory.usage_in_bytes")) as f:
            usage = int(f.read())
        with open(os.path.join(path, "memory.kmem.usage_in_bytes")) as f:
            kmem = int(f.read())
    except (OSError, ValueError, TypeError):
        return parts
    parts.update(usage=usage, anon=stat.get("total_rss", 0), kernel=kmem,
                 shmem=stat.get("total_shmem", 0),
                 file=stat.get("total_cache", 0) - stat.get("total_shmem", 0))
    return {k: v // 1024 for k, v in parts.items()}


def status_kib(pid, field):
    """A "<field>: N kB" line of /proc/<pid>/status in KiB (0 when gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def own_mount_namespaces(pids):
    """How many of `pids` are in a mount namespace other than this process's."""
    try:
        ours = os.readlink("/proc/self/ns/mnt")
    except OSError:
        return 0
    n = 0
    for p in pids:
        try:
            n += os.readlink(f"/proc/{p}/ns/mnt") != ours
        except OSError:
            pass
    return n


def add_parts(*parts, sign=1):
    out = {}
    for i, p in enumerate(parts):
        for k, v in p.items():
            out[k] = out.get(k, 0) + (v if i == 0 else sign * v)
    return out


def main():
    c.set_scenario("P4")
    c.check_berth()
    c.require("podman", "podman")
    n = c.env_int("P4_JOBS", 1000, 100)
    m = c.env_int("P4_PODMAN", 100, 20)
    settle = float(os.environ.get("P4_SETTLE_S", "3"))
    work = c.make_workdir("p4")

    memcg = c.make_memcg(os.path.basename(work))
    srv = c.Server(work, {"MaxConcurrentJobs": str(n)}, memcg=memcg).start()
    db = srv.db()
    time.sleep(1)
    rss_idle = c.rss_kib(srv.pid)
    raw0, mem0 = c.available_settled()
    cg0 = c.memcg_usage_kib(memcg)
    parts0 = memcg_parts_kib(memcg) if memcg else {}
    c.log(f"berth: starting {n} sleep jobs (MemAvailable {mem0 // 1024} MiB)")
    cli = srv.http()
    t0 = time.monotonic()
    for _ in range(n):
        srv.submit(cli, JOB)
    cli.close()
    t_running, counts = srv.wait_states(db, "Running", n, 1200, poll=0.2)
    c.log(f"berth: {n} Running after {t_running:.1f}s")
    time.sleep(settle)
    raw1, mem1 = c.available_settled()
    rss_full = c.rss_kib(srv.pid)
    monitors = [p for p in c.pids_mentioning(os.path.join(srv.data, "jobs"))
                if "shim" in (c.proc_cmdline(p) or [])]
    mon_pss = sum(c.pss_kib(p) for p in monitors)
    mon_rss = sum(c.rss_kib(p) for p in monitors)
    mon_pte = sum(status_kib(p, "VmPTE") for p in monitors)
    mon_own_ns = own_mount_namespaces(monitors)
    fds = len(os.listdir(f"/proc/{srv.pid}/fd"))
    threads = len(os.listdir(f"/proc/{srv.pid}/task"))
    containers = container_pids(srv.data)
    cont_pss = sum(c.pss_kib(p) for p in containers)
    cg_kib = cgroup_memory_kib([f"berth-{j}" for j in srv.job_ids()])
    cg_full = c.memcg_usage_kib(memcg) if memcg else None
    berth_charged = (cg_full - cg0 + cg_kib) / n if memcg else None
    # The same, split (anon / kernel / file cache / shmem): the daemon's cgroup's growth plus
    # every job's container cgroup.
    job_parts = add_parts(*[memcg_parts_kib(f"/sys/fs/cgroup/memory/berth-{j}")
                            for j in srv.job_ids()]) if memcg else {}
    daemon_parts = add_parts(memcg_parts_kib(memcg), parts0, sign=-1) if memcg else {}
    berth_parts = {k: v / n for k, v in add_parts(daemon_parts, job_parts).items()}
    db.close()
    c.log("berth: stopping the jobs")
    t_stop = time.monotonic()
    srv.cleanup()
    t_stop = time.monotonic() - t_stop
    time.sleep(settle)
    raw2, mem2 = c.available_settled()
    berth_per_job = ((mem0 + mem2) / 2 - mem1) / n

    c.log(f"podman: starting {m} sleeping containers (podman run -d)")
    pm = c.Podman(work)
    pm.load_image()
    time.sleep(1)
    praw0, pmem0 = c.available_settled()
    libpod = os.path.join(c.MEMCG_ROOT, "libpod_parent")
    pcg0 = c.memcg_usage_kib(libpod)
    # The podman CLI runs in a cgroup of its own too (what it leaves charged: storage, state).
    pm_memcg = c.make_memcg(os.path.basename(work) + "-podman")
    pmc0 = c.memcg_usage_kib(pm_memcg)
    pparts0 = add_parts(memcg_parts_kib(libpod), memcg_parts_kib(pm_memcg))

    def enter():
        with open(os.path.join(pm_memcg, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    tp = time.monotonic()
    for i in range(m):
        r = subprocess.run(pm.run_cmd("-d", "--name", f"berth-bench-p4-{i}", c.PODMAN_IMAGE, *SLEEP),
                           capture_output=True, text=True, timeout=120,
                           preexec_fn=enter if pm_memcg else None)
        if r.returncode != 0:
            raise RuntimeError(f"podman run -d: {r.stderr[-1000:]}")
    tp = time.monotonic() - tp
    time.sleep(settle)
    praw1, pmem1 = c.available_settled()
    podman_charged = ((c.memcg_usage_kib(libpod) - pcg0 + c.memcg_usage_kib(pm_memcg) - pmc0) / m
                      if os.path.isdir(libpod) else None)
    pparts1 = add_parts(memcg_parts_kib(libpod), memcg_parts_kib(pm_memcg))
    podman_parts = {k: v / m for k, v in add_parts(pparts1, pparts0, sign=-1).items()}
    conmons = [p for p in c.pids_mentioning(pm.base)
               if os.path.basename((c.proc_cmdline(p) or [""])[0]) == "conmon"]
    conmon_pss = sum(c.pss_kib(p) for p in conmons)
    pcont = children_of(conmons)
    pcont_pss = sum(c.pss_kib(p) for p in pcont)
    c.log("podman: removing the containers")
    pm.cleanup()
    time.sleep(settle)
    praw2, pmem2 = c.available_settled()
    podman_per = ((pmem0 + pmem2) / 2 - pmem1) / m

    ratio = berth_per_job / podman_per if podman_per > 0 else None
    # What other work still moves (page cache, kernel): the before/after-cleanup difference,
    # per unit, against the figure. Said in the row when it exceeds a quarter of either figure.
    drift_b = abs(mem0 - mem2) / n
    drift_p = abs(pmem0 - pmem2) / m
    noisy = (berth_per_job <= 0 or podman_per <= 0 or drift_b > 0.25 * berth_per_job
             or drift_p > 0.25 * podman_per)
    drift = max(drift_b / max(berth_per_job, 1), drift_p / max(podman_per, 1))
    rows = [
        c.row(f"P4 host memory per running job ({n} jobs vs {m} podman)", berth_per_job,
              podman_per, "≤ 0.5× podman",
              None if (ratio is None or berth_per_job <= 0) else ratio <= 0.5, unit="KiB",
              ratio=ratio, baseline_name="podman run -d, per container",
              note=(f"NOISY: before/after drift {drift_b:,.0f} KiB per job, {drift_p:,.0f} KiB "
                    "per podman container" if noisy else "")),
        c.row("P4 memory charged per job (memory cgroups, cross-check)", berth_charged,
              podman_charged, "(info)", None, unit="KiB",
              baseline_name="podman: CLI cgroup + libpod_parent"),
        # Without the file page cache: reclaimable (MemAvailable counts it as available), and
        # charged to whoever read a file first: the fresh copy of berth-shim the run makes is
        # berth's, the conmon and runc binaries podman runs are usually cached by earlier runs.
        c.row("P4 memory charged per job, without file page cache (cross-check)",
              (berth_parts["usage"] - berth_parts["file"]) if berth_parts else None,
              (podman_parts["usage"] - podman_parts["file"]) if podman_charged else None,
              "(info)", None, unit="KiB", baseline_name="podman, the same way"),
        c.row(f"P4 daemon RSS with {n} running", rss_full / 1024, None, "≤ 100 MiB",
              rss_full / 1024 <= 100, unit="MiB"),
    ]
    details = {
        "jobs": n, "podman_containers": m,
        "berth_mem_available_before_kib": mem0, "berth_mem_available_after_kib": mem1,
        "berth_mem_available_after_cleanup_kib": mem2,
        "berth_raw_drop_per_job_kib": (raw0 - raw1) / n,
        "berth_raw_memavailable_kib": [raw0, raw1, raw2],
        "berth_drift_kib_per_job": drift_b,
        "berth_charged_kib_per_job": berth_charged,
        "berth_charged_parts_kib_per_job": berth_parts,
        "berth_container_cgroup_parts_kib_per_job": {k: v / n for k, v in job_parts.items()},
        "podman_charged_parts_kib_per_container": podman_parts,
        "berth_memcg_daemon_and_monitors_kib": cg_full,
        "berth_container_cgroups_kib_total": cg_kib,
        "memavailable_drift_fraction": drift,
        "container_pss_kib_each": cont_pss / max(1, len(containers)),
        "container_cgroup_memory_kib_each": cg_kib / max(1, len(containers)),
        "berth_seconds_to_all_running": t_running, "berth_seconds_to_stop_all": t_stop,
        "daemon_rss_idle_kib": rss_idle, "daemon_rss_full_kib": rss_full,
        "daemon_fds": fds, "daemon_threads": threads,
        "monitors": len(monitors), "monitor_pss_kib_total": mon_pss,
        "monitor_pss_kib_each": mon_pss / max(1, len(monitors)),
        "monitor_rss_kib_each": mon_rss / max(1, len(monitors)),
        # Page tables (kernel memory, charged to the daemon's cgroup) and monitors still in a
        # mount namespace of their own (0 since they leave it once the container runs).
        "monitor_page_tables_kib_each": mon_pte / max(1, len(monitors)),
        "monitors_in_own_mount_namespace": mon_own_ns,
        "podman_mem_available_before_kib": pmem0, "podman_mem_available_after_kib": pmem1,
        "podman_mem_available_after_cleanup_kib": pmem2,
        "podman_raw_drop_per_container_kib": (praw0 - praw1) / m,
        "podman_raw_memavailable_kib": [praw0, praw1, praw2],
        "podman_drift_kib_per_container": drift_p,
        "podman_charged_kib_per_container": podman_charged,
        "podman_container_pss_kib_each": pcont_pss / max(1, len(pcont)),
        "podman_seconds_to_start_all": tp,
        "conmon_pss_kib_each": conmon_pss / max(1, len(conmons)),
    }
    c.write_result("P4", rows, details)


if __name__ == "__main__":
    main()
