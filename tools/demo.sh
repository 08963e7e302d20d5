#!/usr/bin/env bash
# The main job: installs dependencies, builds, and runs a demo flash sale over HTTP on the
# embedded defaults (journals in ./demo-data, HTTP on 127.0.0.1:8080). Extra arguments go to
# `flashsaga demo` (see `build/release/tools/flashsaga demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target flashsaga
exec build/release/tools/flashsaga demo "$@"
