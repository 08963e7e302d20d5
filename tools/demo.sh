#!/usr/bin/env bash
# The main job: installs dependencies, builds, and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
exec build/release/bench/ring_benchmark "$@"
