#!/usr/bin/env bash
# run_fuzzer.sh FUZZER SOURCE_DIR WORK_DIR: one libFuzzer target for ctest (tests/fuzz/).
#   FLASHSAGA_FUZZ_SECONDS  how long (default 15 s), or
#   FLASHSAGA_FUZZ_RUNS     how many executions (the long profile: 10000000); wins if set.
# Reads SOURCE_DIR/corpus/<target>/ (the seeds and every past crash: each is run first),
# writes new inputs to WORK_DIR/fuzz-corpus/<target>/ and a crash to WORK_DIR/fuzz-artifacts/.
# Exit status: 0 when no input crashed; libFuzzer's (non-zero) otherwise.
set -euo pipefail
fuzzer=$1 src=$2 work=$3
name=$(basename "$fuzzer")
mkdir -p "$work/fuzz-corpus/$name" "$work/fuzz-artifacts"
args=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -max_len=8192
      "-artifact_prefix=$work/fuzz-artifacts/$name-")
if [ -n "${FLASHSAGA_FUZZ_RUNS:-}" ]; then
  args+=("-runs=$FLASHSAGA_FUZZ_RUNS")
else
  args+=("-max_total_time=${FLASHSAGA_FUZZ_SECONDS:-15}")
fi
[ -f "$src/dict/$name.dict" ] && args+=("-dict=$src/dict/$name.dict")
exec "$fuzzer" "${args[@]}" "$work/fuzz-corpus/$name" "$src/corpus/$name"
