#!/usr/bin/env bash
# berth benchmarks: bench/run.sh [P1 P2 ...]   (default: every scenario; also `make bench`,
# `make bench SCENARIO=P2`). BENCH_QUICK=1 scales every N down for a quick run.
# Prints one table (figure | berth | baseline | ratio | target | met?) and writes
# bench/results/latest.md and bench/results/latest.json. Needs root (it runs containers).
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "bench: run as root (the scenarios start containers)" >&2
  exit 1
fi

# Tools, from Debian, only when missing.
declare -A tool_pkg=([wrk]=wrk [hyperfine]=hyperfine [podman]=podman [crun]=crun
                     [python3]=python3 [unshare]=util-linux [mountpoint]=util-linux)
# bench/pull.sh (the image-pull scenario) serves a local registry and computes with bc.
if [[ -f bench/pull.sh ]]; then tool_pkg+=([docker-registry]=docker-registry [bc]=bc); fi
missing=()
for t in "${!tool_pkg[@]}"; do
  command -v "$t" >/dev/null 2>&1 || missing+=("${tool_pkg[$t]}")
done
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "bench: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { echo "bench: apt-get install ${missing[*]} failed" >&2; exit 1; }
fi

BERTH_BIN=${BERTH_BIN:-build/berth}
if [[ ! -x $BERTH_BIN ]]; then
  make build || exit 1
fi
# Benchmark a snapshot: a rebuild of build/berth during the run must not mix two versions.
# The daemon runs the berth-shim beside its binary as each job's monitor, and a quiet job's
# monitor waits as the berth-shim-wait beside that: copy them too.
snap=$(mktemp -d /tmp/berth-bench-bin-XXXXXX)
trap 'rm -rf "$snap"' EXIT
cp "$BERTH_BIN" "$snap/berth" || exit 1
for helper in berth-shim berth-shim-wait; do
  if [[ -x $(dirname "$BERTH_BIN")/$helper ]]; then
    cp "$(dirname "$BERTH_BIN")/$helper" "$snap/$helper" || exit 1
  fi
done
echo "bench: benchmarking $(realpath "$BERTH_BIN") ($(stat -c %y "$BERTH_BIN" | cut -d. -f1)), copied to $snap" >&2
export BERTH_BIN=$snap/berth

declare -A script=([P1]=p1_submit.py [P2]=p2_start_latency.py [P3]=p3_throughput.py
                   [P4]=p4_density.py [P5]=p5_status.py [P6]=p6_recovery.py
                   [P7]=p7_postgres.py)
wanted=()
for a in "$@"; do
  for s in ${a//,/ }; do
    s=${s^^}
    if [[ $s == PULL ]]; then
      wanted+=(PULL)
      continue
    fi
    if [[ -z ${script[$s]:-} ]]; then
      echo "bench: unknown scenario '$s' (P1..P7, PULL)" >&2
      exit 2
    fi
    wanted+=("$s")
  done
done
((${#wanted[@]})) || wanted=(P1 P2 P3 P4 P5 P6 P7 PULL)

mkdir -p bench/results
# Each scenario is bounded; a stuck one is stopped (its own cleanup runs on SIGTERM).
limit=${BENCH_SCENARIO_TIMEOUT:-1500}
report_args=()
status=0
start=$(date +%s)
for s in "${wanted[@]}"; do
  if [[ $s == PULL ]]; then
    # bench/pull.sh belongs to the images work; run it when it exists. If it writes
    # bench/results/PULL.json in the scenarios' schema, its rows join the table.
    [[ -f bench/pull.sh ]] || continue
    echo "=== PULL (bench/pull.sh) ===" >&2
    rm -f bench/results/PULL.json bench/results/PULL.out
    # It runs with a private /tmp (a scratch dir bind-mounted in a private mount namespace), so
    # whatever it leaves there, and any mount it makes, goes away with the namespace and the
    # scratch dir, and it cannot collide with another run.
    scratch=$(mktemp -d /var/tmp/berth-bench-pull-scratch-XXXXXX)
    cp "$BERTH_BIN" "$scratch/berth"
    [[ -x $snap/berth-shim ]] && cp "$snap/berth-shim" "$scratch/berth-shim"
    # A checkout under /tmp stays visible: it is bound into the scratch dir first, at the same
    # path, so the private /tmp still holds it.
    timeout --kill-after=120 "$limit" unshare -m --propagation private \
      sh -c 'here=$PWD
        case "$here" in
          /tmp/*) mkdir -p "$1/${here#/tmp/}" && mount --bind "$here" "$1/${here#/tmp/}" || exit 1 ;;
        esac
        mount --rbind "$1" /tmp && cd "$here" && shift && exec "$@"' sh "$scratch" \
      env BERTH_BIN=/tmp/berth bash bench/pull.sh | tee bench/results/PULL.out
    rc=${PIPESTATUS[0]}
    rm -rf "$scratch"
    echo "=== PULL: exit $rc ===" >&2
    # pull.sh prints one JSON line {"name":"pull","berth_s","podman_s","ratio"}; unless it wrote
    # PULL.json itself, that line becomes a row of the table.
    if [[ ! -f bench/results/PULL.json ]] && grep -q '"berth_s"' bench/results/PULL.out; then
      # A result line counts even when pull.sh's own clean-up then exits non-zero (noted).
      PULL_EXIT=$rc python3 bench/report.py --from-pull-line bench/results/PULL.out && rc=0
    fi
    if ((rc != 0)); then
      report_args+=("PULL=FAILED:exit $rc")
      status=1
    elif [[ -f bench/results/PULL.json ]]; then
      report_args+=(PULL)
    fi
    continue
  fi
  echo "=== $s (${script[$s]}) ===" >&2
  rm -f "bench/results/$s.json" "bench/results/$s.error"
  t0=$(date +%s)
  timeout --kill-after=120 "$limit" python3 "bench/${script[$s]}" 2> >(tee "bench/results/$s.error" >&2)
  rc=$?
  wait  # for tee
  echo "=== $s: exit $rc after $(($(date +%s) - t0))s ===" >&2
  if ((rc != 0)) || [[ ! -f bench/results/$s.json ]]; then
    report_args+=("$s=FAILED:exit $rc")
    status=1
  else
    report_args+=("$s")
  fi
done
echo "bench: total $(($(date +%s) - start))s" >&2

# Nothing may be left behind.
leaks=$(grep -c 'berth-bench-' /proc/self/mountinfo || true)
shims=$(pgrep -fc ' shim --id .*berth-bench-' || true)
if ((leaks + shims)); then
  echo "bench: WARNING: left behind: $leaks mounts, $shims monitors (berth-bench-*)" >&2
  status=1
fi

python3 bench/report.py "${report_args[@]}"
exit $status
