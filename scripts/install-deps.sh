#!/usr/bin/env bash
# Installs every Debian package berth needs to build, run and test.
# Idempotent and quick when everything is already there. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang-format
  libboost1.74-dev nlohmann-json3-dev libcli11-dev
  libsqlite3-dev libssl-dev libcurl4-openssl-dev libarchive-dev
  libpq-dev postgresql-15  # PostgresStore (libpq); a real PostgreSQL 15 server in the tests
  libseccomp-dev  # jobs' seccomp filters compiled once by the daemon (src/runtime/seccomp_bpf.cc)
  libpugixml-dev  # the Azure Storage queue service's XML answers (src/azure/)
  libhowardhinnant-date-dev tzdata  # schedules' IANA time zones (date/tz.h over zoneinfo)
  libgtest-dev libgmock-dev
  crun runc busybox-static
  strace  # counts the runtime's execs (src/runtime/sealed_binary_test.cc)
  curl ca-certificates procps util-linux iproute2
  docker-registry apache2-utils openssl zstd
  umoci skopeo buildah podman  # image builders of the compatibility matrix (image_compat_test)
  clang-14 libclang-rt-14-dev
  golang-github-containers-common  # /usr/share/containers/seccomp.json: Podman's seccomp profile
  prometheus-cpp-dev prometheus  # /metrics (core library); promtool and a real Prometheus in tests
  systemd dpkg-dev chromium  # package tests (systemd-analyze, dpkg-shlibdeps); dashboard tests
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The tests' npm packages (exact versions, package-lock.json), into git-ignored node_modules:
# tests/browser (drives Debian's chromium, never downloads a browser), tests/e2e/azure_queue
# (Azurite and @azure/storage-queue) and tests/e2e/aci (@azure/arm-containerinstance).
bash "$(dirname "$0")/install-node-deps.sh"
