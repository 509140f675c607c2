#!/usr/bin/env python3
"""Collects bench/results/P*.json into one table: prints it, writes results/latest.md and
results/latest.json. Usage: report.py [P1 P2 ...] (default: every result file present);
failed scenarios are passed as NAME=FAILED:reason."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402


def cell(v, unit):
    if v is None:
        return "—"
    s = c.fmt(v)
    return f"{s} {unit}".strip()


def met(m):
    return "—" if m is None else ("yes" if m else "**no**")


def from_pull_line(path):
    """Turns bench/pull.sh's JSON line into results/PULL.json (the scenarios' schema)."""
    line = None
    with open(path) as f:
        for text in f:
            text = text.strip()
            if text.startswith("{") and '"berth_s"' in text:
                line = text
    if line is None:
        raise SystemExit(f"{path}: no JSON line from bench/pull.sh")
    d = json.loads(line)
    berth, podman = d.get("berth_s"), d.get("podman_s")
    rc = os.environ.get("PULL_EXIT", "0")
    rows = [c.row("PULL image pull from a loopback registry (fresh storage)", berth, podman,
                  "(info)", None, unit="s", baseline_name="podman pull",
                  note="" if rc == "0" else f"pull.sh exited {rc} after printing its result")]
    c.write_result("PULL", rows, d)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--from-pull-line":
        c.set_scenario("PULL")
        return from_pull_line(sys.argv[2])
    wanted, failed = [], {}
    for a in sys.argv[1:]:
        if "=FAILED" in a:
            name, why = a.split("=FAILED", 1)
            failed[name] = why.lstrip(":")
            wanted.append(name)
        else:
            wanted.append(a)
    if not wanted:
        wanted = sorted(f[:-5] for f in os.listdir(c.RESULTS_DIR)
                        if f.startswith("P") and f.endswith(".json"))
    docs, rows = {}, []
    for name in wanted:
        if name in failed:
            why = failed[name]
            err = os.path.join(c.RESULTS_DIR, f"{name}.error")
            if os.path.exists(err):
                with open(err) as f:
                    lines = [x for x in f.read().strip().splitlines() if x.strip()]
                if lines:
                    why += ": " + lines[-1][:200].replace("|", "/")
            rows.append({"scenario": name, "figure": f"{name}: scenario failed ({why})",
                         "berth": None, "baseline": None, "unit": "", "ratio": None,
                         "target": "", "met": False, "note": ""})
            continue
        path = os.path.join(c.RESULTS_DIR, f"{name}.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            doc = json.load(f)
        docs[name] = doc
        for r in doc["rows"]:
            rows.append(dict(r, scenario=name))

    m = c.machine()
    quick = any(d.get("quick") for d in docs.values())
    lines = [
        "| figure | berth | baseline | ratio | target | met? |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        base = cell(r["baseline"], r["unit"])
        if r.get("baseline_name") and r["baseline"] is not None:
            base += f" ({r['baseline_name']})"
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}×"
        fig = r["figure"] + (f" — {r['note']}" if r.get("note") else "")
        lines.append(f"| {fig} | {cell(r['berth'], r['unit'])} | {base} | {ratio} | "
                     f"{r['target']} | {met(r['met'])} |")
    header = (f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_total_mib']:,} MiB RAM, "
              f"Linux {m['kernel']}, cgroups {m['cgroups']}; load average at report "
              f"{' '.join(m['loadavg'])}. "
              f"{'QUICK mode (BENCH_QUICK=1: scaled-down N). ' if quick else ''}"
              f"Run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.")
    table = "\n".join(lines)
    print()
    print(table)
    print()
    print(header)
    os.makedirs(c.RESULTS_DIR, exist_ok=True)
    with open(os.path.join(c.RESULTS_DIR, "latest.md"), "w") as f:
        f.write(table + "\n\n" + header + "\n")
    with open(os.path.join(c.RESULTS_DIR, "latest.json"), "w") as f:
        json.dump({"machine": m, "quick": quick, "rows": rows, "failed": failed,
                   "scenarios": docs}, f, indent=2)
    missed = [r for r in rows if r["met"] is False]
    print(f"\n{len([r for r in rows if r['met']])} targets met, {len(missed)} missed; "
          f"details in bench/results/latest.json")


if __name__ == "__main__":
    main()
