#!/usr/bin/env bash
# micro.sh: builds and runs every Google Benchmark suite under bench/ from one command — ring
# (ours beside boost::lockfree and moodycamel, cross-process ping-pong), journal (beside raw
# LMDB, batch sizes, sync/nosync), stock (the CAS door path, sold-out answers) and message
# (encode, validate, decode, CRC32C).
#
#   bench/micro.sh                                  # release preset: build/release/bench/*
#   bench/micro.sh --preset release --build-dir build/bench-rel
#   bench/micro.sh --only ring,message -- --benchmark_min_time=0.2
#   bench/micro.sh --out results/                   # also one JSON file per suite
#
# Everything after `--` goes to every suite (Google Benchmark flags: --benchmark_filter=...,
# --benchmark_min_time=..., --benchmark_repetitions=...). Numbers on a shared 2-core machine are
# noisy: repeat, and read the spread (--benchmark_repetitions=5 --benchmark_report_aggregates_only=true).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
preset=release
build_dir=""
only="ring,journal,stock,message"
out=""
jobs=${JOBS:-2}
suite_args=()

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -j) jobs=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; suite_args=("$@"); break ;;
    *) echo "micro.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
build_dir=${build_dir:-build/$preset}
cd "$here"

targets=()
IFS=',' read -r -a suites <<<"$only"
for s in "${suites[@]}"; do
  case "$s" in
    ring|journal|stock|message) targets+=("${s}_benchmark") ;;
    *) echo "micro.sh: unknown suite '$s' (ring, journal, stock, message)" >&2; exit 2 ;;
  esac
done

if [[ ! -f "$build_dir/build.ninja" && ! -f "$build_dir/Makefile" ]]; then
  cmake --preset "$preset" -B "$build_dir" -DFLASHSAGA_BUILD_BENCH=ON
fi
cmake --build "$build_dir" --target "${targets[@]}" -j "$jobs"

[[ -n "$out" ]] && mkdir -p "$out"
status=0
for t in "${targets[@]}"; do
  exe="$build_dir/bench/$t"
  echo
  echo "=== $t ($exe) ==="
  args=("${suite_args[@]}")
  [[ -n "$out" ]] && args+=("--benchmark_out=$out/$t.json" "--benchmark_out_format=json")
  if ! "$exe" "${args[@]}"; then
    echo "micro.sh: $t failed" >&2
    status=1
  fi
done
exit $status
