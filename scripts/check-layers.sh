#!/usr/bin/env bash
# Fails when a layer under src/ includes a header of a layer it may not see. The order is
# common → job → store, runtime, images → dispatch → api, shim → daemon, cli (DESIGN.md):
# a layer sees itself and the layers listed for it below, never one above or beside it.
# Tests (*_test.cc, *_fuzz.cc) follow the rules of their layer, and may include tests/support. Usage: check-layers.sh [SRC_DIR]
set -euo pipefail
src=${1:-$(dirname "$0")/../src}

declare -A allowed=(
  [common]="common"
  [job]="common job"
  [store]="common job store"
  [images]="common job images"
  [runtime]="common job images runtime"  # runtime builds rootfs from images (CMake link)
  [dispatch]="common job store runtime images dispatch"
  [triggers]="common job store triggers"  # schedules, callbacks: beside dispatch, no runtime
  [azure]="common job store azure"  # the Storage queue as the job queue: a Store decorator
  [api]="common job api"
  [shim]="common job shim"
  [daemon]="common job store runtime images dispatch triggers azure api shim daemon"
  [cli]="common job store runtime images dispatch triggers azure api shim daemon cli"
)

bad=0
for dir in "$src"/*/; do
  layer=$(basename "$dir")
  if [[ -z ${allowed[$layer]+x} ]]; then
    echo "check-layers: src/$layer is not a known layer (add it to scripts/check-layers.sh)" >&2
    bad=1
    continue
  fi
  while IFS=: read -r file line include; do
    target=$(sed -E 's/.*#include "([^/"]+)\/.*/\1/' <<<"$include")
    [[ $target == "$include" ]] && continue  # not a "layer/header.h" include
    # Tests may use the shared test support (tests/support: a real PostgreSQL server, ...).
    [[ $target == tests && $file == *_test.@(cc|h) ]] && continue
    if [[ " ${allowed[$layer]} " != *" $target "* ]]; then
      echo "check-layers: ${file#"$src"/}:$line: layer '$layer' may not include '$target/' ($include)" >&2
      bad=1
    fi
  done < <(grep -Hn -E '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[^"]+/' "$dir"*.cc "$dir"*.h 2>/dev/null || true)
done
if [[ $bad -ne 0 ]]; then
  echo "check-layers: layering violated (order: common → job → store, runtime, images → dispatch → api, shim → daemon, cli)" >&2
  exit 1
fi
echo "check-layers: ok"
