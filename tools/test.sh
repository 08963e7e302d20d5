#!/usr/bin/env bash
# The test command: installs dependencies, checks the layering (tools/check_layers.py) and the
# length of functions (tools/check_functions.py), builds
# the release preset and runs every test, then
# the sanitizer and fuzz stages. Each stage prints how long it took ("stage <name>: N s").
#
# Sanitizers (FLASHSAGA_SANITIZERS):
#   ci (default)  what fits CI's 30 minutes on 2 cores: ASan+UBSan and ThreadSanitizer on the
#                 targets labelled `sanitize` (rings, doorbell, segment, journal, journal crash,
#                 engine, leaf domains) — `ctest --preset asan-ci`, `ctest --preset
#                 tsan`. The gateway's parser and router run under ASan+UBSan in the fuzz stage
#                 below. The simulator under ASan (label asan_ci, 2 x 40 seeds: 11 min more on
#                 2 cores) runs with FLASHSAGA_SANITIZERS=sim.
#   full          every test target under ASan+UBSan (`ctest --preset asan`: the gateway/HTTP,
#                 simulator, e2e and power-loss suites included, with shorter profiles set in
#                 their CMakeLists under any sanitizer: chaos and http_chaos 10 kills instead of
#                 50, the simulator 2 x 40 seeds, journal_crash 25 rounds, power_loss 5 cuts),
#                 then every test target under ThreadSanitizer (`ctest --preset tsan-all`). Not
#                 run under a sanitizer: the Node.js / promtool checks (npm_test_tools,
#                 openapi_*, prometheus_rules: no code of ours is compiled) and sale_page_test
#                 (the page's JavaScript in Chromium). The long profile, run by hand.
#   none          no sanitizer stage (FLASHSAGA_SKIP_SANITIZERS=1 means the same).
# Fuzzing (FLASHSAGA_SKIP_FUZZ=1 skips it): the fuzz preset (clang++-16, libFuzzer+ASan+UBSan)
#   builds tests/fuzz/ and `ctest --preset fuzz` runs each of its five targets for 200,000
#   executions with a fixed seed (FLASHSAGA_FUZZ_SEED, default 1; at most FLASHSAGA_FUZZ_SECONDS,
#   default 60) over its seed corpus (every past crash included).
#   Long profile: FLASHSAGA_FUZZ_RUNS=10000000 ctest --preset fuzz (tests/fuzz/run_fuzzer.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
python3 tools/check_layers.py     # every include and link points to a lower layer
python3 tools/check_functions.py  # no function outside tests/ is over 100 lines
jobs=$(nproc)
stage_start=$(date +%s)
stage() {  # stage NAME: prints the time since the previous stage ended
  local now
  now=$(date +%s)
  echo "stage $1: $((now - stage_start)) s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  stage_start=$now
}
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
stage "release build"
ctest --preset release
stage "release ctest"
# The clang build (clang++-16, warnings are errors) of every library and the flashsaga binary:
# FLASHSAGA_CLANG=1 (3 min more; CI's fuzz stage below already builds the ipc, journal, domain,
# config and gateway code with clang++-16 and -Werror).
if [ "${FLASHSAGA_CLANG:-0}" = 1 ]; then
  cmake --preset clang >/dev/null
  cmake --build --preset clang -j "$jobs" --target flashsaga
  stage "clang build"
fi

# The targets a test preset's tests need, to build only those: each test's binary (the first
# word of its command), or, before anything is built (ctest then knows no command), the test's
# name; kept only where it names a target of the build preset (scripts and Node.js checks are
# none). An empty list would make `--target` build everything: it fails instead.
targets_of() {  # targets_of TEST_PRESET BUILD_PRESET
  local known
  known=$(cmake --build --preset "$2" --target help | sed -n 's/^\([A-Za-z0-9_]*\): phony$/\1/p')
  ctest --preset "$1" --show-only=json-v1 | KNOWN="$known" python3 -c '
import json, os, sys
known = set(os.environ["KNOWN"].split())
tests = json.load(sys.stdin)["tests"]
wanted = {os.path.basename(t["command"][0]) if t.get("command") else t["name"] for t in tests}
targets = sorted(wanted & known)
if not targets:
    sys.exit("test.sh: no targets to build for these tests")
print(" ".join(targets))'
}

sanitizers=${FLASHSAGA_SANITIZERS:-ci}
[ "${FLASHSAGA_SKIP_SANITIZERS:-0}" = 1 ] && sanitizers=none
if [ "$sanitizers" != none ]; then
  asan_preset=asan-ci
  tsan_preset=tsan
  [ "$sanitizers" = full ] && asan_preset=asan && tsan_preset=tsan-all
  [ "$sanitizers" = sim ] && asan_preset=asan-sim
  # The full profile builds everything (its install and package tests need every target).
  sanitized_targets() {  # sanitized_targets TEST_PRESET BUILD_PRESET
    if [ "$sanitizers" = full ]; then echo all; else targets_of "$1" "$2"; fi
  }
  cmake --preset asan >/dev/null
  # shellcheck disable=SC2046  # one word per target
  cmake --build --preset asan -j "$jobs" --target $(sanitized_targets "$asan_preset" asan)
  stage "asan build ($asan_preset)"
  ctest --preset "$asan_preset"
  stage "asan ctest ($asan_preset)"
  cmake --preset tsan >/dev/null
  # shellcheck disable=SC2046
  cmake --build --preset tsan -j "$jobs" --target $(sanitized_targets "$tsan_preset" tsan)
  stage "tsan build ($tsan_preset)"
  ctest --preset "$tsan_preset"
  stage "tsan ctest ($tsan_preset)"
fi
if [ "${FLASHSAGA_SKIP_FUZZ:-0}" != 1 ]; then
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz -j "$jobs" --target message_fuzz batch_fuzz config_fuzz http_fuzz json_body_fuzz
  stage "fuzz build"
  ctest --preset fuzz
  stage "fuzz ctest"
fi
