#!/usr/bin/env bash
# The test command: installs dependencies, checks the layering (tools/check_layers.py) and the
# length of functions (tools/check_functions.py), builds
# the release preset and runs every test, builds the libraries and the binary with clang, then
# builds and runs the ring, journal, engine and domain-logic tests under AddressSanitizer+UBSan
# and ThreadSanitizer (ctest label `sanitize`).
# FLASHSAGA_SKIP_SANITIZERS=1 skips the sanitizer pass (for a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
python3 tools/check_layers.py     # every include and link points to a lower layer
python3 tools/check_functions.py  # no function outside tests/ is over 100 lines
jobs=$(nproc)
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release
# The clang build (clang++-16, warnings are errors): every library and the flashsaga binary.
cmake --preset clang >/dev/null
cmake --build --preset clang -j "$jobs" --target flashsaga
if [ "${FLASHSAGA_SKIP_SANITIZERS:-0}" != 1 ]; then
  sanitize_targets=(message_test spsc_ring_test doorbell_test segment_test ring_cross_process_test
                    journal_test journal_crash_test leaf_domains_test engine_test order_body_test)
  for preset in asan tsan; do
    cmake --preset "$preset" >/dev/null
    cmake --build --preset "$preset" -j "$jobs" --target "${sanitize_targets[@]}"
    ctest --preset "$preset"
  done
fi
