#!/usr/bin/env bash
# Time to ready after kill -9, per domain, on a deployment with many orders in its journals.
#
#   bench/recovery.sh [--orders N] [--buyers N] [--durability D] [--kills K] [--keep]
#
# Runs one `flashsaga bench flash-sale` of N orders (default 10,000,000) that keeps its data,
# starts that deployment again with `flashsaga run --no-gateway`, then kill -9s each domain K
# times (default 3) and reads the "ready in N ms" line the restarted domain logs (the
# supervisor restarts it after its back-off; the figure is the domain's own recovery: journal
# and view opened, state loaded, cursors read, resends found). Prints one line per kill and
# the worst per domain. Needs about 2.5 KB of disk per order.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/tools/flashsaga
orders=10000000 buyers=1000000 durability=nosync kills=3 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --orders) orders=$2; shift 2 ;;
    --buyers) buyers=$2; shift 2 ;;
    --durability) durability=$2; shift 2 ;;
    --kills) kills=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--orders N] [--buyers N] [--durability D] [--kills K] [--keep]" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "build first: cmake --preset release && cmake --build --preset release" >&2; exit 2; }

log=$(mktemp /tmp/flashsaga-recovery.XXXXXX.log)
csv="${log%.log}.csv"
echo "filling: $orders orders, $buyers buyers, $durability (flashsaga bench, data kept)"
"$bin" bench flash-sale --orders "$orders" --stock "$orders" --buyers "$buyers" --durability "$durability" \
  --keep-data --no-check --csv "$csv" >"$log" 2>&1 || { tail -20 "$log"; exit 1; }
dir=$(sed -n 's/^  data kept in //p' "$log" | tail -1)
[ -d "$dir" ] || { echo "no data directory in the bench output ($log)" >&2; exit 1; }
grep -E "completed/s|journal bytes" "$log" | head -2
du -sh "$dir/data" | sed 's/^/on disk: /'
echo "timeline (per 100 ms, admitted/s and completed/s): $csv"

run_log="$dir/run.log"
"$bin" run --no-gateway --config "$dir/bench.toml" >"$run_log" 2>&1 &
sup=$!
cleanup() { kill -TERM "$sup" 2>/dev/null || true; wait "$sup" 2>/dev/null || true; [ "$keep" = 1 ] || rm -rf "$dir"; }
trap cleanup EXIT
wait_line() {  # wait_line PATTERN COUNT: until the run log holds COUNT lines matching PATTERN
  for _ in $(seq 1 1200); do
    [ "$(grep -c -E "$1" "$run_log" || true)" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "timed out waiting for: $1" >&2; tail -20 "$run_log" >&2; return 1
}
wait_line "supervisor\[[0-9]+\]: ready in" 1
grep -E "ready in" "$run_log" | sed 's/^/start: /'

for domain in user point product coupon order payment; do
  worst=0
  for k in $(seq 1 "$kills"); do
    before=$(grep -c -E "^flashsaga $domain\[[0-9]+\]: ready in" "$run_log" || true)
    pid=$(grep -E "^flashsaga $domain\[[0-9]+\]: ready in" "$run_log" | tail -1 | sed -E 's/^flashsaga [a-z]+\[([0-9]+)\].*/\1/')
    kill -9 "$pid"
    wait_line "^flashsaga $domain\[[0-9]+\]: ready in" $((before + 1))
    ms=$(grep -E "^flashsaga $domain\[[0-9]+\]: ready in" "$run_log" | tail -1 | sed -E 's/.*ready in ([0-9]+) ms.*/\1/')
    echo "kill -9 $domain #$k: ready in $ms ms"
    [ "$ms" -gt "$worst" ] && worst=$ms
  done
  echo "$domain: worst $worst ms over $kills kills"
done
