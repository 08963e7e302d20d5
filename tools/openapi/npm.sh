#!/usr/bin/env bash
# npm.sh DIR: installs the pinned Node.js test tools (package.json + package-lock.json beside
# this script: Prism, Ajv, playwright-core, an OpenAPI 3.1 document validator) into DIR, from
# the npm registry with its cache in DIR/cache. Installs again only when the lock changed.
# Exit 0 when DIR/node_modules is ready; 77 (ctest's "skipped") with the reason when Node.js
# or npm is missing or too old, or the registry cannot be reached.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:?usage: npm.sh DIR}"
skip() { echo "SKIPPED: $*" >&2; exit 77; }
command -v node >/dev/null || skip "node is not installed (tools/setup.sh installs nodejs)"
command -v npm >/dev/null || skip "npm is not installed (tools/setup.sh installs npm)"
major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] ||
  skip "Node.js $(node --version) is older than 20 (playwright-core 1.65 needs 20)"
mkdir -p "$dir"
if cmp -s "$here/package-lock.json" "$dir/.installed-lock" && [ -d "$dir/node_modules" ]; then
  exit 0
fi
cp "$here/package.json" "$here/package-lock.json" "$dir/"
# --ignore-scripts: no package may run code at install (one dependency would phone home).
if ! (cd "$dir" && SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit --no-fund \
        --loglevel=error --cache "$dir/cache" --update-notifier=false >"$dir/npm-ci.log" 2>&1); then
  tail -20 "$dir/npm-ci.log" >&2
  skip "npm ci failed (is the npm registry reachable?); see $dir/npm-ci.log"
fi
cp "$here/package-lock.json" "$dir/.installed-lock"
echo "npm.sh: test tools installed in $dir/node_modules"
