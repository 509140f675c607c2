#!/usr/bin/env bash
# Builds the libFuzzer targets (src/*/*_fuzz.cc) with clang, ASan and UBSan in their own build
# dir, and runs each for a share of SECONDS (default 60) from a seed corpus. Any crash, leak,
# sanitizer report, timeout or out-of-memory fails the script (libFuzzer exits non-zero) and
# leaves the reproducer in the build dir's artifacts/ folder.
#
#   scripts/run-fuzzers.sh [SECONDS]         env: BERTH_FUZZ_BUILD (default build-fuzz),
#                                                 CXX_FUZZ (default clang++-14)
set -euo pipefail
cd "$(dirname "$0")/.."

total=${1:-60}
build=${BERTH_FUZZ_BUILD:-build-fuzz}
cxx=${CXX_FUZZ:-clang++-14}
command -v "$cxx" >/dev/null || { echo "run-fuzzers: $cxx not found (apt-get install clang-14)" >&2; exit 2; }

mapfile -t targets < <(ls src/*/*_fuzz.cc | xargs -n1 basename | sed 's/\.cc$//')
((${#targets[@]} > 0)) || { echo "run-fuzzers: no *_fuzz.cc targets" >&2; exit 2; }
per=$((total / ${#targets[@]}))
((per > 0)) || per=1

if [[ ! -f $build/build.ninja ]]; then
  cmake -S . -B "$build" -G Ninja -DBERTH_FUZZ=ON -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j "${JOBS:-2}" --target "${targets[@]}"

# Seeds: a few valid and nearly valid inputs per target (the corpus then grows across runs).
seed() {  # seed TARGET NAME CONTENT
  mkdir -p "$build/corpus/$1"
  printf '%b' "$3" >"$build/corpus/$1/seed-$2"
}
seed job_spec_fuzz min '{"image":"busybox"}'
seed job_spec_fuzz full '{"image":"ghcr.io/org/app:1","command":["/bin/sh","-c","echo hi"],"environmentVariables":{"A":"1"},"secureEnvironmentVariables":{"S":"x"},"cpu":0.5,"memoryInGB":1.5,"restartPolicy":"OnFailure","timeoutSeconds":60}'
seed job_spec_fuzz string-command '{"image":"busybox","command":"exit 3"}'
seed job_spec_fuzz huge '{"image":"busybox","cpu":1e999,"memoryInGB":-1,"timeoutSeconds":1180591620717411303424}'
seed job_spec_fuzz nested '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]'
M=master-0123456789abcdef
F=function-0123456789abcdef
ID=0f8fad5b-d9cb-469f-a165-70867728950e
seed http_request_fuzz submit "POST /api/jobs?code=$F HTTP/1.1\r\nHost: x\r\nContent-Length: 19\r\n\r\n{\"image\":\"busybox\"}"
seed http_request_fuzz submit-header "POST /api/jobs HTTP/1.1\r\nx-functions-key: ci-key-0123456789abcdef\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"im\r\n0\r\n\r\n"
seed http_request_fuzz status "GET /api/jobs/$ID?tail=2 HTTP/1.1\r\nHost: x\r\n\r\n"
seed http_request_fuzz logs "GET /api/jobs/$ID/logs HTTP/1.0\r\n\r\n"
seed http_request_fuzz list "GET /api/jobs?limit=5&state=Running&code=$F HTTP/1.1\r\n\r\n"
seed http_request_fuzz cancel "DELETE /api/jobs/$ID?code=$F HTTP/1.1\r\n\r\n"
seed http_request_fuzz keys "GET /admin/functions/jobs/keys?code=$M HTTP/1.1\r\n\r\n"
seed http_request_fuzz key-put "PUT /admin/host/keys/k1 HTTP/1.1\r\nx-functions-key: $M\r\nContent-Length: 30\r\n\r\n{\"value\":\"abcdefghijklmnopq\"}  "
seed http_request_fuzz key-post "POST /admin/host/keys/_master?code=$M HTTP/1.1\r\n\r\n"
seed http_request_fuzz key-delete "DELETE /admin/functions/jobs/keys/ci?code=$M HTTP/1.1\r\n\r\n"

mkdir -p "$build/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for t in "${targets[@]}"; do
  echo "run-fuzzers: $t for ${per}s" >&2
  if ! "$build/$t" -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "$build/corpus/$t" \
    >"$build/$t.log" 2>&1; then
    tail -n 60 "$build/$t.log" >&2
    echo "run-fuzzers: $t FAILED (reproducer in $build/artifacts/)" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^Done' "$build/$t.log" >&2 || true
done
echo "run-fuzzers: all ${#targets[@]} targets ran ${per}s each without a finding" >&2
