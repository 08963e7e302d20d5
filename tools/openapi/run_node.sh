#!/usr/bin/env bash
# run_node.sh DIR SCRIPT ARGS...: runs a Node.js test script with the tools npm.sh installed in
# DIR; exit 77 (ctest's "skipped") with the reason when Node.js or those tools are missing.
set -euo pipefail
dir="${1:?usage: run_node.sh DIR SCRIPT ARGS...}"
shift
skip() { echo "SKIPPED: $*" >&2; exit 77; }
command -v node >/dev/null || skip "node is not installed (tools/setup.sh installs nodejs)"
[ -d "$dir/node_modules" ] ||
  skip "the Node.js test tools are not in $dir (npm_test_tools was skipped: see its reason)"
exec node "$@"
