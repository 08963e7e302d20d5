#!/usr/bin/env bash
# run_fuzzer.sh FUZZER SOURCE_DIR WORK_DIR: one libFuzzer target for ctest (tests/fuzz/).
#   FLASHSAGA_FUZZ_RUNS     how many executions (default 200000, at most FLASHSAGA_FUZZ_SECONDS,
#                           default 60 s; the long profile: 10000000 and no time limit);
#   FLASHSAGA_FUZZ_SEED     libFuzzer's seed (default 1): the CI run is the same run every time,
#                           so a red CI is a reproducible input, not luck. Another seed explores more.
# Reads SOURCE_DIR/corpus/<target>/ (the seeds and every past crash: each is run first),
# writes new inputs to WORK_DIR/fuzz-corpus/<target>/ and a crash to WORK_DIR/fuzz-artifacts/.
# Exit status: 0 when no input crashed; libFuzzer's (non-zero) otherwise.
set -euo pipefail
fuzzer=$1 src=$2 work=$3
name=$(basename "$fuzzer")
mkdir -p "$work/fuzz-corpus/$name" "$work/fuzz-artifacts"
args=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -max_len=8192
      "-artifact_prefix=$work/fuzz-artifacts/$name-")
args+=("-seed=${FLASHSAGA_FUZZ_SEED:-1}")
if [ -n "${FLASHSAGA_FUZZ_RUNS:-}" ]; then
  args+=("-runs=$FLASHSAGA_FUZZ_RUNS")
else
  args+=("-runs=200000" "-max_total_time=${FLASHSAGA_FUZZ_SECONDS:-60}")
fi
[ -f "$src/dict/$name.dict" ] && args+=("-dict=$src/dict/$name.dict")
exec "$fuzzer" "${args[@]}" "$work/fuzz-corpus/$name" "$src/corpus/$name"
