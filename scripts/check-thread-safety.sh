#!/usr/bin/env bash
# Compiles every source of the build (its compile_commands.json) with clang's thread-safety
# analysis as errors, syntax only: members declared GUARDED_BY(mu) may be touched only with mu
# held (common/mutex.h, common/thread_annotations.h). GCC builds the real binaries; this is a
# check. Usage: check-thread-safety.sh BUILD_DIR [JOBS]
set -euo pipefail
build=${1:?usage: check-thread-safety.sh BUILD_DIR [JOBS]}
jobs=${2:-2}
cxx=${CXX_CHECK:-clang++-14}
command -v "$cxx" >/dev/null || { echo "check-thread-safety: $cxx not found (apt-get install clang-14)" >&2; exit 2; }
db=$build/compile_commands.json
[[ -f $db ]] || { echo "check-thread-safety: $db missing (configure the build first)" >&2; exit 2; }

# The check must be able to fail: a guarded member written without its mutex is an error.
src_dir=$(cd "$(dirname "$0")/../src" && pwd)
if printf '%s\n' '#include "common/mutex.h"' \
    'struct S { berth::Mutex mu; int n GUARDED_BY(mu) = 0; void Bad() { n = 1; } };' |
  "$cxx" -std=c++20 -fsyntax-only -Wno-everything -Wthread-safety -Werror=thread-safety \
    -I"$src_dir" -x c++ - 2>/dev/null; then
  echo "check-thread-safety: $cxx accepted an unguarded write: the analysis is not running" >&2
  exit 1
fi

# One line per production source under src/ (tests are left out: they rarely lock, and the
# check's time is better spent on the code that runs): "<dir>\t<flags>\t<file>", the GCC command's
# -D/-I/-isystem/-std flags kept, everything else (GCC-only options, -o, -c) dropped.
python3 - "$db" > "$build/thread-safety-units.txt" <<'PY'
import json, shlex, sys
for e in json.load(open(sys.argv[1])):
    f = e["file"]
    if not f.endswith(".cc") or "/src/" not in f or f.endswith(("_fuzz.cc", "_test.cc")):
        continue
    args = e.get("arguments") or shlex.split(e["command"])
    keep, i = [], 1
    while i < len(args):
        a = args[i]
        if a in ("-I", "-isystem", "-D", "-include"):
            keep += [a, args[i + 1]]; i += 2; continue
        if a.startswith(("-I", "-D", "-std=", "-isystem")):
            keep.append(a)
        i += 1
    print(e["directory"] + "\t" + shlex.join(keep) + "\t" + f)
PY

check_one() {
  IFS=$'\t' read -r dir flags file <<<"$1"
  cd "$dir"
  # shellcheck disable=SC2086
  eval "$CXX_CHECK_BIN -fsyntax-only -Wno-everything -Wthread-safety -Werror=thread-safety \
    $flags \"$file\"" 2>&1 || true
}
export -f check_one
export CXX_CHECK_BIN=$cxx
out=$(tr '\n' '\0' < "$build/thread-safety-units.txt" | xargs -0 -P "$jobs" -I{} bash -c 'check_one "$1"' _ {})
if grep -q "error:" <<<"$out"; then
  echo "$out" | grep -E "error:|note:" >&2
  echo "check-thread-safety: thread-safety analysis failed" >&2
  exit 1
fi
echo "check-thread-safety: ok ($(wc -l < "$build/thread-safety-units.txt") sources)"
