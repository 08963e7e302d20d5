#!/usr/bin/env bash
# The test command: installs dependencies, builds the release preset, runs every test, then
# runs the ring and journal tests again under AddressSanitizer+UBSan and ThreadSanitizer.
# FLASHSAGA_SKIP_SANITIZERS=1 skips the sanitizer pass (for a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
jobs=$(nproc)
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release
if [ "${FLASHSAGA_SKIP_SANITIZERS:-0}" != 1 ]; then
  for preset in asan tsan; do
    cmake --preset "$preset" >/dev/null
    cmake --build --preset "$preset" -j "$jobs"
    ctest --preset "$preset"
  done
fi
