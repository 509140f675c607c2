"""Shared helpers for the berth benchmarks (python3 stdlib only).

Every scenario script (bench/p*_*.py) imports this module. It knows how to start a berth server
on a free loopback port with its own data dir, talk HTTP/1.1 keep-alive to it, read its SQLite
database read-only, run wrk, hide the host's cgroup2 mount for crun (hybrid hosts), run podman
in a private storage root, and clean up everything a scenario started: the daemon, the per-job
monitors (`berth shim`), containers, cgroups, mounts and the temp dirs.
"""

import atexit
import base64
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
BERTH = os.environ.get("BERTH_BIN", os.path.join(ROOT, "build", "berth"))
IMAGES_DIR = os.environ.get("BERTH_IMAGES", os.path.join(ROOT, "build", "images"))
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0", "false")
CGROUP2_HYBRID = "/sys/fs/cgroup/unified"
PODMAN_IMAGE = "localhost/busybox:latest"

_scenario = "bench"
_cleanups = []  # LIFO


def set_scenario(name):
    global _scenario
    _scenario = name


def log(msg):
    print(f"[{_scenario}] {msg}", file=sys.stderr, flush=True)


def env_int(name, full, quick):
    v = os.environ.get(name)
    if v:
        return int(v)
    return quick if QUICK else full


# ---------------------------------------------------------------------------------------------
# Cleanup: registered callbacks run at exit, on SIGINT/SIGTERM too, in reverse order.


def on_cleanup(fn):
    _cleanups.append(fn)
    return fn


def _run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep cleaning up whatever happens
            log(f"cleanup: {e!r}")


atexit.register(_run_cleanups)


def _on_signal(sig, _frame):
    log(f"signal {sig}: cleaning up")
    _run_cleanups()
    os._exit(128 + sig)


signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGTERM, _on_signal)


def make_workdir(tag):
    d = tempfile.mkdtemp(prefix=f"berth-bench-{tag}-", dir=os.environ.get("BENCH_TMP", "/tmp"))
    on_cleanup(lambda: remove_tree(d))
    return d


