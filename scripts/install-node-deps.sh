#!/usr/bin/env bash
# Installs the npm packages of the tests that drive berth with real JavaScript clients, each dir
# from its package-lock.json (pinned exact versions) into its git-ignored node_modules:
#   tests/browser          playwright-core (the dashboard in Debian's chromium)
#   tests/e2e/azure_queue  azurite, @azure/storage-queue (the Azure Storage queue tests)
#   tests/e2e/aci          @azure/arm-containerinstance (the ACI-compatible API, aci_test)
# Quick when they are there already. Uses the machine's Node.js (Debian's nodejs + npm when there
# is none; Azurite 3.37 and the @azure packages want Node 20 or newer).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! command -v npm >/dev/null; then
  echo "install-node-deps: installing nodejs npm" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm \
    >/dev/null
fi

for sub in tests/browser tests/e2e/azure_queue tests/e2e/aci; do
  dir="$root/$sub"
  stamp="$dir/node_modules/.berth-lock"
  if [[ -f "$stamp" ]] && cmp -s "$stamp" "$dir/package-lock.json"; then
    continue
  fi
  echo "install-node-deps: npm ci in $sub" >&2
  # --ignore-scripts: no install script may fetch anything (Playwright's would fetch browsers).
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts \
    >/dev/null
  cp "$dir/package-lock.json" "$stamp"
done
