#!/usr/bin/env bash
# A soak: a real deployment under steady HTTP order load while a random domain is kill -9ed
# every few seconds, for a long time. Reports `flashsaga check`'s verdict (must be 0
# violations), memory (RSS per process) and journal growth over the run, and the recovery
# time of every kill (kill -9 -> the restarted domain logs "ready"), as percentiles.
#
#   bench/soak.sh [--minutes M] [--rate R] [--kill-every S] [--durability D] [--bin PATH]
#                 [--dir DIR] [--keep]
#
#   --minutes M      how long the load and the kills last (default 60: the long profile)
#   --rate R         orders/s; default: half the peak, measured first with a 10 s closed-loop
#                    wrk run on the same deployment, and capped by the free disk (the journals
#                    take about 2.5 KB per order; the cap is said loudly when it applies)
#   --kill-every S   mean seconds between kills (default 3; each gap is S/2 .. 3S/2)
#   --durability D   sync (default), interval or nosync
#   --bin PATH       the flashsaga binary (default build/release/tools/flashsaga)
#   --dir DIR        where the data goes (default a fresh directory under $TMPDIR or /tmp)
#
# The long profile is run by hand (bench/soak.sh); CI runs `--minutes 1 --rate 500` (ctest
# soak_short, label soak). Exit status 1 when check finds a violation or a kill is not
# recovered from within 30 s. Needs wrk and curl (tools/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/tools/flashsaga
minutes=60 rate=0 kill_every=3 durability=sync dir="" keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --kill-every) kill_every=$2; shift 2 ;;
    --durability) durability=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) sed -n '2,21p' "$0" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "no flashsaga binary at $bin: build first (cmake --build --preset release)" >&2; exit 2; }
command -v wrk >/dev/null && command -v curl >/dev/null || { echo "needs wrk and curl (tools/setup.sh)" >&2; exit 2; }

[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/flashsaga-soak.XXXXXX")
mkdir -p "$dir"
data="$dir/data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
users=200
cat >"$dir/soak.toml" <<EOF
[deployment]
data_dir = "$data"
durability = "$durability"
[http]
port = $port
[supervisor]
restart_backoff_ms = 50
EOF
run_log="$dir/run.log"
samples="$dir/samples.csv"
"$bin" run --config "$dir/soak.toml" >"$run_log" 2>&1 &
sup=$!
wrk_pid=""
cleanup() {
  [ -z "$wrk_pid" ] || kill "$wrk_pid" 2>/dev/null || true
  kill -TERM "$sup" 2>/dev/null || true
  wait "$sup" 2>/dev/null || true
  if [ "$keep" = 1 ]; then echo "data kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
ready_count() { grep -c -E "^flashsaga $1\[[0-9]+\]: ready in" "$run_log" || true; }
# The pid of this deployment's process with a role (run, gateway or a domain name): the last
# one the run log says started (each process logs its pid), if it is still alive.
pid_of() {
  local pid
  case "$1" in
    run) pid=$sup ;;
    gateway) pid=$(grep -E "^flashsaga gateway\[[0-9]+\]: listening" "$run_log" | tail -1 | sed -E 's/^[^[]*\[([0-9]+)\].*/\1/') ;;
    *) pid=$(grep -E "^flashsaga $1\[[0-9]+\]: ready in" "$run_log" | tail -1 | sed -E 's/^[^[]*\[([0-9]+)\].*/\1/') ;;
  esac
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && echo "$pid"
  return 0
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
roles=(run user point product coupon order payment gateway)

for _ in $(seq 1 600); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz" || true)" = 200 ] && break
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz" || true)" = 200 ] || { tail -20 "$run_log"; exit 1; }
seconds=$((minutes * 60))
stock=1000000000  # stock_max (engine/base/limits.h): never sold out within a soak
PARALLEL=8 bench/wrk/setup.sh "$base" "$users" "$stock" 100 >/dev/null

if [ "$rate" = 0 ]; then
  echo "measuring the peak: 10 s closed loop, 64 connections"
  USERS=$users wrk -t2 -c64 -d10s -s bench/wrk/orders.lua "$base" >"$dir/peak.txt" 2>&1
  accepted=$(sed -n 's/^  202: //p' "$dir/peak.txt")
  peak=$(( ${accepted:-0} / 10 ))
  rate=$(( peak / 2 ))
  bytes=$(echo $(( $(du -sk "$data" | cut -f1) * 1024 )))
  per_order=$(( bytes / (${accepted:-1} + 1) + 1 ))
  free=$(( $(df -B1 --output=avail "$data" | tail -1) * 8 / 10 ))
  cap=$(( free / per_order / seconds ))
  echo "peak $peak orders/s; journals take $per_order bytes per order"
  if [ "$rate" -gt "$cap" ]; then
    echo "*** the disk holds $((free >> 30)) GiB usable: half the peak for $minutes min would not fit;"
    echo "*** running at $cap orders/s instead (give --rate or more disk to change it)"
    rate=$cap
  fi