def mounts_under(path):
    """Mount points (host namespace) at or below path, deepest first."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path.rstrip("/") + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def remove_tree(path):
    if not os.path.exists(path):
        return
    for mp in mounts_under(path):
        subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Processes


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def pids_mentioning(text):
    """Pids whose command line mentions text (our unique temp dir): our daemons and monitors."""
    me = os.getpid()
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        args = proc_cmdline(int(name))
        if args and any(text in a for a in args):
            out.append(int(name))
    return out


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


def kill_quiet(pid, sig):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def meminfo_kib(field="MemAvailable"):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def mem_available_settled(samples=5, gap=0.2):
    vals = []
    for _ in range(samples):
        vals.append(meminfo_kib())
        time.sleep(gap)
    vals.sort()
    return vals[len(vals) // 2]


def foreign_anon_kib(markers=("berth-", "libpod")):
    """Anonymous memory (RssAnon) of every process outside the benchmark's cgroups: the
    memory cgroups of berth's daemon, monitors and containers and podman's all have one of
    `markers` in their path. Lets P4 take other work on a shared machine out of MemAvailable."""
    me = os.getpid()
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/cgroup") as f:
                cg = f.read()
            if any(m in cg for m in markers):
                continue
            with open(f"/proc/{name}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def available_settled(samples=5, gap=0.2):
    """(MemAvailable, MemAvailable + other processes' RssAnon), medians of a few samples."""
    raw, adj = [], []
    for _ in range(samples):
        a = meminfo_kib()
        other = foreign_anon_kib()
        b = meminfo_kib()
        raw.append((a + b) // 2)
        adj.append((a + b) // 2 + other)
        time.sleep(gap)
    raw.sort()
    adj.sort()
    return raw[len(raw) // 2], adj[len(adj) // 2]


def count_pidfds(pid, at_least=0):
    """pidfds the process holds; -1 when it is gone. With `at_least`, a process holding fewer
    fds than that in all is answered without reading each link (0): the poll stays cheap, so the
    measurement does not take the CPU the daemon needs."""
    n = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
        if len(fds) < at_least:
            return 0
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[pidfd]":
                    n += 1
            except OSError:
                pass
    except OSError:
        return -1
    return n


# ---------------------------------------------------------------------------------------------
# cgroup2 on hybrid hosts: crun refuses to run while /sys/fs/cgroup/unified is mounted, so
# baselines that call crun directly run inside a private mount namespace without it (as berth's
# monitor does).


def hybrid_cgroups():
    return os.path.ismount(CGROUP2_HYBRID)


def private_ns_prefix():
    """argv prefix: run the command in a private mount namespace, cgroup2 hidden if hybrid."""
    script = 'if mountpoint -q /sys/fs/cgroup/unified; then umount -l /sys/fs/cgroup/unified; fi; exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"]


def crun_cleanup(state_root):
    """Deletes every container crun still knows under state_root."""
    if not os.path.isdir(state_root):
        return
    cmd = private_ns_prefix() + [
        "sh", "-c",
        'for id in $(crun --root "$1" list -q 2>/dev/null); do crun --root "$1" delete -f "$id"; done',
        "sh", state_root,
    ]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)


def remove_cgroups(names):
    """rmdir /sys/fs/cgroup/<controller>/<name> left by killed containers (empty ones only)."""
    base = "/sys/fs/cgroup"
    if not os.path.isdir(base) or not names:
        return
    for ctrl in os.listdir(base):
        for name in names:
            p = os.path.join(base, ctrl, name.lstrip("/"))
            if os.path.isdir(p):
                try:
                    os.rmdir(p)
                except OSError:
                    pass


MEMCG_ROOT = "/sys/fs/cgroup/memory"


def make_memcg(name):
    """A v1 memory cgroup for the benchmark's own processes (None on other layouts)."""
    if not os.path.isdir(MEMCG_ROOT):
        return None
    path = os.path.join(MEMCG_ROOT, name)
    os.makedirs(path, exist_ok=True)

    def rm():
        # Processes still inside (none, normally) are moved to the root first.
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                for pid in f.read().split():
                    with open(os.path.join(MEMCG_ROOT, "cgroup.procs"), "w") as g:
                        g.write(pid)
        except OSError:
            pass
        try:
            os.rmdir(path)
        except OSError:
            pass

    on_cleanup(rm)
    return path


def memcg_usage_kib(path):
    try:
        with open(os.path.join(path, "memory.usage_in_bytes")) as f:
            return int(f.read()) // 1024
    except (OSError, ValueError, TypeError):
        return 0


# ---------------------------------------------------------------------------------------------
# HTTP


class Http:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host, port, timeout=60):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None, retry=True):
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, r, data
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt or not retry:
                    raise
        raise RuntimeError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---------------------------------------------------------------------------------------------
# The berth server under test


class Server:
    """A `berth serve` on 127.0.0.1:0 with its own data dir, killed and cleaned up at exit."""

    def __init__(self, workdir, values, name="berth", memcg=None):
        self.workdir = workdir
        self.memcg = memcg  # a v1 memory cgroup to start the daemon in (its monitors follow)
        self.name = name
        self.data = os.path.join(workdir, "data")
        self.settings_file = os.path.join(workdir, f"{name}.settings.json")
        self.values = {k: str(v) for k, v in values.items()}
        with open(self.settings_file, "w") as f:
            json.dump({"IsEncrypted": False, "Values": self.values}, f)
        self.proc = None
        self.url = self.host = self.key = None
        self.port = 0
        self.starts = 0
        on_cleanup(self.cleanup)

    # -- life cycle
    def spawn(self):
        """Starts the daemon; returns at once (see wait_ready)."""
        self.starts += 1
        self.out_path = os.path.join(self.workdir, f"{self.name}.{self.starts}.out")
        self.err_path = os.path.join(self.workdir, f"{self.name}.{self.starts}.err")
        out = open(self.out_path, "w")
        err = open(self.err_path, "w")
        env = dict(os.environ)
        # Settings come from the file only.
        for k in list(env):
            if k in self.values:
                del env[k]
        self.proc = subprocess.Popen(
            [BERTH, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data,
             "--settings", self.settings_file],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            preexec_fn=self._enter_memcg if self.memcg else None)
        out.close()
        err.close()
        return self.proc

    def _enter_memcg(self):
        with open(os.path.join(self.memcg, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    def poll_ready(self):
        """True once the daemon logged its URL and where its keys are (parsed into self).

        The daemon logs to stderr and never prints a key: the key is read from its file (or is
        the pinned FunctionKey setting)."""
        try:
            with open(self.err_path) as f:
                text = f.read()
        except OSError:
            return False
        m = re.search(r"serving on http://([0-9.]+):(\d+)", text)
        if not (m and "master key in " in text):
            return False
        key = self.values.get("FunctionKey")
        if not key:
            with open(os.path.join(self.data, "function-key")) as f:
                key = f.read().strip()
        self.host, self.port, self.key = m.group(1), int(m.group(2)), key
        self.url = f"http://{self.host}:{self.port}"
        return True

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.poll_ready():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"berth exited with {self.proc.returncode}: {self.stderr_tail()}")
            time.sleep(0.005)
        raise RuntimeError(f"berth did not start in {timeout}s: {self.stderr_tail()}")

    def start(self):
        self.spawn()
        self.wait_ready()
        log(f"{self.name} serving on {self.url} (data {self.data})")
        return self

    def stderr_tail(self, n=2000):
        try:
            with open(self.err_path) as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()

    @property
    def pid(self):
        return self.proc.pid

    # -- clients
    def http(self):
        return Http(self.host, self.port)

    def submit(self, client, spec):
        body = json.dumps(spec).encode()
        status, _, data = client.request(
            "POST", "/api/jobs", body=body,
            headers={"x-functions-key": self.key, "Content-Type": "application/json"}, retry=False)
        if status != 202:
            raise RuntimeError(f"submit answered {status}: {data[:300]!r}")
        return json.loads(data)["id"]

    def runtime_config(self, command, runtime="crun"):
        """The OCI config this daemon hands `runtime` for a busybox job, with its args set to
        `command`, and that job's image layers (its overlay's lowerdir). Read from the runtime's
        own copy while a job runs (the monitor removes the bundle's once the container runs);
        that job is then canceled."""
        cli = self.http()
        jid = self.submit(cli, {"image": "busybox",
                                "command": ["/bin/sh", "-c", "echo up; exec sleep 60"]})
        deadline = time.monotonic() + 60
        while True:
            status, _, body = cli.request("GET", f"/api/jobs/{jid}/logs")
            if status == 200 and body:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {jid}: no log line after 60s")
            time.sleep(0.05)
        state = os.path.join(self.data, "runtime", runtime, jid)
        with open(os.path.join(state, "config.json")) as f:
            cfg = json.load(f)
        # The monitor drops crun's precompiled seccomp program from this copy once the job runs
        # (crun keeps it in seccomp.bpf): the baseline gets it back, as crun was given it.
        bpf = os.path.join(state, "seccomp.bpf")
        if os.path.exists(bpf) and "linux" in cfg and "seccomp" not in cfg["linux"]:
            with open(bpf, "rb") as f:
                cfg.setdefault("annotations", {})["run.oci.seccomp_bpf_data"] = (
                    base64.b64encode(f.read()).decode())
        with open(os.path.join(self.data, "jobs", jid, "lower")) as f:
            lower = f.read().strip()
        cli.request("DELETE", f"/api/jobs/{jid}", headers={"x-functions-key": self.key})
        while cli.request("GET", f"/api/jobs/{jid}")[0] == 202:
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {jid}: not canceled after 60s")
            time.sleep(0.05)
        cli.close()
        cfg["process"]["args"] = list(command)
        return cfg, lower

    def db(self):
        conn = sqlite3.connect(f"file:{os.path.join(self.data, 'berth.db')}?mode=ro", uri=True,
                               timeout=30, check_same_thread=False)
        return conn

    def state_counts(self, conn):
        return dict(conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())

    def wait_states(self, conn, want_state, n, timeout, bad=("Failed", "Canceled"), poll=0.02):
        """Waits until n jobs are in want_state; returns (seconds, counts)."""
        t0 = time.monotonic()
        last_log = t0
        counts = {}
        while time.monotonic() - t0 < timeout:
            counts = self.state_counts(conn)
            if counts.get(want_state, 0) >= n:
                return time.monotonic() - t0, counts
            nbad = sum(counts.get(b, 0) for b in bad)
            if nbad:
                raise RuntimeError(f"{nbad} jobs ended badly: {counts}; {self.failure_sample(conn)}")
            if time.monotonic() - last_log > 10:
                log(f"waiting for {n} {want_state}: {counts}")
                last_log = time.monotonic()
            time.sleep(poll)
        raise RuntimeError(f"timed out after {timeout}s waiting for {n} {want_state}: {counts}")

    def failure_sample(self, conn):
        rows = conn.execute(
            "SELECT id, state, reason FROM jobs WHERE state IN ('Failed','Canceled') LIMIT 3").fetchall()
        return rows

    # -- cleanup
    def job_ids(self):
        """Ids of the jobs with a directory here (not the hidden spares made ahead)."""
        d = os.path.join(self.data, "jobs")
        return [n for n in os.listdir(d) if not n.startswith(".")] if os.path.isdir(d) else []

    def cleanup(self):
        """Kills the daemon, ends every job's monitor and container, removes cgroups and mounts."""
        self.stop()
        stop_jobs(self.data)


def container_pid(data, jid):
    """The pid of job `jid`'s container, from its monitor's record; 0 when there is none."""
    try:
        with open(os.path.join(data, "jobs", jid, "monitor.json")) as f:
            return int(json.load(f).get("containerPid") or 0)
    except (OSError, ValueError):
        return 0


def stop_jobs(data, timeout=None):
    """Ends every monitor (and so container) of the data dir at `data`; cleans what they leave."""
    jobs_dir = os.path.join(data, "jobs")
    monitors = [p for p in pids_mentioning(jobs_dir)]
    if timeout is None:
        timeout = min(180, 20 + 0.15 * len(monitors))
    if monitors:
        log(f"stopping {len(monitors)} job monitors")
        for p in monitors:
            args = proc_cmdline(p) or []
            if "shim" in args:
                kill_quiet(p, signal.SIGUSR1)  # the monitor kills its container, then exits
            else:
                kill_quiet(p, signal.SIGTERM)
        left = wait_gone(monitors, timeout)
        if left:
            log(f"{len(left)} monitors still running after {timeout}s: SIGKILL")
            for p in left:
                kill_quiet(p, signal.SIGKILL)
            wait_gone(left, 10)
    ids = os.listdir(jobs_dir) if os.path.isdir(jobs_dir) else []
    # Containers whose monitor died without killing them: their pid, checked against the cgroup.
    for jid in ids:
        cpid = container_pid(data, jid)
        if cpid > 0 and alive(cpid):
            try:
                with open(f"/proc/{cpid}/cgroup") as f:
                    mine = jid in f.read()
            except OSError:
                mine = False
            if mine:
                kill_quiet(cpid, signal.SIGKILL)
    runtime_dir = os.path.join(data, "runtime")
    if os.path.isdir(runtime_dir):
        for rt in os.listdir(runtime_dir):
            if rt == "crun":
                crun_cleanup(os.path.join(runtime_dir, rt))
    remove_cgroups([f"berth-{jid}" for jid in ids])


# ---------------------------------------------------------------------------------------------
# wrk

WRK_LUA = os.path.join(BENCH_DIR, "wrk_report.lua")


def run_wrk(url, path, seconds, connections=64, threads=2, method="GET", body=None, headers=None):
    """Runs wrk; returns its summary (requests/s, non-2xx, latency percentiles in ms)."""
    env = dict(os.environ)
    env["WRK_METHOD"] = method
    env["WRK_BODY"] = body or ""
    env["WRK_HEADERS"] = json.dumps(headers or {})
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
           "--timeout", "10s", "-s", WRK_LUA, url + path]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
    m = re.search(r"^WRKJSON (.*)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({r.returncode}): {r.stdout[-1000:]} {r.stderr[-1000:]}")
    s = json.loads(m.group(1))
    secs = s["duration_us"] / 1e6
    errors = s["errors_connect"] + s["errors_read"] + s["errors_write"] + s["errors_timeout"]
    return {
        "requests": s["requests"],
        "seconds": secs,
        "rps": s["requests"] / secs,
        "non2xx": s["errors_status"],
        "socket_errors": errors,
        "ok_rps": (s["requests"] - s["errors_status"]) / secs,
        "p50_ms": s["lat_p50_us"] / 1000,
        "p90_ms": s["lat_p90_us"] / 1000,
        "p99_ms": s["lat_p99_us"] / 1000,
        "max_ms": s["lat_max_us"] / 1000,
        "mean_ms": s["lat_mean_us"] / 1000,
        "connections": connections,
        "threads": threads,
    }


# ---------------------------------------------------------------------------------------------
# podman, in a private storage root so the host's containers storage is untouched


class Podman:
    def __init__(self, workdir):
        self.base = os.path.join(workdir, "podman")
        for d in ("root", "runroot", "tmp"):
            os.makedirs(os.path.join(self.base, d), exist_ok=True)
        self.globals = [
            "podman", "--root", os.path.join(self.base, "root"),
            "--runroot", os.path.join(self.base, "runroot"),
            "--tmpdir", os.path.join(self.base, "tmp"),
            "--storage-driver", "overlay",
            "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
        ]
        self.run_flags = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                          "--pull", "never", "--network", "none"]
        on_cleanup(self.cleanup)

    def cmd(self, *args):
        return self.globals + list(args)

    def run_cmd(self, *args):
        """argv of `podman run <flags> <args>`."""
        return self.globals + ["run"] + self.run_flags + list(args)

    def load_image(self):
        layout = os.path.join(IMAGES_DIR, "busybox")
        # The layout's index names the manifest "latest"; the image is then tagged with the
        # fully qualified local name (a short name would make podman look for a registry).
        r = subprocess.run(self.cmd("pull", "-q", f"oci:{layout}:latest"),
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0 or not r.stdout.strip():
            raise RuntimeError(f"podman pull oci:{layout}:latest: {r.stderr[-1000:]}")
        image_id = r.stdout.strip().splitlines()[-1]
        r = subprocess.run(self.cmd("tag", image_id, PODMAN_IMAGE), capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"podman tag {image_id} {PODMAN_IMAGE}: {r.stderr[-1000:]}")

    def cleanup(self):
        if not os.path.isdir(self.base):
            return
        subprocess.run(self.cmd("rm", "-a", "-f", "-t", "0"), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=600)
        # conmon processes left by a crash, identified by our storage path.
        pids = pids_mentioning(self.base)
        for p in pids:
            kill_quiet(p, signal.SIGKILL)
        wait_gone(pids, 10)
        remove_tree(self.base)
        # The parent cgroups podman's cgroupfs manager made (removed only when empty).
        for ctrl in os.listdir("/sys/fs/cgroup"):
            for sub in ("libpod_parent/conmon", "libpod_parent"):
                p = os.path.join("/sys/fs/cgroup", ctrl, sub)
                if os.path.isdir(p):
                    try:
                        os.rmdir(p)
                    except OSError:
                        pass


# ---------------------------------------------------------------------------------------------
# Statistics and results


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def machine():
    def first(path, prefix):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(prefix):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return ""

    return {
        "nproc": os.cpu_count(),
        "cpu": first("/proc/cpuinfo", "model name"),
        "mem_total_mib": meminfo_kib("MemTotal") // 1024,
        "kernel": os.uname().release,
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "cgroups": "hybrid (v1 + cgroup2 at /sys/fs/cgroup/unified)" if hybrid_cgroups()
        else ("v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1"),
    }


def row(figure, berth, baseline, target, met, unit="", ratio=None, note="", baseline_name=""):
    if ratio is None and berth is not None and baseline:
        ratio = berth / baseline
    return {
        "figure": figure, "berth": berth, "baseline": baseline, "baseline_name": baseline_name,
        "unit": unit, "ratio": ratio, "target": target, "met": met, "note": note,
    }


def write_result(scenario, rows, details):
    os.makedirs(RESULTS_DIR, exist_ok=True)
    doc = {
        "scenario": scenario,
        "quick": QUICK,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "rows": rows,
        "details": details,
    }
    path = os.path.join(RESULTS_DIR, f"{scenario}.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    for r in rows:
        log(f"{r['figure']}: berth {fmt(r['berth'])} {r['unit']} | baseline {fmt(r['baseline'])}"
            f" | ratio {fmt(r['ratio'])} | target {r['target']} | met {r['met']}")
    return path


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def require(binary, package):
    if shutil.which(binary) is None:
        raise SystemExit(f"{binary} is missing: apt-get install {package} (bench/run.sh does)")


def check_berth():
    if not os.access(BERTH, os.X_OK):
        raise SystemExit(f"{BERTH} is missing: run `make build` first")
    if os.geteuid() != 0:
        raise SystemExit("the benchmarks start containers: run them as root")
