#!/usr/bin/env bash
# Installs the browser tests' npm packages from tests/browser/package-lock.json (pinned exact
# versions) into tests/browser/node_modules. Quick when they are there already. Uses the
# machine's Node.js (Debian's nodejs + npm when there is none).
set -euo pipefail
dir="$(cd "$(dirname "$0")/../tests/browser" && pwd)"

if ! command -v npm >/dev/null; then
  echo "install-node-deps: installing nodejs npm" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm \
    >/dev/null
fi

stamp="$dir/node_modules/.berth-lock"
if [[ -f "$stamp" ]] && cmp -s "$stamp" "$dir/package-lock.json"; then
  exit 0
fi
echo "install-node-deps: npm ci in tests/browser" >&2
# --ignore-scripts: no install script may fetch anything (Playwright's would fetch browsers).
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts \
  >/dev/null
cp "$dir/package-lock.json" "$stamp"