fi
[ "$rate" -ge 1 ] || { echo "rate must be at least 1 order/s" >&2; exit 2; }
connections=$(( rate / 5 < 1 ? 1 : (rate / 5 > 256 ? 256 : rate / 5) ))
delay_ms=$(( connections * 1000 / rate ))
[ "$delay_ms" -ge 1 ] || delay_ms=1
echo "soak: $minutes min at $rate orders/s ($connections connections, ${delay_ms} ms apart), $durability," \
     "kill -9 of a random domain every ~${kill_every} s"

bytes0=$(echo $(( $(du -sk "$data" | cut -f1) * 1024 )))
echo "elapsed_s,role,rss_kib,journal_bytes" >"$samples"
sample() {  # sample ELAPSED
  local r pid j
  j=$(echo $(( $(du -sk "$data" | cut -f1) * 1024 )))
  for r in "${roles[@]}"; do
    pid=$(pid_of "$r")
    [ -n "$pid" ] && echo "$1,$r,$(rss_kib "$pid"),$j" >>"$samples"
  done
}
sample 0
USERS=$users DELAY_MS=$delay_ms wrk -t1 -c"$connections" -d"${seconds}s" --timeout 10s -s bench/wrk/orders.lua "$base" \
  >"$dir/wrk.txt" 2>&1 &
wrk_pid=$!

domains=(user point product coupon order payment)
start=$(now_ms)
end=$((start + seconds * 1000))
next_sample=$((start + 10000))
recoveries="$dir/recovery_ms.txt"
: >"$recoveries"
kills=0 unrecovered=0
while [ "$(now_ms)" -lt "$end" ]; do
  gap_ms=$(( kill_every * 500 + RANDOM % (kill_every * 1000 + 1) ))
  sleep "$(awk -v ms="$gap_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
  [ "$(now_ms)" -lt "$end" ] || break
  d=${domains[$((RANDOM % 6))]}
  pid=$(pid_of "$d")
  [ -n "$pid" ] || continue
  before=$(ready_count "$d")
  t0=$(now_ms)
  kill -9 "$pid" 2>/dev/null || continue
  kills=$((kills + 1))
  recovered=0
  for _ in $(seq 1 3000); do
    if [ "$(ready_count "$d")" -gt "$before" ]; then recovered=1; break; fi
    sleep 0.01
  done
  if [ "$recovered" = 1 ]; then
    echo "$(( $(now_ms) - t0 ))" >>"$recoveries"
  else
    unrecovered=$((unrecovered + 1))
    echo "kill -9 $d (pid $pid): not ready again within 30 s" >&2
  fi
  if [ "$(now_ms)" -ge "$next_sample" ]; then
    sample $(( ($(now_ms) - start) / 1000 ))
    next_sample=$((next_sample + 10000))
  fi
done
wait "$wrk_pid" || true
wrk_pid=""
sample $(( ($(now_ms) - start) / 1000 ))

# Graceful stop (in-flight sagas finish), then the verdict on the journals alone.
kill -TERM "$sup"
wait "$sup" || true
check_out=$("$bin" check --data "$data" --require-terminal 2>&1) && check_rc=0 || check_rc=$?

echo
echo "== soak: $minutes min, $rate orders/s target, $durability =="
grep -E "^status|socket errors|latency" "$dir/wrk.txt" | sed 's/^/load: /'
acc=$(sed -n 's/^status 202: //p' "$dir/wrk.txt")
echo "orders accepted: ${acc:-0} ($(( ${acc:-0} / (seconds > 0 ? seconds : 1) )) /s)"
echo "kills: $kills (unrecovered: $unrecovered)"
sort -n "$recoveries" | awk '{ a[NR] = $1 } END {
  if (NR == 0) { print "recovery: no kills"; exit }
  printf "recovery (kill -9 -> ready, incl. 50 ms back-off): p50 %d ms, p90 %d ms, p99 %d ms, max %d ms (n=%d)\n",
    a[int(NR * 0.50 + 0.999)], a[int(NR * 0.90 + 0.999)], a[int(NR * 0.99 + 0.999)], a[NR], NR }'
awk -F, 'NR > 1 { if (!($2 in first)) first[$2] = $3; last[$2] = $3; if ($3 > max[$2]) max[$2] = $3 }
  END { for (r in first) printf "rss %-8s first %6d KiB, last %6d KiB, max %6d KiB\n", r, first[r], last[r], max[r] }' \
  "$samples" | sort
bytes1=$(echo $(( $(du -sk "$data" | cut -f1) * 1024 )))
grown=$((bytes1 - bytes0))
echo "journals: $((bytes0 >> 20)) MiB -> $((bytes1 >> 20)) MiB (+$((grown >> 20)) MiB;" \
     "$(( grown / (${acc:-0} + 1) )) bytes per accepted order; $(( grown / (seconds > 0 ? seconds : 1) * 3600 >> 20 )) MiB/hour)"
echo "samples (every 10 s): $samples"
echo "check: $(echo "$check_out" | tail -1)"
[ "$check_rc" = 0 ] || { echo "$check_out" | head -40; exit 1; }
[ "$unrecovered" = 0 ] || exit 1
