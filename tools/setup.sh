#!/usr/bin/env bash
# Installs everything flashsaga needs on a fresh Debian 12 machine (Debian packages only).
# Used by the README's two commands and by .ci/run. Safe to run again.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev
  libconcurrentqueue-dev libreaderwriterqueue-dev
  liblmdb-dev lmdb-utils
  libfuse3-dev fuse3
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libtomlplusplus-dev libfmt-dev
  curl wrk gnuplot-nox python3 clang-16
  clang-format  # 14, the house style's (tools/check_format.sh)
  libclang-rt-16-dev  # libFuzzer and the sanitizer runtimes for clang (tests/fuzz/)
  # Operator tooling checked by the tests (tests/ops): promtool, and headless Chromium for the
  # sale page. Tests that need one that is missing say so and are skipped.
  prometheus chromium
  # The Debian package (tests/package): cpack's dpkg-shlibdeps needs `file`; lintian checks the
  # package, systemd-analyze (package systemd) its unit, adduser runs in its postinst.
  file lintian systemd adduser
  # libfaketime: the clock-jump test steps the wall clock of a real deployment with it.
  libfaketime
  # Cells joined by NATS JetStream (docs/cells.md): the broker and its C client.
  nats-server libnats-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js and npm run the OpenAPI validator (Prism) and drive Chromium (playwright-core). A
# machine that already has a Node.js (with its own npm) keeps it; Debian's packages otherwise.
if ! command -v node >/dev/null; then
  missing+=(nodejs npm)
elif ! command -v npm >/dev/null; then
  missing+=(npm)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
