#!/usr/bin/env bash
# Pull benchmark: pulls and unpacks a ~100 MB four-layer image from Debian's docker-registry on
# loopback, with berth (`berth image pull`) and with podman (`podman pull --tls-verify=false`),
# each into fresh storage, in the same run. Prints one JSON line:
#   {"name":"pull","berth_s":...,"podman_s":...,"ratio":...}   (ratio = podman_s / berth_s;
# above 1 means berth is faster; "podman_s":null and "ratio":null when podman is missing).
# Needs root, docker-registry, curl; BERTH_BIN picks the binary (default build/berth).
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH_BIN=${BERTH_BIN:-build/berth}
LAYER_MB=${LAYER_MB:-25}
work=$(mktemp -d /tmp/berth-bench-pull-XXXXXX)
registry_pid=""
cleanup() {
  if [[ -n $registry_pid ]]; then
    { kill "$registry_pid"; wait "$registry_pid"; } 2>/dev/null || true
  fi
  umount -R "$work/podman-root/overlay" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat >"$work/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: $host
YAML
/usr/bin/docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -fs "http://$host/v2/" >/dev/null && break; sleep 0.1; done

push_blob() {  # file -> prints digest
  local file=$1 digest loc
  digest=sha256:$(sha256sum "$file" | cut -d' ' -f1)
  loc=$(curl -fsS -X POST -D - -o /dev/null "http://$host/v2/bench/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  [[ $loc == http* ]] || loc="http://$host$loc"
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" \
    "$loc&digest=$digest" -o /dev/null
  echo "$digest"
}

layers_json="" diff_ids=""
for i in 1 2 3 4; do
  mkdir -p "$work/l$i/data$i"
  # Half random, half compressible, like real binaries and text.
  head -c $((LAYER_MB * 512 * 1024)) /dev/urandom >"$work/l$i/data$i/random"
  (yes "berth layer $i line" || true) | head -c $((LAYER_MB * 512 * 1024)) >"$work/l$i/data$i/text"
  tar -C "$work/l$i" -cf "$work/l$i.tar" .
  diff_ids+="${diff_ids:+,}\"sha256:$(sha256sum "$work/l$i.tar" | cut -d' ' -f1)\""
  gzip -1 -c "$work/l$i.tar" >"$work/l$i.tar.gz"
  digest=$(push_blob "$work/l$i.tar.gz")
  size=$(stat -c %s "$work/l$i.tar.gz")
  layers_json+="${layers_json:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$digest\",\"size\":$size}"
done
arch=$(dpkg --print-architecture)
printf '{"architecture":"%s","os":"linux","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
  "$arch" "$diff_ids" >"$work/config.json"
config_digest=$(push_blob "$work/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
  "$config_digest" "$(stat -c %s "$work/config.json")" "$layers_json" >"$work/manifest.json"
curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "@$work/manifest.json" "http://$host/v2/bench/manifests/v1" -o /dev/null
sync

# The image commands only work on a data dir berth made: an empty image store stands for one.
mkdir -p "$work/berth-data/images"
now() { date +%s.%N; }
t0=$(now)
"$BERTH_BIN" image pull --data-dir "$work/berth-data" "$host/bench:v1" >"$work/berth.out" 2>&1 || { echo "pull: berth image pull failed:" >&2; tail -5 "$work/berth.out" >&2; exit 1; }
t1=$(now)
berth_s=$(echo "$t1 - $t0" | bc -l)

podman_s=null ratio=null
if command -v podman >/dev/null; then
  t0=$(now)
  if podman --root "$work/podman-root" --runroot "$work/podman-run" pull -q --tls-verify=false \
    "$host/bench:v1" >"$work/podman.out" 2>&1; then
    t1=$(now)
    podman_s=$(echo "$t1 - $t0" | bc -l)
    ratio=$(echo "$podman_s / $berth_s" | bc -l)
    podman --root "$work/podman-root" --runroot "$work/podman-run" rmi -a -f >/dev/null 2>&1 || true
  fi
fi
fmt() { [[ $1 == null ]] && echo null || printf '%.3f' "$1"; }
printf '{"name":"pull","berth_s":%s,"podman_s":%s,"ratio":%s}\n' \
  "$(fmt "$berth_s")" "$(fmt "$podman_s")" "$(fmt "$ratio")"
